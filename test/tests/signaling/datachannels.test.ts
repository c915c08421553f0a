// The "input" and "cursor" DataChannels, driven by a node-datachannel client over WHEP: valid input
// becomes InputEvents; view-only, malformed, oversized and flooding input is refused with an error
// to that client only; cursor shape and position from capture reach the viewer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { publishProto, subjects } from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import { waitFor } from '@qemu-webrtc/test-kit';
import { CONTROL_TOKEN, Signaling, VIEW_TOKEN, WhepClient } from './harness.js';

const { TouchPhase } = qemu_webrtc.v1;

function errorsOf(client: WhepClient): { code: string; message: string }[] {
  return (client.received.get('input') ?? [])
    .filter((m): m is string => typeof m === 'string')
    .map((m) => JSON.parse(m) as { type: string; code: string; message: string })
    .filter((m) => m.type === 'error');
}

test('input: every kind of event becomes an InputEvent; bad input gets an error, others are untouched', async (t) => {
  const s = await Signaling.start(t, { INPUT_RATE: '200', INPUT_BURST: '50' });
  await s.announce({ vmId: 'vm-1' });
  const events = s.recordInput('vm-1');
  const a = new WhepClient('a', ['input', 'cursor']);
  const b = new WhepClient('b', ['input']);
  const v = new WhepClient('v', ['input']);
  s.defer(() => {
    a.close();
    b.close();
    v.close();
  });
  await a.connect(`${s.baseUrl}/whep/vm-1/0`, CONTROL_TOKEN);
  await b.connect(`${s.baseUrl}/whep/vm-1/0`, CONTROL_TOKEN);
  await v.connect(`${s.baseUrl}/whep/vm-1/0`, VIEW_TOKEN);
  const ai = await a.channelOpen('input');
  const bi = await b.channelOpen('input');
  const vi = await v.channelOpen('input');

  const sent = [
    { t: 'key', code: 'KeyA', down: true, ts: 1000.5 },
    { t: 'key', code: 'KeyA', down: false },
    { t: 'move', x: 10, y: 20.5 },
    { t: 'rel', dx: -3, dy: 4 },
    { t: 'button', button: 2, down: true },
    { t: 'wheel', dx: 0, dy: -120 },
    { t: 'touch', slot: 3, phase: 'begin', x: 5, y: 6 },
    { t: 'release' },
  ];
  for (const m of sent) ai.sendMessage(JSON.stringify(m));
  // The release names what the viewer still holds (button 2) before release_all, so that an input
  // process restarted since the press lifts it too.
  await waitFor('nine events', () => events.length >= 9);
  const [key, keyUp, move, rel, button, wheel, touch, buttonUp, release] = events;
  assert.ok(key);
  assert.deepEqual(key.key, qemu_webrtc.v1.KeyEvent.fromObject({ code: 'KeyA', down: true }));
  assert.equal(key.clientTimeMs, 1000.5);
  assert.ok(key.receivedUs > 0);
  assert.equal(keyUp?.key?.down, false);
  assert.deepEqual([move?.move?.x, move?.move?.y], [10, 20.5]);
  assert.deepEqual([rel?.relative?.dx, rel?.relative?.dy], [-3, 4]);
  assert.deepEqual([button?.button?.button, button?.button?.down], [2, true]);
  assert.equal(wheel?.wheel?.dy, -120);
  assert.deepEqual([touch?.touch?.slot, touch?.touch?.phase], [3, TouchPhase.TOUCH_PHASE_BEGIN]);
  assert.deepEqual([buttonUp?.button?.button, buttonUp?.button?.down], [2, false]);
  assert.ok(release?.releaseAll);
  const ids = new Set(events.map((e) => e.viewerId));
  assert.equal(ids.size, 1, 'one viewer id, assigned by the server');
  assert.match([...ids][0] ?? '', /^w-[0-9a-f]{12}$/);
  assert.deepEqual(
    events.map((e) => e.sequence),
    [1, 2, 3, 4, 5, 6, 7, 8, 9],
    'per-viewer sequence',
  );

  // Bad input from a: each kind is refused with its own error, nothing published.
  const before = events.length;
  const bad: [string, string][] = [
    ['not json', 'malformed'],
    [JSON.stringify({ t: 'key', code: 'KeyA' }), 'malformed'],
    [JSON.stringify({ t: 'key', code: 'Key A', down: true }), 'malformed'],
    [JSON.stringify({ t: 'move', x: -1, y: 0 }), 'malformed'],
    [JSON.stringify({ t: 'move', x: 1e9, y: 0 }), 'malformed'],
    [JSON.stringify({ t: 'button', button: 9, down: true }), 'malformed'],
    [JSON.stringify({ t: 'key', code: 'KeyA', down: true, admin: true }), 'malformed'],
    [JSON.stringify({ t: 'touch', slot: 99, phase: 'begin', x: 1, y: 1 }), 'malformed'],
    [JSON.stringify([1, 2, 3]), 'malformed'],
    ['x'.repeat(600), 'too_large'],
  ];
  for (const [m] of bad) ai.sendMessage(m);
  ai.sendMessageBinary(Buffer.from('{"t":"release"'));
  await waitFor('errors for malformed and too large input', () => {
    const codes = new Set(errorsOf(a).map((e) => e.code));
    return codes.has('malformed') && codes.has('too_large');
  });
  assert.match(errorsOf(a).find((e) => e.code === 'too_large')?.message ?? '', /512 bytes/);

  // The view-only client: refused, told why.
  vi.sendMessage(JSON.stringify({ t: 'key', code: 'KeyB', down: true }));
  await waitFor('view-only refusal', () => errorsOf(v).find((e) => e.code === 'view_only'));

  // A flood from a: moves are coalesced (never refused), keys beyond the limit are refused as
  // rate_limited; b still gets through.
  for (let i = 0; i < 400; i++) ai.sendMessage(JSON.stringify({ t: 'move', x: i, y: i }));
  for (let i = 0; i < 400; i++) ai.sendMessage(JSON.stringify({ t: 'key', code: 'KeyC', down: i % 2 === 0 }));
  await waitFor('rate limited', () => errorsOf(a).find((e) => e.code === 'rate_limited'));
  bi.sendMessage(JSON.stringify({ t: 'key', code: 'KeyZ', down: true }));
  const fromB = await waitFor('b’s key', () => events.find((e) => e.key?.code === 'KeyZ'));
  assert.notEqual(fromB.viewerId, key.viewerId);
  assert.equal(fromB.sequence, 1);
  const aMoves = events.slice(before).filter((e) => e.viewerId === key.viewerId && e.move);
  assert.ok(aMoves.length >= 1 && aMoves.length < 400, `400 moves coalesced into ${aMoves.length}`);
  assert.equal(aMoves.at(-1)?.move?.x, 399, 'the last position is the newest');
  const aKeys = events.slice(before).filter((e) => e.key?.code === 'KeyC');
  assert.ok(aKeys.length < 400 && aKeys.length >= 50, `${aKeys.length} of 400 keys passed the limit`);
  assert.equal(errorsOf(b).length, 0, 'b got no errors');
  assert.ok(!events.some((e) => e.key?.code === 'KeyB'), 'nothing from the view-only client');
  assert.equal(s.service.viewers.size, 3, 'nobody was disconnected');

  // Leaving: a release_all for each control viewer, none for the view-only one.
  a.close();
  b.close();
  v.close();
  await waitFor('all viewers gone', () => s.service.viewers.size === 0, 20_000);
  await waitFor('every node-datachannel object closed', () => s.service.health().rtcObjects === 0, 10_000);
  const releases = events.filter((e) => e.releaseAll).map((e) => e.viewerId);
  assert.ok(releases.includes(fromB.viewerId) && releases.includes(key.viewerId));
});

