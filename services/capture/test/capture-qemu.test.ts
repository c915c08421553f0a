// Capture against real QEMU 10 running the test guest (gl=off): the frame ring holds exactly what
// QEMU's own screendump shows, frame numbers advance, and QEMU restarts are survived.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { createLogger, readConfig, subjects } from '@qemu-webrtc/common';
import { FrameRingReader } from '@qemu-webrtc/frame-ring';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import {
  DbusDaemon,
  NatsServer,
  QemuVm,
  TempDir,
  readGuestStatus,
  waitFor,
  type GuestScreenImage,
} from '@qemu-webrtc/test/kit';
import { captureConfigShape } from '../src/config.js';
import { CaptureService } from '../src/service.js';

const { FrameReady } = qemu_webrtc.v1;

interface Env {
  dir: TempDir;
  bus: DbusDaemon;
  nats: NatsServer;
  nc: NatsConnection;
  frames: qemu_webrtc.v1.FrameReady[];
}

async function setup(t: { after: (fn: () => unknown) => void }): Promise<Env> {
  const dir = new TempDir();
  t.after(() => dir.remove());
  const bus = await DbusDaemon.start(dir);
  t.after(() => bus.stop());
  const nats = await NatsServer.start(dir);
  t.after(() => nats.stop());
  const nc = await connect({ servers: nats.url });
  t.after(() => nc.close());
  const frames: qemu_webrtc.v1.FrameReady[] = [];
  const sub = nc.subscribe(subjects.frameReadyAll);
  void (async () => {
    for await (const m of sub) frames.push(FrameReady.decode(m.data));
  })();
  await nc.flush();
  return { dir, bus, nats, nc, frames };
}

async function startCapture(
  env: Env,
  t: { after: (fn: () => unknown) => void },
  extra: Record<string, string> = {},
): Promise<CaptureService> {
  const config = readConfig(captureConfigShape, {
    NATS_URL: env.nats.url,
    DBUS_ADDRESS: env.bus.address,
    RING_DIR: env.dir.path,
    METRICS_PORT: '0',
    VM_ID: 'test-vm',
    ...extra,
  });
  const service = await CaptureService.create(
    config,
    createLogger('capture', process.env.LOG_LEVEL ?? 'silent'),
  );
  t.after(() => service.destroy());
  await service.start();
  return service;
}

function ringImage(env: Env, frame: qemu_webrtc.v1.FrameReady): GuestScreenImage | undefined {
  const reader = FrameRingReader.open(join(env.dir.path, frame.ringName));
  try {
    const slot = reader.read(frame.slot, frame.sequence);
    if (!slot) return undefined;
    const copy = new Uint8Array(slot.pixels); // a private copy, checked against the slot afterwards
    if (!reader.stillValid(frame.slot, frame.sequence)) return undefined;
    return { data: copy, width: slot.width, height: slot.height, stride: slot.stride, layout: 'bgrx' };
  } finally {
    reader.close();
  }
}

/** Pauses the guest, waits for capture to go quiet, and compares the ring with QMP's screendump. */
async function assertRingEqualsScreendump(env: Env, vm: QemuVm): Promise<void> {
  await vm.qmp.execute('stop');
  let count = -1;
  await waitFor(
    'capture to go quiet after pausing the guest',
    async () => {
      const before = env.frames.length;
      await new Promise((r) => setTimeout(r, 700));
      count = env.frames.length;
      return before === count && count > 0;
    },
    20_000,
    0,
  );
  const last = env.frames.at(-1);
  assert.ok(last);
  const ring = ringImage(env, last);
  assert.ok(ring, 'the newest slot is still valid');
  const dump = await vm.screendump();
  assert.equal(ring.width, dump.width);
  assert.equal(ring.height, dump.height);
  let mismatches = 0;
  for (let y = 0; y < dump.height; y++) {
    for (let x = 0; x < dump.width; x++) {
      const d = y * dump.stride + x * 3;
      const r = y * ring.stride + x * 4;
      if (
        ring.data[r] !== dump.data[d + 2] ||
        ring.data[r + 1] !== dump.data[d + 1] ||
        ring.data[r + 2] !== dump.data[d]
      )
        mismatches++;
    }
  }
  assert.equal(mismatches, 0, `${mismatches} pixels differ between the ring and QMP screendump`);
  await vm.qmp.execute('cont');
}

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
    const method = unixMap ? 'UpdateMap' : 'Update';
    assert.match(
      metrics,
      new RegExp(`capture_qemu_messages_total\\{method="${method}"\\} [1-9]`),
      `QEMU used ${method}`,
    );
  });
}

test('capture waits for QEMU, follows it through a kill and a restart, and never restarts itself', async (t) => {
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
  const img = ringImage(env, env.frames.at(-1) as qemu_webrtc.v1.FrameReady);
  assert.ok(img && readGuestStatus(img), 'the restarted guest is readable from the ring');
});
