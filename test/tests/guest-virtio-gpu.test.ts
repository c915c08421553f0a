// The test guest on virtio-gpu (QEMU `-vga none -device virtio-gpu-pci`): it draws the same screen
// as on the std VGA, keys reach it, F12 switches its size; and the real capture service, fed by one
// RESOURCE_FLUSH per guest frame, publishes the guest's frames one by one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  countRingDumpMismatches,
  GuestRingFrames,
  isWholeFrame,
  QemuVm,
  TempDir,
  readGuestStatus,
  waitFor,
  type GuestStatus,
} from '@qemu-webrtc/test-kit';
import { CaptureProcess } from '../harness/capture-process.js';
import { startBusAndNats } from '../harness/bus-and-nats.js';

/**
 * The guest's status on QMP's screendump, once the screen has this size, shows the pattern and
 * `accept` holds; the screen must be one whole guest frame.
 */
async function screenStatus(
  vm: QemuVm,
  what: string,
  width: number,
  height: number,
  accept: (s: GuestStatus) => boolean = () => true,
): Promise<GuestStatus> {
  return waitFor(
    what,
    async () => {
      const img = await vm.screendump();
      if (img.width !== width || img.height !== height) return undefined;
      const s = readGuestStatus(img);
      if (!s || !accept(s)) return undefined;
      // null: no pattern yet (the screen as first drawn, or just after F12): wait for one.
      const whole = isWholeFrame(img, s.frame);
      return whole === null ? undefined : { status: s, whole };
    },
    30_000,
  ).then(({ status, whole }) => {
    // QEMU runs TRANSFER_TO_HOST_2D and screendump in its main thread: never half a frame.
    assert.equal(whole, true, `the screendump of frame ${status.frame} shows one whole frame`);
    return status;
  });
}

test('virtio-gpu: the guest draws its status, counts frames, gets QMP keys and switches size on F12', async (t) => {
  const dir = new TempDir();
  t.after(() => dir.remove());
  // Alternate size 1366x768: virtio-gpu takes any width (VGA would round it down to 1360).
  const vm = await QemuVm.start(dir, {
    video: 'virtio',
    width: 1280,
    height: 720,
    extraArgs: ['-append', '1280x720,1366x768'],
  });
  t.after(() => vm.stop());

  const first = await screenStatus(vm, 'the guest to draw at 1280x720', 1280, 720);
  const second = await screenStatus(
    vm,
    'the frame counter to advance',
    1280,
    720,
    (s) => s.frame > first.frame,
  );
  assert.ok(second.frame > first.frame);
  assert.equal(first.presses, 0);
  assert.equal(first.marker, false);

  await vm.qmp.sendKey(['a']);
  const a = await screenStatus(
    vm,
    'the key to reach the guest',
    1280,
    720,
    (s) => s.presses === 1 && s.held === 0,
  );
  assert.equal(a.scancode, 0x1e);
  assert.equal(a.marker, true, 'one press flips the marker to white');

  // F12: a new resource of the alternate size on the scanout; the frame count goes on.
  await vm.qmp.sendKey(['f12']);
  const alt = await screenStatus(vm, 'the alternate size after F12', 1366, 768, (s) => s.presses === 2);
  assert.equal(alt.scancode, 0x58);
  assert.equal(alt.marker, false);
  assert.ok(alt.frame >= a.frame, `frame ${alt.frame} after ${a.frame}`);
  const altLater = await screenStatus(
    vm,
    'frames at the alternate size',
    1366,
    768,
    (s) => s.frame > alt.frame,
  );
  assert.equal(altLater.presses, 2);

  await vm.qmp.sendKey(['f12']);
  const back = await screenStatus(vm, 'the first size after F12 again', 1280, 720, (s) => s.presses === 3);
  assert.equal(back.scancode, 0x58);
  assert.equal(back.marker, true);
  assert.ok(back.frame > altLater.frame);
  assert.equal(vm.serialOutput(), '', 'the guest reported no virtio-gpu error');
});