test('cursor: shape and position from capture reach viewers, the current shape on joining', async (t) => {
  const s = await Signaling.start(t);
  await s.announce({ vmId: 'vm-1' });
  const early = new WhepClient('early', ['cursor']);
  s.defer(() => early.close());
  await early.connect(`${s.baseUrl}/whep/vm-1/0`, VIEW_TOKEN);
  await early.channelOpen('cursor');
  const pixels = Buffer.alloc(4 * 4 * 4);
  for (let i = 0; i < 16; i++) pixels.set([10, 20, 30, 255], i * 4); // B,G,R,A
  publishProto(s.nc, subjects.cursorShape('vm-1', 0), qemu_webrtc.v1.CursorShape, {
    vmId: 'vm-1',
    width: 4,
    height: 4,
    hotX: 1,
    hotY: 2,
    pixels,
    serial: 7,
  });
  publishProto(s.nc, subjects.cursorPosition('vm-1', 0), qemu_webrtc.v1.CursorPosition, {
    vmId: 'vm-1',
    x: 100,
    y: -5,
    visible: true,
  });
  const inbox = early.received.get('cursor') ?? [];
  await waitFor('shape and position', () => inbox.length >= 2);
  const shape = inbox[0] as Buffer;
  assert.equal(shape.readUInt8(0), 1);
  assert.deepEqual([shape.readUInt16LE(2), shape.readUInt16LE(4)], [4, 4]);
  assert.deepEqual([shape.readInt16LE(6), shape.readInt16LE(8), shape.readUInt32LE(12)], [1, 2, 7]);
  assert.deepEqual([...shape.subarray(16, 20)], [30, 20, 10, 255], 'RGBA');
  const pos = inbox[1] as Buffer;
  assert.deepEqual(
    [pos.readUInt8(0), pos.readUInt8(1), pos.readInt32LE(4), pos.readInt32LE(8)],
    [2, 1, 100, -5],
  );

  // Too large a cursor is not forwarded; garbage on the subject is ignored.
  publishProto(s.nc, subjects.cursorShape('vm-1', 0), qemu_webrtc.v1.CursorShape, {
    vmId: 'vm-1',
    width: 512,
    height: 512,
    pixels: Buffer.alloc(512 * 512 * 4),
  });
  s.nc.publish(subjects.cursorPosition('vm-1', 0), Buffer.from([0xff, 0xff, 0xff]));
  // Bus input out of range or naming another console than its subject: dropped, counted.
  publishProto(s.nc, subjects.cursorPosition('vm-1', 0), qemu_webrtc.v1.CursorPosition, {
    vmId: 'vm-2',
    x: 1,
    y: 1,
    visible: true,
  });
  publishProto(s.nc, subjects.cursorPosition('vm-1', 0), qemu_webrtc.v1.CursorPosition, {
    vmId: 'vm-1',
    x: 2147483647,
    y: 1,
    visible: true,
  });
  publishProto(s.nc, subjects.cursorShape('vm-1', 0), qemu_webrtc.v1.CursorShape, {
    vmId: 'vm-1',
    width: 4,
    height: 4,
    hotX: 4000,
    hotY: 0,
    pixels,
    serial: 8,
  });
  await waitFor('the bad cursor messages counted', async () => {
    const text = await fetch(`${s.metricsUrl}/metrics`).then((r) => r.text());
    return ['cursor_subject_mismatch', 'bad_cursor_position', 'bad_cursor_hotspot'].every((reason) =>
      new RegExp(`^signaling_\\w*rejected\\w*\\{reason="${reason}"\\} 1$`, 'm').test(text),
    );
  });

  const late = new WhepClient('late', ['cursor']);
  s.defer(() => late.close());
  await late.connect(`${s.baseUrl}/whep/vm-1/0`, VIEW_TOKEN);
  await late.channelOpen('cursor');
  const lateInbox = late.received.get('cursor') ?? [];
  await waitFor('the current cursor on joining', () => lateInbox.length >= 2);
  assert.equal((lateInbox[0] as Buffer).readUInt32LE(12), 7, 'the last forwarded shape');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(inbox.length, 2, 'the oversized shape and the garbage were not forwarded');
});
