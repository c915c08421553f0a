// Capture follows a guest resolution change (test guest: F12 switches 1280x720 -> 1024x768): a new
// ring (generation and file), FrameReady at the new size, ring pixels equal to QMP's screendump, and
// ConsoleInfo with the new size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import { QemuVm, readGuestStatus, waitFor } from '@qemu-webrtc/test-kit';
import { assertRingEqualsScreendump, ringImage, setup, startCapture } from './capture-harness.js';

for (const unixMap of [true, false]) {
  test(`capture follows a resolution change (Unix.Map ${unixMap ? 'offered' : 'not offered: inline Scanout/Update'})`, async (t) => {
    const env = await setup(t);
    const vm = await QemuVm.start(env.dir, { busAddress: env.bus.address, width: 1280, height: 720 });
    env.defer(() => vm.stop());
    const service = await startCapture(env, t, { OFFER_UNIX_MAP: String(unixMap) });

    const before = await waitFor(
      'a readable 1280x720 frame',
      () => {
        const f = env.frames.at(-1);
        const img = f && f.width === 1280 ? ringImage(env, f) : undefined;
        return img && readGuestStatus(img) ? f : undefined;
      },
      30_000,
      200,
    );
    assert.equal(before.height, 720);
    await waitFor('ConsoleInfo with 1280x720', () =>
      env.infos.some((i) => i.width === 1280 && i.height === 720),
    );

    const seen = env.frames.length;
    const infosSeen = env.infos.length;
    await vm.qmp.sendKey(['f12']);

    const first = await waitFor(
      'a 1024x768 frame after F12',
      () => env.frames.slice(seen).find((f) => f.width === 1024 && f.height === 768),
      30_000,
    );
    assert.ok(first.ringGeneration > before.ringGeneration, 'a new ring generation');
    assert.notEqual(first.ringName, before.ringName, 'a new ring file');
    assert.ok(existsSync(join(env.dir.path, first.ringName)), 'the new ring file exists');
    assert.equal(first.stride, 1024 * 4);
    assert.equal(first.format, qemu_webrtc.v1.PixelFormat.PIXEL_FORMAT_BGRX);
    assert.deepEqual(
      env.frames.slice(seen).filter((f) => f.width !== 1024 && f.width !== 1280),
      [],
      'no other size in between',
    );

    const status = await waitFor(
      'the guest to show the F12 press in the new ring',
      () => {
        const f = env.frames.at(-1);
        const img = f ? ringImage(env, f) : undefined;
        const s = img ? readGuestStatus(img) : null;
        return s && s.presses === 1 ? s : undefined;
      },
      30_000,
      200,
    );
    assert.equal(status.scancode, 0x58);
    assert.equal(status.marker, true);

    await assertRingEqualsScreendump(env, vm);
    const last = env.frames.at(-1);
    assert.ok(last);
    assert.equal(last.width, 1024);
    assert.equal(last.height, 768);
    assert.equal(last.ringGeneration, first.ringGeneration, 'no ring change after the switch');
    assert.ok(
      env.frames.slice(env.frames.indexOf(first)).every((f) => f.ringName === first.ringName),
      'every frame after the switch is in the new ring',
    );

    // QEMU picks the path: a VGA surface shared with guest memory has no memfd, so even with
    // Unix.Map offered it often sends inline Scanouts. Shown, not asserted.
    const metrics = await fetch(`http://127.0.0.1:${service.metricsPort ?? 0}/metrics`).then((r) => r.text());
    t.diagnostic(
      [...metrics.matchAll(/^capture_qemu_messages_total\{method="((?:Scanout|Update)\w*)"\} (\d+)$/gm)]
        .map((m) => `${m[1] ?? ''} ${m[2] ?? ''}`)
        .join(', '),
    );

    await waitFor(
      'ConsoleInfo with 1024x768',
      () =>
        env.infos.slice(infosSeen).some((i) => i.width === 1024 && i.height === 768 && i.vmId === 'test-vm'),
      15_000,
    );
  });
}
