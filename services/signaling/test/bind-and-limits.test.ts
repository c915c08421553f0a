// Where media listens, and what an oversized body gets (issue 18). ICE_BIND_ADDRESS puts the WebRTC
// UDP sockets on the address the operator names (here 127.0.0.2, not the default loopback address,
// so the setting is what decides) and only that address is offered as a candidate. A 50 MB WHEP
// body sent by a real HTTP client on loopback gets a 413 it can read, not a cut connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { CONTROL_TOKEN, Signaling, WhepClient } from './harness.js';

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

/** POSTs `size` bytes with node:http, writing all of it; the answer and how the upload ended. */
function postBig(
  url: string,
  size: number,
): Promise<{ status: number; body: string; connection: unknown; uploaded: boolean; error?: string }> {
  const chunk = Buffer.alloc(1024 * 1024, 'a');
  return new Promise((resolve) => {
    let answer: { status: number; body: string; connection: unknown } | undefined;
    let upload: { uploaded: boolean; error?: string } | undefined;
    const settle = (): void => {
      if (answer && upload) resolve({ ...answer, ...upload });
    };
    const req = request(
      url,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/sdp',
          'content-length': size,
          authorization: `Bearer ${CONTROL_TOKEN}`,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          answer = { status: res.statusCode ?? 0, body: text, connection: res.headers.connection };
          settle();
        });
      },
    );
    req.on('error', (e) => {
      upload ??= { uploaded: false, error: e.message };
      answer ??= { status: 0, body: '', connection: undefined };
      settle();
    });
    req.on('finish', () => {
      upload ??= { uploaded: true };
      settle();
    });
    // The whole body, honouring backpressure: the client does not know an answer came early.
    let sent = 0;
    const write = (): void => {
      while (sent < size) {
        sent += chunk.length;
        if (!req.write(chunk)) {
          req.once('drain', write);
          return;
        }
      }
      req.end();
    };
    write();
  });
}

test('a 50 MB WHEP body from a real HTTP client gets a readable 413, and the upload is not cut', async (t) => {
  const s = await Signaling.start(t);
  await s.announce({ vmId: 'big-vm' });
  const r = await postBig(`${s.baseUrl}/whep/big-vm/0`, 50 * 1024 * 1024);
  t.diagnostic(JSON.stringify(r));
  assert.equal(r.status, 413);
  assert.match(r.body, /larger than \d+ bytes/);
  assert.equal(r.connection, 'close');
  assert.ok(r.uploaded, `the client sent its whole body without an error (${r.error ?? ''})`);
  const health = await fetch(`${s.baseUrl}/health`);
  assert.equal(health.status, 200, 'the service is fine');
});
