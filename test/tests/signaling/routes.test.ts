// Every HTTP and WebSocket endpoint, through fastify's inject()/injectWS(), with the bad inputs a
// client can send: missing or wrong tokens, unknown consoles, malformed SDP and messages, floods.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '@qemu-webrtc/common';
import { waitFor } from '@qemu-webrtc/test-kit';
import { buildApp } from '@qemu-webrtc/signaling/app';
import { CONTROL_TOKEN, Signaling, VIEW_TOKEN, WhepClient } from './harness.js';
import { WsClient } from './ws-client.js';

test('pages, static files; the public /health says only up, /metrics is on the metrics port', async (t) => {
  const s = await Signaling.start(t);
  const app = s.service.app;

  const index = await app.inject('/');
  assert.equal(index.statusCode, 200);
  assert.match(index.headers['content-type'] as string, /^text\/html/);
  assert.match(index.body, /<script type="module" src="\/js\/start.js">/);
  assert.match(index.headers['content-security-policy'] as string, /default-src 'self'/);

  const player = await app.inject('/view/some-vm/0');
  assert.equal(player.statusCode, 200);
  assert.match(player.body, /<video id="video" muted autoplay playsinline/);
  for (const bad of ['/view/bad%20vm/0', '/view/vm/99999', '/view/vm/x', '/view/vm']) {
    assert.equal((await app.inject(bad)).statusCode, 404, bad);
  }

  const js = await app.inject('/js/player.js');
  assert.equal(js.statusCode, 200);
  assert.match(js.headers['content-type'] as string, /javascript/);
  assert.equal((await app.inject('/static/style.css')).statusCode, 200);
  assert.equal((await app.inject('/js/../../src/app.ts')).statusCode, 404, 'no path traversal');
  assert.equal((await app.inject('/nothing-here')).statusCode, 404);

  await s.announce({ vmId: 'vm-1' });
  const health = await app.inject('/health');
  assert.equal(health.statusCode, 200);
  assert.deepEqual(health.json(), { ok: true }, 'no stream ids, viewer counts or consoles');
  assert.equal((await app.inject('/metrics')).statusCode, 404, 'no metrics on the public port');

  const metrics = await fetch(`${s.metricsUrl}/metrics`);
  assert.equal(metrics.status, 200);
  const text = await metrics.text();
  assert.match(text, /signaling_viewers/);
  assert.match(text, /signaling_process_cpu_seconds_total/);
  const detailed = (await (await fetch(`${s.metricsUrl}/health`)).json()) as Record<string, unknown>;
  assert.equal(detailed.ok, true);
  assert.equal(detailed.consoles, 1, 'the details are on the metrics port');
  assert.notEqual(s.service.metricsPort, s.service.port);

  // A service that is not up says so, and nothing more.
  const svc = s.service;
  const downApp = await buildApp({
    logger: createLogger('signaling', 'silent'),
    tokens: svc.tokens,
    consoles: svc.consoles,
    viewers: svc.viewers,
    metrics: svc.metrics,
    iceServers: [],
    defaultRendition: 'full',
    up: () => false,
  });
  t.after(() => downApp.close());
  const down = await downApp.inject('/health');
  assert.equal(down.statusCode, 503);
  assert.deepEqual(down.json(), { ok: false });
});

