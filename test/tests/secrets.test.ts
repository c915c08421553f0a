// No secret in anything the system prints: the start command with a TURN password in ICE_SERVERS,
// two SIGNALING_TOKENS and its generated NATS passwords, every service logging at debug level. A page plays the
// demo VM with the control token (in the URL's fragment), a WHEP client of the page uses the view
// token (POST, PATCH, DELETE), wrong tokens are tried on every door; then Ctrl-C. Neither the TURN
// password, nor a token, nor a NATS password appears in any line start.mjs or any of its
// children printed (stdout and stderr), while the configuration lines show the fields redacted.
// Also: the public port serves no /metrics and a /health that says only "up".
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  freePort,
  launchWebrtcChromium,
  openPlayer,
  statusFromPage,
  waitFor,
  withToken,
} from '@qemu-webrtc/test-kit';
import { FREE_PORT_ARGS, StartedSystem } from '../harness/started-system.js';

const TURN_PASSWORD = 'turn-Pa55word-7f3e91';
const CONTROL = 'ctl-Token-8c2d4a6b';
const VIEW = 'view-Token-19e7f0c3';

test('nothing the started system prints contains the TURN password, a token or the NATS password', async (t) => {
  // A TURN server nobody serves, on loopback: ICE tries it and carries on with host candidates.
  const turnPort = await freePort();
  let printed = '';
  const system = await StartedSystem.start([...FREE_PORT_ARGS, '--demo-size', '640x480'], {
    env: {
      LOG_LEVEL: 'debug',
      SIGNALING_TOKENS: `${CONTROL}:control,${VIEW}:view`,
      ICE_SERVERS: `stun:127.0.0.1:${turnPort},turn:alice:${TURN_PASSWORD}@127.0.0.1:${turnPort}`,
    },
    onOutput: (chunk) => (printed += chunk),
  });
  t.after(() => system.stop());
  // The NATS passwords the start command generated (one per service, and the tests' user): read
  // from its private configuration, which only we (root, its owner) may read.
  const natsConf = readFileSync(join(dirname(system.ready.natsTestCredential ?? ''), 'nats.conf'), 'utf8');
  const natsPasswords = [...natsConf.matchAll(/password: "([^"]+)"/g)].map((m) => m[1] ?? '');
  assert.equal(natsPasswords.length, 5, 'four services and the test user');
  const base = system.baseUrl;
  assert.equal(system.ready.tokenGenerated, false);

  // The public port: up or not, nothing else; metrics on signaling's metrics port.
  const health = await fetch(`${base}/health`);
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { ok: true });
  assert.equal((await fetch(`${base}/metrics`)).status, 404);
  const metricsUrl = `http://127.0.0.1:${system.ready.metricsPorts.signaling}`;
  assert.match(await (await fetch(`${metricsUrl}/metrics`)).text(), /signaling_viewers/);

  const browser = await launchWebrtcChromium();
  t.after(() => browser.close());
  const page = await openPlayer(browser, base, system.ready.vmId, CONTROL);
  const first = await waitFor(
    'the guest in the page',
    async () => (await statusFromPage(page)) ?? undefined,
    60_000,
    250,
  );
  await waitFor(
    'its frames to advance',
    async () => ((await statusFromPage(page))?.frame ?? 0) > first.frame,
    30_000,
  );

  // WHEP from the page with the view token: a session, a trickled candidate, the end.
  const whep = await page.evaluate(
    async ({ vm, token }) => {
      const pc = new RTCPeerConnection();
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.createDataChannel('input');
      await pc.setLocalDescription(await pc.createOffer());
      const url = `/whep/${vm}/0`;
      const headers = { 'content-type': 'application/sdp' };
      const anonymous = await fetch(url, { method: 'POST', headers, body: pc.localDescription?.sdp });
      const post = await fetch(url, {
        method: 'POST',
        headers: { ...headers, authorization: `Bearer ${token}` },
        body: pc.localDescription?.sdp,
      });
      const location = post.headers.get('location') ?? '';
      await pc.setRemoteDescription({ type: 'answer', sdp: await post.text() });
      const frag = 'a=mid:0\r\na=candidate:1 1 UDP 2114977791 127.0.0.1 9 typ host\r\n';
      const trickle = { 'content-type': 'application/trickle-ice-sdpfrag' };
      const patchAnonymous = await fetch(location, { method: 'PATCH', headers: trickle, body: frag });
      const patch = await fetch(location, {
        method: 'PATCH',
        headers: { ...trickle, authorization: `Bearer ${token}` },
        body: frag,
      });
      const deleteWrong = await fetch(location, {
        method: 'DELETE',
        headers: { authorization: 'Bearer not-a-token' },
      });
      const del = await fetch(location, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
      pc.close();
      return [
        anonymous.status,
        post.status,
        patchAnonymous.status,
        patch.status,
        deleteWrong.status,
        del.status,
      ];
    },
    { vm: system.ready.vmId, token: VIEW },
  );
  assert.deepEqual(whep, [401, 201, 401, 204, 401, 200]);

  // Wrong tokens at the other doors: the page and the WebSocket.
  const intruder = await browser.newPage();
  await intruder.goto(withToken(`${base}/view/${system.ready.vmId}/0`, `${CONTROL}x`));
  await intruder.waitForFunction(() =>
    document.querySelector('#overlay')?.textContent.includes('Not authorised'),
  );
  const wsRefusal = await intruder.evaluate(
    (token) =>
      new Promise<string>((resolve) => {
        const ws = new WebSocket(`ws://${location.host}/ws`);
        ws.onopen = () => ws.send(JSON.stringify({ type: 'auth', token }));
        ws.onmessage = (e) => resolve(String(e.data));
      }),
    `${VIEW}x`,
  );
  assert.match(wsRefusal, /"code":"unauthorized"/);
  await intruder.close();
  await page.close();

  const exit = await system.interrupt();
  assert.deepEqual(exit, { code: 0, signal: null });

  // The configuration lines were printed, with the secret fields redacted...
  assert.match(printed, /"ICE_SERVERS":"stun:127\.0\.0\.1:\d+,turn:alice:\[redacted\]@127\.0\.0\.1:\d+"/);
  assert.match(printed, /"SIGNALING_TOKENS":"\[redacted\]:control,\[redacted\]:view"/);
  for (const service of ['capture', 'encoder', 'signaling', 'input']) {
    assert.match(printed, new RegExp(`"service":"${service}".*"NATS_PASSWORD":"\\[redacted\\]"`), service);
  }
  // ...and no secret anywhere.
  const lines = printed.split('\n');
  t.diagnostic(`${lines.length} lines (${printed.length} bytes) printed by start.mjs and its children`);
  for (const [what, secret] of [
    ['the TURN password', TURN_PASSWORD],
    ['the control token', CONTROL],
    ['the view token', VIEW],
    ...natsPasswords.map((p, i) => [`NATS password #${i + 1}`, p] as const),
  ] as const) {
    const leaks = lines.filter((l) => l.includes(secret));
    assert.deepEqual(leaks, [], `${what} was printed`);
  }
});
