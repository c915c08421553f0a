// WHEP (RFC 9725) end to end without QEMU: a synthetic encoder (real x264) publishes EncodedFrame on
// NATS, a node-datachannel WHEP client receives RTP that depacketizes to H.264 the encoder's
// decoder decodes; PLI becomes a keyframe request; DELETE ends the session and releases input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '@qemu-webrtc/test-kit';
import { H264Decoder } from '@qemu-webrtc/encoder/native';
import { CONTROL_TOKEN, Signaling, SyntheticEncoder, WhepClient } from './harness.js';

const stream = { vmId: 'synth', consoleId: 0, rendition: 'full' };

test('a WHEP client receives decodable H.264 starting at an IDR; PLI asks for a keyframe; DELETE ends it', async (t) => {
  const s = await Signaling.start(t);
  await s.announce({ vmId: 'synth', width: 320, height: 240 });
  const encoder = new SyntheticEncoder(s.nc, stream);
  s.defer(() => encoder.close());
  encoder.start();
  await waitFor('frames flowing', () => encoder.published.length > 5);
  const requests = s.recordKeyframeRequests(stream);
  const input = s.recordInput('synth');

  const client = new WhepClient();
  s.defer(() => client.close());
  const offer = await client.offer();
  const res = await fetch(`${s.baseUrl}/whep/synth/0`, {
    method: 'POST',
    headers: { 'content-type': 'application/sdp', authorization: `Bearer ${CONTROL_TOKEN}` },
    body: offer,
  });
  assert.equal(res.status, 201, await res.clone().text());
  assert.equal(res.headers.get('content-type'), 'application/sdp');
  const location = res.headers.get('location');
  assert.match(location ?? '', /^\/whep\/session\/[A-Za-z0-9_-]+$/);
  const answer = await res.text();
  assert.match(answer, /a=rtpmap:102 H264\/90000/, 'answers with the offered packetization-mode=1 format');
  assert.doesNotMatch(answer, /a=rtpmap:104 /, 'not the packetization-mode=0 one');
  client.answer(answer);

  await waitFor('connected', () => client.connectionState === 'connected');
  await waitFor('30 access units', () => client.depacketizer.units.length >= 30, 20_000);
  assert.ok(
    requests.some((r) => r.reason === 'join'),
    'joining asked for a keyframe',
  );
  const units = client.depacketizer.units;
  assert.ok(units[0]?.keyframe, 'the first access unit received is an IDR');

  const decoder = new H264Decoder({ format: 'bgra' });
  s.defer(() => decoder.close());
  let pictures = 0;
  for (const u of units.slice(0, 30)) {
    assert.ok(!u.incomplete, 'no packet lost on loopback');
    for (const pic of await decoder.decode(u.data)) {
      assert.equal(pic.width, 320);
      assert.equal(pic.height, 240);
      pictures++;
    }
  }
  pictures += (await decoder.flush()).length;
  assert.ok(pictures >= 29, `decoded ${pictures} pictures from 30 access units`);

  // PLI from the client: a keyframe request reaches the encoder, then an IDR reaches the client.
  const before = requests.length;
  const unitsBefore = client.depacketizer.units.length;
  client.track.requestKeyframe();
  await waitFor('a PLI keyframe request', () => requests.slice(before).find((r) => r.reason === 'pli'));
  await waitFor('an IDR after the PLI', () =>
    client.depacketizer.units.slice(unitsBefore).some((u) => u.keyframe),
  );

  const owner = { authorization: `Bearer ${CONTROL_TOKEN}` };
  const del = await fetch(`${s.baseUrl}${location ?? ''}`, { method: 'DELETE', headers: owner });
  assert.equal(del.status, 200);
  await waitFor('release_all on leave', () => input.find((e) => e.releaseAll));
  assert.equal(s.service.viewers.size, 0);
  const again = await fetch(`${s.baseUrl}${location ?? ''}`, { method: 'DELETE', headers: owner });
  assert.equal(again.status, 404);
});