test('GET /api/consoles needs a token and lists announced consoles with their state', async (t) => {
  const s = await Signaling.start(t, { CONSOLE_STALE_MS: '1000' });
  const app = s.service.app;
  assert.equal((await app.inject('/api/consoles')).statusCode, 401);
  const wrong = await app.inject({ url: '/api/consoles', headers: { authorization: 'Bearer nope' } });
  assert.equal(wrong.statusCode, 401);
  assert.match(wrong.headers['www-authenticate'] as string, /^Bearer/);
  assert.equal(
    (await app.inject({ url: '/api/consoles', headers: { authorization: 'Basic abc' } })).statusCode,
    401,
  );
  assert.equal(
    (await app.inject({ url: '/api/consoles', headers: { authorization: `Bearer ${'x'.repeat(5000)}` } }))
      .statusCode,
    401,
  );
  assert.equal(
    (await app.inject(`/api/consoles?token=${CONTROL_TOKEN}`)).statusCode,
    401,
    'a token in the query string is not taken (it would be in proxy logs)',
  );

  await s.announce({ vmId: 'vm-b', consoleId: 1, width: 800, height: 600 });
  await s.announce({ vmId: 'vm-a', consoleId: 0 });
  const res = await app.inject({ url: '/api/consoles', headers: { authorization: `Bearer ${VIEW_TOKEN}` } });
  assert.equal(res.statusCode, 200);
  const body = res.json<{
    role: string;
    consoles: { vmId: string; consoleId: number; width: number; running: boolean }[];
  }>();
  assert.equal(body.role, 'view');
  assert.deepEqual(
    body.consoles.map((c) => `${c.vmId}.${c.consoleId}`),
    ['vm-a.0', 'vm-b.1'],
  );
  assert.equal(body.consoles[1]?.width, 800);
  assert.ok(body.consoles.every((c) => c.running));
  const control = { url: '/api/consoles', headers: { authorization: `Bearer ${CONTROL_TOKEN}` } };
  assert.equal((await app.inject(control)).json<{ role: string }>().role, 'control');

  // Capture stops announcing: the console is "not running".
  await waitFor(
    'the consoles to go stale',
    async () => {
      const r = await app.inject(control);
      return r.json<{ consoles: { running: boolean }[] }>().consoles.every((c) => !c.running);
    },
    5000,
  );
});

test('WebSocket: the token comes in the first message; a missing or bad one closes the socket with a reason', async (t) => {
  const s = await Signaling.start(t, { CONSOLE_STALE_MS: '1000' });
  const app = s.service.app;
  await app.ready();
  await s.announce({ vmId: 'vm-1' });
  const refusals: [string, unknown][] = [
    ['a wrong token', { type: 'auth', token: 'wrong' }],
    ['an empty token', { type: 'auth', token: '' }],
    ['no auth message first', { type: 'watch', vm: 'vm-1', console: 0 }],
    ['garbage first', 'not json'],
    ['a token too long', { type: 'auth', token: 'x'.repeat(300) }],
  ];
  for (const [what, first] of refusals) {
    const ws = await WsClient.open(app, undefined);
    ws.send(first);
    const error = await ws.next('error', 'unauthorized');
    assert.equal(error.fatal, true, what);
    assert.match(String(error.message), /a valid token is needed/, what);
    await waitFor(`${what}: the socket closed`, () => ws.closeCode);
    assert.equal(ws.closeCode, 4401, what);
    assert.equal(ws.messages.filter((m) => m.type === 'hello').length, 0, `${what}: no hello`);
  }
  assert.equal(s.service.viewers.size, 0);

  const a = await WsClient.open(app, CONTROL_TOKEN);
  const b = await WsClient.open(app, VIEW_TOKEN);
  t.after(() => {
    a.close();
    b.close();
  });
  const hello = await a.next('hello');
  assert.equal(hello.role, 'control');
  assert.equal((await b.next('hello')).role, 'view');
  a.send({ type: 'auth', token: VIEW_TOKEN });
  await a.next('error', 'bad_message');

  a.send('not json');
  assert.match(String((await a.next('error', 'bad_message')).message), /JSON/);
  a.send(Buffer.from([1, 2, 3]));
  await a.next('error', 'bad_message');
  a.send({ type: 'dance' });
  await a.next('error', 'bad_message');
  a.send({ type: 'watch', vm: 'a b', console: 0 });
  assert.match(String((await a.next('error', 'bad_message')).message), /vm/);
  a.send({ type: 'watch', vm: 'vm', console: -1 });
  await a.next('error', 'bad_message');
  a.send({ type: 'watch', vm: 'vm', console: 0, extra: true });
  await a.next('error', 'bad_message');
  a.send({ type: 'answer', sdp: 'v=0' });
  await a.next('error', 'not_watching');
  a.send({ type: 'candidate', candidate: 'candidate:1 1 UDP 1 127.0.0.1 9 typ host', mid: '0' });
  await a.next('error', 'not_watching');
  a.send({ type: 'answer', sdp: 'x'.repeat(100 * 1024) });
  await a.next('error', 'too_large');
  a.send({ type: 'watch', vm: 'nope', console: 0 });
  const unknown = await a.next('error', 'unknown_console');
  assert.equal(unknown.fatal, true);

  await s.announce({ vmId: 'stale-vm' });
  await new Promise((r) => setTimeout(r, 1200));
  a.send({ type: 'watch', vm: 'stale-vm', console: 0 });
  await a.next('error', 'vm_not_running');

  a.send({ type: 'ping', t: 123 });
  const pong = await a.next('pong');
  assert.equal(pong.t, 123);

  // A flood: refused with "rate_limited", then the socket is closed; the other client is untouched.
  for (let i = 0; i < 400; i++) a.send({ type: 'ping', t: i });
  await a.next('error', 'rate_limited');
  await waitFor('the flooding socket to be closed', () => a.closeCode);
  assert.equal(a.closeCode, 1008);
  b.send({ type: 'ping', t: 7 });
  assert.equal((await b.next('pong')).t, 7);

  // Over the hard limit the socket closes with 1009 (message too big).
  const c = await WsClient.open(app, CONTROL_TOKEN);
  await c.next('hello');
  c.send('x'.repeat(1024 * 1024 + 1));
  await waitFor('close 1009', () => c.closeCode);
  assert.equal(c.closeCode, 1009);
  assert.equal(s.service.viewers.size, 0);
  const health = await app.inject('/health');
  assert.equal(health.statusCode, 200);
});