test('virtio-gpu: capture publishes the guest frame after frame, a still frame equals screendump, F12 resizes', async (t) => {
  // Torn down last in, first out: QEMU and capture before NATS and the bus.
  const cleanups: (() => unknown)[] = [];
  t.after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });
  const { dir, bus, nats, nc } = await startBusAndNats((fn) => cleanups.push(fn));
  const watch = new GuestRingFrames(nc, dir.path);
  cleanups.push(() => watch.close());
  await nc.flush();

  const vm = await QemuVm.start(dir, { busAddress: bus.address, video: 'virtio', width: 1280, height: 720 });
  cleanups.push(() => vm.stop());
  const capture = await CaptureProcess.start({
    natsUrl: nats.url,
    busAddress: bus.address,
    ringDir: dir.path,
  });
  cleanups.push(() => capture.stop());

  // Before the guest's first SET_SCANOUT, QEMU shows its own placeholder: start at the guest's frames.
  const start = await waitFor(
    "the guest's first frame in the ring",
    () => {
      const i = watch.frames.findIndex((f) => f.status);
      return i >= 0 ? i : undefined;
    },
    60_000,
  ).catch((error: unknown) => {
    throw new Error(`${String(error)}\ncapture: ${capture.process.output}\nguest: ${vm.serialOutput()}`);
  });
  const COUNT = 120;
  await waitFor(`${COUNT} published frames`, () => watch.frames.length >= start + COUNT, 120_000);
  const window = watch.frames.slice(start, start + COUNT);

  for (const f of window) {
    assert.equal(f.ready.width, 1280);
    assert.equal(f.ready.height, 720);
    assert.notEqual(f.status, null, `FrameReady ${f.ready.sequence} shows the guest's status blocks`);
  }
  // Whole frames only: a copy capture takes while QEMU transfers the next frame is torn (counted
  // below), and a tear through the counter row can read as any number.
  const read = window.flatMap((f) =>
    f.status && f.whole === true ? [{ status: f.status, at: f.receivedMs }] : [],
  );
  const counters = read.map((r) => r.status.frame);
  for (let i = 1; i < counters.length; i++) {
    assert.ok(
      (counters[i] ?? 0) >= (counters[i - 1] ?? 0),
      `guest frame counters in publishing order: ${counters.join(' ')}`,
    );
  }
  const firstRead = read[0];
  const lastRead = read.at(-1);
  assert.ok(firstRead && lastRead && lastRead.status.frame > firstRead.status.frame, 'the guest moved on');

  // Reported, not asserted (timing on a shared machine): how much of the guest's motion capture saw.
  const drawn = lastRead.status.frame - firstRead.status.frame;
  const seconds = (lastRead.at - firstRead.at) / 1000;
  const deltas = new Map<number, number>();
  for (let i = 1; i < counters.length; i++) {
    const d = (counters[i] ?? 0) - (counters[i - 1] ?? 0);
    deltas.set(d, (deltas.get(d) ?? 0) + 1);
  }
  const torn = window.filter((f) => f.whole === false).length;
  const unread = window.filter((f) => f.status === undefined).length;
  const span = ((window.at(-1)?.receivedMs ?? 0) - (window[0]?.receivedMs ?? 0)) / 1000;
  const calls = await capture.listenerCalls();
  t.diagnostic(
    `guest drew ${drawn} frames in ${seconds.toFixed(2)} s (${(drawn / seconds).toFixed(1)}/s); ` +
      `capture published ${COUNT} frames in ${span.toFixed(2)} s (${((COUNT - 1) / span).toFixed(1)} FrameReady/s), ` +
      `${read.length} of them whole, ` +
      `${new Set(counters).size} distinct guest frames; counter steps ${[...deltas]
        .sort((x, y) => x[0] - y[0])
        .map(([d, n]) => `${d}:${n}`)
        .join(' ')}; ${torn} torn (top and bottom of the pattern from different frames), ` +
      `${unread} overwritten before the test read them`,
  );
  t.diagnostic(`listener calls from QEMU: ${[...calls].map(([m, n]) => `${m} ${n}`).join(', ')}`);

  // A still moment: the guest paused, capture quiet, the newest slot equals QEMU's screendump.
  await vm.qmp.execute('stop');
  await waitFor(
    'capture to go quiet after pausing the guest',
    async () => {
      const before = watch.frames.length;
      await new Promise((r) => setTimeout(r, 700));
      return watch.frames.length === before;
    },
    20_000,
    0,
  );
  const last = watch.frames.at(-1);
  assert.ok(last);
  const ring = watch.image(last);
  assert.ok(ring, 'the newest slot is still valid');
  const dump = await vm.screendump();
  assert.equal(ring.width, dump.width);
  assert.equal(ring.height, dump.height);
  assert.equal(countRingDumpMismatches(ring, dump), 0, 'ring pixels equal QMP screendump');
  assert.deepEqual(readGuestStatus(ring), readGuestStatus(dump));
  await vm.qmp.execute('cont');

  // F12: a new resource on the scanout, so a new shared framebuffer (ScanoutMap) for capture.
  const seen = watch.frames.length;
  await vm.qmp.sendKey(['f12']);
  const resized = await waitFor(
    'guest frames at the alternate size in the ring',
    () =>
      watch.frames
        .slice(seen)
        .find((f) => f.ready.width === 1024 && f.ready.height === 768 && f.status?.presses === 1),
    30_000,
  );
  assert.equal(resized.status?.scancode, 0x58);
  assert.equal(vm.serialOutput(), '', 'the guest reported no virtio-gpu error');
});