test('every viewer on one UDP port (ICE_UDP_MUX): two WHEP clients both receive the stream', async (t) => {
  const port = 40000 + Math.floor(Math.random() * 20000);
  const s = await Signaling.start(t, { ICE_UDP_MUX: '1', ICE_PORT_RANGE: String(port) });
  await s.announce({ vmId: 'synth' });
  const encoder = new SyntheticEncoder(s.nc, stream);
  s.defer(() => encoder.close());
  encoder.start();
  const clients = [new WhepClient('one'), new WhepClient('two')];
  s.defer(() => {
    for (const c of clients) c.close();
  });
  const answers: string[] = [];
  for (const c of clients) {
    const offer = await c.offer();
    const res = await fetch(`${s.baseUrl}/whep/synth/0`, {
      method: 'POST',
      headers: { 'content-type': 'application/sdp', authorization: `Bearer ${CONTROL_TOKEN}` },
      body: offer,
    });
    assert.equal(res.status, 201);
    const answer = await res.text();
    answers.push(answer);
    c.answer(answer);
  }
  for (const a of answers) assert.match(a, new RegExp(`a=candidate:.* 127\\.0\\.0\\.1 ${port} typ host`));
  await waitFor(
    'both clients receive video',
    () => clients.every((c) => c.depacketizer.units.length >= 10),
    20_000,
  );
});

test('ICE_ADVERTISED_ADDRESS: the answer offers each host candidate at that address first, then as gathered', async (t) => {
  const port = 40000 + Math.floor(Math.random() * 20000);
  // A loopback alias as the "public" address: nothing leaves the machine.
  const s = await Signaling.start(t, {
    ICE_UDP_MUX: '1',
    ICE_PORT_RANGE: String(port),
    ICE_ADVERTISED_ADDRESS: '127.0.0.3',
  });
  await s.announce({ vmId: 'synth' });
  const encoder = new SyntheticEncoder(s.nc, stream);
  s.defer(() => encoder.close());
  encoder.start();
  const client = new WhepClient('advertised');
  s.defer(() => client.close());
  const res = await fetch(`${s.baseUrl}/whep/synth/0`, {
    method: 'POST',
    headers: { 'content-type': 'application/sdp', authorization: `Bearer ${CONTROL_TOKEN}` },
    body: await client.offer(),
  });
  assert.equal(res.status, 201);
  const answer = await res.text();
  const hosts = answer
    .split(/\r?\n/)
    .filter((l) => l.startsWith('a=candidate:') && l.includes(' typ host'))
    .map((l) => l.split(' ').slice(4, 6).join(':'));
  assert.deepEqual(hosts, [`127.0.0.3:${port}`, `127.0.0.1:${port}`]);
  client.answer(answer);
  await waitFor('video through the gathered candidate', () => client.depacketizer.units.length >= 10, 20_000);
});

test('concurrent WHEP answers never exceed MAX_VIEWERS (the place is taken before the answer is awaited)', async (t) => {
  const s = await Signaling.start(t, { MAX_VIEWERS: '2' });
  await s.announce({ vmId: 'synth', width: 320, height: 240 });
  const clients = Array.from({ length: 5 }, (_, i) => new WhepClient(`whep-race-${i}`));
  for (const c of clients) s.defer(() => c.close());
  const offers = await Promise.all(clients.map((c) => c.offer()));
  // Five POSTs' answers in flight at once (each awaits its ICE gathering after the capacity check),
  // as the route calls them; over HTTP on loopback they rarely overlap, but a loaded server's do.
  const outcomes = await Promise.allSettled(
    offers.map((offer, i) => s.service.viewers.answer('control', stream, offer, false, `owner-${i}`)),
  );
  const refused = outcomes.filter((o) => o.status === 'rejected');
  assert.equal(outcomes.length - refused.length, 2, 'two viewers admitted');
  for (const r of refused) assert.equal((r.reason as Error).name, 'CapacityError');
  assert.equal(s.service.viewers.size, 2);
  // And over HTTP: the server is full.
  const late = new WhepClient('whep-race-late');
  s.defer(() => late.close());
  const res = await fetch(`${s.baseUrl}/whep/synth/0`, {
    method: 'POST',
    headers: { 'content-type': 'application/sdp', authorization: `Bearer ${CONTROL_TOKEN}` },
    body: await late.offer(),
  });
  assert.equal(res.status, 503);
});