test('WebSocket: watching a console gets an H.264 offer; a bad answer is refused; leaving cleans up', async (t) => {
  const s = await Signaling.start(t);
  const app = s.service.app;
  await app.ready();
  await s.announce({ vmId: 'vm-1', width: 640, height: 480 });
  const input = s.recordInput('vm-1');
  const ws = await WsClient.open(app, CONTROL_TOKEN);
  await ws.next('hello');
  ws.send({ type: 'watch', vm: 'vm-1', console: 0 });
  const info = await ws.next('console');
  assert.equal((info.console as { width: number }).width, 640);
  const offer = await ws.next('offer');
  const sdp = String(offer.sdp);
  assert.match(sdp, /m=video \d+ UDP\/TLS\/RTP\/SAVPF 96/);
  assert.match(sdp, /a=fmtp:96 .*packetization-mode=1/);
  assert.match(sdp, /profile-level-id=42e01f/);
  assert.match(sdp, /a=sendonly/);
  assert.match(sdp, /m=application .* webrtc-datachannel/);
  assert.match(sdp, /playout-delay/);
  assert.equal(s.service.viewers.size, 1);
  ws.send({ type: 'watch', vm: 'vm-1', console: 0 });
  await ws.next('error', 'already_watching');

  // The player area (SetUIInfo hint): checked, clamped, sent to input under the viewer's id.
  ws.send({ type: 'resize', width: 0, height: 600, widthMm: 0, heightMm: 0 });
  await ws.next('error', 'bad_message');
  ws.send({ type: 'resize', width: 20_000, height: 100, widthMm: 300, heightMm: 200 });
  const hint = await waitFor('the size hint on the input subject', () => input.find((e) => e.uiInfo));
  assert.deepEqual(
    { ...hint.uiInfo },
    { width: 8192, height: 200, widthMm: 300, heightMm: 200 },
    'held within the UI_INFO bounds',
  );
  assert.equal(hint.viewerId, String(offer.viewerId));

  ws.send({ type: 'answer', sdp: 'v=0\r\nthis is not sdp\r\n' });
  const refused = await ws.next('error', 'negotiation_failed');
  assert.equal(refused.fatal, true);
  await waitFor('the viewer to go', () => s.service.viewers.size === 0);
  await waitFor('release_all for the control viewer', () => input.find((e) => e.releaseAll));

  // A second watch on a fresh socket, then the socket closes: the viewer goes too.
  const ws2 = await WsClient.open(app, VIEW_TOKEN);
  await ws2.next('hello');
  ws2.send({ type: 'watch', vm: 'vm-1', console: 0 });
  await ws2.next('offer');
  // A view-only viewer's size is refused by signaling, whatever its page does.
  ws2.send({ type: 'resize', width: 800, height: 600, widthMm: 0, heightMm: 0 });
  await ws2.next('error', 'view_only');
  assert.equal(s.service.viewers.size, 1);
  ws2.close();
  await waitFor('the viewer to leave with its socket', () => s.service.viewers.size === 0);
  assert.equal(input.filter((e) => e.releaseAll).length, 1, 'a view-only viewer holds nothing to release');
  assert.equal(input.filter((e) => e.uiInfo).length, 1, 'only the control viewer’s size went out');
});

