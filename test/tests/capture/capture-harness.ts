// Shared by the capture tests that run real QEMU: a private bus and NATS, capture in-process, the
// FrameReady and ConsoleInfo messages it publishes, and the ring-versus-screendump comparison.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { NatsConnection } from 'nats';
import { createLogger, readConfig, subjects } from '@qemu-webrtc/common';
import { FrameRingReader } from '@qemu-webrtc/frame-ring';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import {
  DbusDaemon,
  countRingDumpMismatches,
  NatsServer,
  TempDir,
  waitFor,
  type GuestScreenImage,
  type QemuVm,
} from '@qemu-webrtc/test-kit';
import { captureConfigShape } from '@qemu-webrtc/capture/config';
import { CaptureService } from '@qemu-webrtc/capture/service';
import { startBusAndNats } from '../../harness/bus-and-nats.js';

const { FrameReady, ConsoleInfo } = qemu_webrtc.v1;

export interface TestContext {
  after: (fn: () => unknown) => void;
}

export interface Env {
  dir: TempDir;
  bus: DbusDaemon;
  nats: NatsServer;
  nc: NatsConnection;
  /** Every FrameReady seen, in order. */
  frames: qemu_webrtc.v1.FrameReady[];
  /** Every ConsoleInfo seen, in order. */
  infos: qemu_webrtc.v1.ConsoleInfo[];
  /**
   * Runs `fn` at the end of the test, before what was deferred earlier (last in, first out), and
   * before the bus and NATS stop: a service stopped after NATS would wait for it forever.
   */
  defer: (fn: () => unknown) => void;
}

/** A temporary directory, a private dbus-daemon, nats-server, and a client recording what capture says. */
export async function setup(t: TestContext): Promise<Env> {
  // node:test runs after-hooks first in, first out; teardown here runs last in, first out.
  const cleanups: (() => unknown)[] = [];
  const defer = (fn: () => unknown): void => {
    cleanups.push(fn);
  };
  t.after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });
  const { dir, bus, nats, nc } = await startBusAndNats(defer);
  const frames: qemu_webrtc.v1.FrameReady[] = [];
  const infos: qemu_webrtc.v1.ConsoleInfo[] = [];
  const frameSub = nc.subscribe(subjects.frameReadyAll);
  void (async () => {
    for await (const m of frameSub) frames.push(FrameReady.decode(m.data));
  })();
  const infoSub = nc.subscribe(subjects.consoleInfoAll);
  void (async () => {
    for await (const m of infoSub) infos.push(ConsoleInfo.decode(m.data));
  })();
  await nc.flush();
  return { dir, bus, nats, nc, frames, infos, defer };
}

/** The capture service in this process, VM id "test-vm", metrics on a free port. */
export async function startCapture(
  env: Env,
  _t: TestContext,
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
  env.defer(() => service.destroy());
  await service.start();
  return service;
}

/** A private copy of the ring slot a FrameReady names; undefined when it was overwritten meanwhile. */
export function ringImage(env: Env, frame: qemu_webrtc.v1.FrameReady): GuestScreenImage | undefined {
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
export async function assertRingEqualsScreendump(env: Env, vm: QemuVm): Promise<void> {
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
  const mismatches = countRingDumpMismatches(ring, dump);
  assert.equal(mismatches, 0, `${mismatches} pixels differ between the ring and QMP screendump`);
  await vm.qmp.execute('cont');
}
