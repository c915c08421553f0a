// Where media listens, and what an oversized body gets (issue 18). ICE_BIND_ADDRESS puts the WebRTC
// UDP sockets on the address the operator names (here 127.0.0.2, not the default loopback address,
// so the setting is what decides) and only that address is offered as a candidate. A 50 MB WHEP
// body sent by a real HTTP client on loopback (Python's http.client: it sends the whole body before
// reading, so a server that closes early cuts it off) gets a 413 it can read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CONTROL_TOKEN, Signaling, WhepClient } from './harness.js';

const run = promisify(execFile);

/** Local address (dotted) of every UDP socket bound to `port` in this network namespace. */
function udpBindings(port: number): string[] {
  const out: string[] = [];
  for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const local = line.trim().split(/\s+/)[1];
    const [hexAddr, hexPort] = local?.split(':') ?? [];
    if (hexAddr === undefined || hexPort === undefined || parseInt(hexPort, 16) !== port) continue;
    const bytes = hexAddr.match(/../g)?.map((b) => parseInt(b, 16)) ?? [];
    out.push(bytes.reverse().join('.'));
  }
  for (const line of readFileSync('/proc/net/udp6', 'utf8').split('\n').slice(1)) {
    const local = line.trim().split(/\s+/)[1];
    const [hexAddr, hexPort] = local?.split(':') ?? [];
    if (hexAddr === undefined || hexPort === undefined || parseInt(hexPort, 16) !== port) continue;
    out.push(`ipv6:${hexAddr}`);
  }
  return out;
}

test('ICE_BIND_ADDRESS: the UDP sockets are bound there and it is the only candidate offered', async (t) => {
  const s = await Signaling.start(t, { ICE_BIND_ADDRESS: '127.0.0.2' });
  await s.announce({ vmId: 'bind-vm' });
  const client = new WhepClient('bind-client');
  s.defer(() => client.close());
  const res = await fetch(`${s.baseUrl}/whep/bind-vm/0`, {
    method: 'POST',
    headers: { 'content-type': 'application/sdp', authorization: `Bearer ${CONTROL_TOKEN}` },
    body: await client.offer(),
  });
  const answer = await res.text();
  assert.equal(res.status, 201, answer);
  const candidates = answer.split(/\r?\n/).filter((l) => l.startsWith('a=candidate:'));
  t.diagnostic(candidates.join('\n'));
  assert.ok(candidates.length > 0, 'the answer carries candidates');
  for (const c of candidates) {
    const [, , , , address, port] = c.split(' ');
    assert.equal(address, '127.0.0.2', `only the bind address is offered: ${c}`);
    assert.deepEqual(udpBindings(Number(port)), ['127.0.0.2'], `the socket of ${c} is bound there alone`);
  }
});

/**
 * A real HTTP client that, like many, sends the whole body before it reads the answer: Python's
 * http.client (python3 is installed by scripts/setup.sh). Prints the status, Connection header and
 * body it read, or the error that cut it off.
 */
const PYTHON_CLIENT = `
import http.client, json, sys
host, port, path, token, size = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
c = http.client.HTTPConnection(host, port, timeout=120)
try:
    c.putrequest('POST', path)
    c.putheader('content-type', 'application/sdp')
    c.putheader('content-length', str(size))
    c.putheader('authorization', 'Bearer ' + token)
    c.endheaders()
    chunk = b'a' * (1024 * 1024)
    for _ in range(size // len(chunk)):
        c.send(chunk)
    r = c.getresponse()
    print(json.dumps({'status': r.status, 'connection': r.getheader('connection'), 'body': r.read().decode()}))
except Exception as e:
    print(json.dumps({'error': type(e).__name__ + ': ' + str(e)}))
`;

test('a 50 MB WHEP body from a real HTTP client gets a readable 413, not a cut connection', async (t) => {
  const s = await Signaling.start(t);
  await s.announce({ vmId: 'big-vm' });
  const size = 50 * 1024 * 1024;
  const { stdout } = await run(
    'python3',
    ['-c', PYTHON_CLIENT, '127.0.0.1', String(s.service.port), '/whep/big-vm/0', CONTROL_TOKEN, String(size)],
    { timeout: 120_000 },
  );
  t.diagnostic(stdout.trim());
  const r = JSON.parse(stdout) as { status?: number; connection?: string; body?: string; error?: string };
  assert.equal(r.error, undefined, 'the client was not cut off');
  assert.equal(r.status, 413);
  assert.match(r.body ?? '', /larger than \d+ bytes/);
  assert.equal(r.connection, 'close');
  const health = await fetch(`${s.baseUrl}/health`);
  assert.equal(health.status, 200, 'the service is fine');
});