test('WHEP: tokens, content type, malformed and unsupported offers, unknown or stopped consoles, capacity', async (t) => {
  const s = await Signaling.start(t, { MAX_VIEWERS: '1', CONSOLE_STALE_MS: '1000' });
  const app = s.service.app;
  await s.announce({ vmId: 'vm-1' });
  const client = new WhepClient();
  s.defer(() => client.close());
  const offer = await client.offer();
  const post = (url: string, body: string, headers: Record<string, string> = {}) =>
    app.inject({
      method: 'POST',
      url,
      payload: body,
      headers: { 'content-type': 'application/sdp', authorization: `Bearer ${CONTROL_TOKEN}`, ...headers },
    });

  const options = await app.inject({ method: 'OPTIONS', url: '/whep/vm-1/0' });
  assert.equal(options.statusCode, 204);
  assert.equal(options.headers['accept-post'], 'application/sdp');

  const noToken = await app.inject({
    method: 'POST',
    url: '/whep/vm-1/0',
    payload: offer,
    headers: { 'content-type': 'application/sdp' },
  });
  assert.equal(noToken.statusCode, 401);
  assert.match(noToken.headers['www-authenticate'] as string, /^Bearer/);
  assert.equal((await post('/whep/vm-1/0', offer, { authorization: 'Bearer wrong' })).statusCode, 401);
  assert.equal((await post('/whep/vm-1/0', offer, { 'content-type': 'text/plain' })).statusCode, 415);
  assert.equal((await post('/whep/vm-1/0', offer, { 'content-type': 'application/json' })).statusCode, 415);
  assert.equal((await post('/whep/nope/0', offer)).statusCode, 404);
  assert.equal((await post('/whep/vm-1/7', offer)).statusCode, 404);
  assert.equal((await post('/whep/bad%20id/0', offer)).statusCode, 404);
  assert.equal((await post('/whep/vm-1/0?rendition=a.b', offer)).statusCode, 404);

  const garbage = await post('/whep/vm-1/0', 'hello');
  assert.equal(garbage.statusCode, 400);
  assert.match(garbage.body, /v=0/);
  assert.equal((await post('/whep/vm-1/0', 'v=0\r\ns=-\r\n')).statusCode, 400, 'no video section');
  assert.equal((await post('/whep/vm-1/0', offer.replace(/a=mid:0/g, 'a=mid:'))).statusCode, 400, 'no mid');
  const vp8 = offer.replace(/H264\/90000/g, 'VP8/90000').replace(/a=fmtp:.*\r?\n/g, '');
  const unsupported = await post('/whep/vm-1/0', vp8);
  assert.equal(unsupported.statusCode, 406);
  assert.match(unsupported.body, /H\.264/);
  const mode0 = offer.replace(/packetization-mode=1/g, 'packetization-mode=0');
  assert.equal((await post('/whep/vm-1/0', mode0)).statusCode, 406, 'packetization-mode=0 only');
  const broken = offer.replace(/a=fingerprint:.*\r?\n/, '').replace(/a=ice-ufrag:.*\r?\n/, '');
  assert.equal((await post('/whep/vm-1/0', broken)).statusCode, 400, 'libdatachannel refuses it');
  assert.equal((await post('/whep/vm-1/0', `${offer}${'a=x:y\r\n'.repeat(20000)}`)).statusCode, 413);
  assert.equal(s.service.viewers.size, 0, 'nothing left behind by refused offers');

  const ok = await post('/whep/vm-1/0', offer);
  assert.equal(ok.statusCode, 201, ok.body);
  const location = ok.headers.location as string;
  assert.equal((await post('/whep/vm-1/0', offer)).statusCode, 503, 'MAX_VIEWERS=1');

  const owner = { authorization: `Bearer ${CONTROL_TOKEN}` };
  const trickle = 'a=mid:0\r\na=candidate:1 1 UDP 2114977791 127.0.0.1 9 typ host\r\n';
  const patchWith = (url: string, payload: string, headers: Record<string, string>) =>
    app.inject({
      method: 'PATCH',
      url,
      payload,
      headers: { 'content-type': 'application/trickle-ice-sdpfrag', ...headers },
    });
  const patchType = await patchWith(location, 'a=x', { ...owner, 'content-type': 'text/plain' });
  assert.equal(patchType.statusCode, 415);
  const patch = await patchWith(location, trickle, owner);
  assert.equal(patch.statusCode, 204);
  const restart = await patchWith(
    location,
    'a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n',
    owner,
  );
  assert.equal(restart.statusCode, 405);
  const badFrag = await patchWith(location, 'garbage', owner);
  assert.equal(badFrag.statusCode, 400);
  assert.equal((await patchWith('/whep/session/nope', '', owner)).statusCode, 404);
  assert.equal(
    (await app.inject({ method: 'DELETE', url: '/whep/session/nope', headers: owner })).statusCode,
    404,
  );
  assert.equal(s.service.viewers.size, 1);

  // RFC 9725: the session answers only to the token (and role) that created it.
  const anonymousPatch = await patchWith(location, trickle, {});
  assert.equal(anonymousPatch.statusCode, 401);
  assert.match(anonymousPatch.headers['www-authenticate'] as string, /^Bearer/);
  assert.equal((await patchWith(location, trickle, { authorization: 'Bearer wrong' })).statusCode, 401);
  const otherToken = await patchWith(location, trickle, { authorization: `Bearer ${VIEW_TOKEN}` });
  assert.equal(otherToken.statusCode, 403);
  assert.match(otherToken.body, /created with another token/);
  const strangers: [Record<string, string>, number][] = [
    [{}, 401],
    [{ authorization: 'Bearer wrong' }, 401],
    [{ authorization: `Bearer ${VIEW_TOKEN}` }, 403],
  ];
  for (const [headers, status] of strangers) {
    assert.equal((await app.inject({ method: 'DELETE', url: location, headers })).statusCode, status);
  }
  assert.equal(s.service.viewers.size, 1, 'the session survives requests without its token');
  assert.equal((await app.inject({ method: 'DELETE', url: location, headers: owner })).statusCode, 200);
  assert.equal(s.service.viewers.size, 0);

  await new Promise((r) => setTimeout(r, 1200));
  const stopped = await post('/whep/vm-1/0', offer);
  assert.equal(stopped.statusCode, 503);
  assert.match(stopped.body, /not running/);
  assert.equal(stopped.headers['retry-after'], '5');
});

