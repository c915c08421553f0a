// Capture against real QEMU 10 running the test guest (gl=off): the frame ring holds exactly what
// QEMU's own screendump shows, frame numbers advance, and QEMU restarts are survived.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import { DbusDaemon, QemuVm, readGuestStatus, waitFor } from '@qemu-webrtc/test-kit';
import { assertRingEqualsScreendump, ringImage, setup, startCapture } from './capture-harness.js';

for (const unixMap of [true, false]) {
  test(`ring pixels equal QMP screendump and frame numbers advance (Unix.Map ${unixMap ? 'offered' : 'not offered: inline Scanout/Update'})`, async (t) => {
    const env = await setup(t);
    const vm = await QemuVm.start(env.dir, { busAddress: env.bus.address, width: 1024, height: 768 });
    t.after(() => vm.stop());
    const service = await startCapture(env, t, { OFFER_UNIX_MAP: String(unixMap) });

    const statuses = await waitFor(
      'two frames with advancing frame numbers',
      () => {
        const decoded = env.frames
          .slice(-8)
          .map((f) => ringImage(env, f))
          .map((img) => (img ? readGuestStatus(img) : null))
          .filter((s) => s !== null);
        const first = decoded[0];
        const last = decoded.at(-1);
        return first && last && last.frame > first.frame ? [first, last] : undefined;
      },
      30_000,
      200,
    );
    assert.ok((statuses[1]?.frame ?? 0) > (statuses[0]?.frame ?? 0));
    const frame = env.frames.at(-1);
    assert.equal(frame?.vmId, 'test-vm');
    assert.equal(frame.width, 1024);
    assert.equal(frame.height, 768);
    assert.equal(frame.format, qemu_webrtc.v1.PixelFormat.PIXEL_FORMAT_BGRX);

    await assertRingEqualsScreendump(env, vm);

    const metrics = await fetch(`http://127.0.0.1:${service.metricsPort ?? 0}/metrics`).then((r) => r.text());
    const used = [...metrics.matchAll(/capture_qemu_messages_total\{method="(\w+)"\} (\d+)/g)].map(
      (m) => `${m[1]} ${m[2]}`,
    );
    // Without Unix.Map QEMU must use the inline path. With it, QEMU decides per surface: VGA's
    // surface lives in guest VRAM (no memfd), so Scanout/Update are normal there too.
    if (!unixMap)
      assert.ok(!used.some((u) => u.startsWith('ScanoutMap') || u.startsWith('UpdateMap')), used.join(', '));
    assert.ok(
      used.some((u) => u.startsWith('Scanout') || u.startsWith('ScanoutMap')),
      used.join(', '),
    );
    t.diagnostic(`listener calls from QEMU: ${used.join(', ')}`);
  });
}

test('capture waits for QEMU, follows it through a kill, a restart and a restart of the bus daemon', async (t) => {
  const env = await setup(t);
  const service = await startCapture(env, t);
  assert.equal(service.vmCapture, undefined, 'no QEMU yet');

  const first = await QemuVm.start(env.dir, { busAddress: env.bus.address, width: 1280, height: 720 });
  await waitFor('frames from the first QEMU', () => env.frames.some((f) => f.width === 1280));
  await first.process.kill();
  await first.stop();

  const second = await QemuVm.start(env.dir, { busAddress: env.bus.address, width: 1024, height: 768 });
  t.after(() => second.stop());
  const seen = env.frames.length;
  await waitFor(
    'frames from the restarted QEMU',
    () => env.frames.slice(seen).some((f) => f.width === 1024),
    30_000,
  );
  // The first frames after boot can precede the guest's first drawing: wait for a drawn one.
  const status = await waitFor('the restarted guest, readable from the ring', () => {
    const img = ringImage(env, env.frames.at(-1) as qemu_webrtc.v1.FrameReady);
    return img && img.width === 1024 ? (readGuestStatus(img) ?? undefined) : undefined;
  });
  assert.equal(status.presses, 0, 'a freshly booted guest, not a frame left from the first one');

  // The bus daemon itself restarts (same socket path), then a QEMU on the new bus: capture
  // reconnects on its own.
  await second.stop();
  await env.bus.stop();
  const bus2 = await DbusDaemon.start(env.dir);
  t.after(() => bus2.stop());
  assert.equal(bus2.address.split(',')[0], env.bus.address.split(',')[0], 'the same socket path');
  const third = await QemuVm.start(env.dir, { busAddress: bus2.address, width: 1280, height: 720 });
  t.after(() => third.stop());
  const before = env.frames.length;
  await waitFor(
    'frames from QEMU on the restarted bus',
    () => env.frames.slice(before).some((f) => f.width === 1280),
    40_000,
  );
});