test('TLS: with TLS_CERT and TLS_KEY the same routes are served over HTTPS', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'qw-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  const s = await Signaling.start(t, { TLS_CERT: join(dir, 'cert.pem'), TLS_KEY: join(dir, 'key.pem') });
  assert.match(s.service.url, /^https:/);
  const body = await new Promise<string>((resolve, reject) => {
    httpsGet(`https://127.0.0.1:${s.service.port}/health`, { rejectUnauthorized: false }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve(text));
    }).on('error', reject);
  });
  assert.equal((JSON.parse(body) as { ok: boolean }).ok, true);
  await assert.rejects(
    Signaling.start(t, { TLS_CERT: join(dir, 'cert.pem') }),
    /TLS_CERT and TLS_KEY go together/,
  );
});

test('WebSocket: 12 sessions watching one console raise no MaxListenersExceeded; each sees its console change', async (t) => {
  const warnings: string[] = [];
  const onWarning = (w: Error): void => {
    warnings.push(`${w.name}: ${w.message}`);
  };
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  const s = await Signaling.start(t);
  const app = s.service.app;
  await app.ready();
  await s.announce({ vmId: 'vm-1', width: 640, height: 480 });
  const clients: WsClient[] = [];
  t.after(() => {
    for (const c of clients) c.close();
  });
  for (let i = 0; i < 12; i++) {
    const c = await WsClient.open(app, CONTROL_TOKEN);
    clients.push(c);
    await c.next('hello');
    c.send({ type: 'watch', vm: 'vm-1', console: 0 });
    await c.next('offer');
  }
  await s.announce({ vmId: 'vm-1', width: 800, height: 600 });
  for (const c of clients) {
    await waitFor('the new size', () =>
      c.messages.find((m) => m.type === 'console' && (m.console as { width: number }).width === 800),
    );
  }
  // Warnings are emitted on the next tick.
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(
    warnings.filter((w) => w.includes('MaxListeners')),
    [],
  );
  for (const c of clients) c.close();
  await waitFor(
    'every session gone',
    () => s.service.viewers.size === 0 && s.service.consoles.watcherCount === 0,
  );
});
