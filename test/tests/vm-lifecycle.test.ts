// A VM console's real life, seen from one page that is never reloaded: the system as a user starts
// it (`node scripts/start.mjs --vm <bus>`, capture and an encoder) plus a second encoder, our own
// QEMU (test guest on virtio-gpu) killed with SIGKILL and started again three times, the guest
// switching its mode twice (F12) and capture killed once. After each, the page shows new guest
// frames. At the end each encoder maps only the rings FrameReady names now (/proc/<pid>/maps), and
// the ring directory holds nothing else: no ring of a dead QEMU, an old mode or a killed capture.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from 'nats';
import type { Page } from 'playwright-core';
import { subjects } from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import {
  ManagedProcess,
  QemuVm,
  freePort,
  guestStatusInPage,
  launchWebrtcChromium,
  openPlayer,
  statusFromPage,
  waitFor,
  type GuestStatus,
  type QemuOptions,
} from '@qemu-webrtc/test-kit';
import { FREE_PORT_ARGS, StartedSystem } from '../harness/started-system.js';
import { startDirAndBus } from '../harness/bus-and-nats.js';

const { FrameReady } = qemu_webrtc.v1;

const WIDTH = 1024;
const HEIGHT = 768;
/** The mode F12 switches the guest to (packages/demo-vm/guest/README.md: the layout needs a width >= 928). */
const ALT_WIDTH = 960;
const ALT_HEIGHT = 600;
const VM_ID = 'lifecycle';
const CONTROL = 'lifecycle-control-token';
/** Two renditions, so that both encoders have a stream to hold (rendezvous hashing decides). */
const RENDITIONS = 'full:1:4000000,half:0.5:1000000';
const encoderMainPath = fileURLToPath(import.meta.resolve('@qemu-webrtc/encoder/main'));

/** The guest's status read from the page once it shows the guest at width x height and `accept` holds. */
function guestInPage(
  page: Page,
  what: string,
  width: number,
  height: number,
  accept: (s: GuestStatus) => boolean,
): Promise<GuestStatus> {
  return guestStatusInPage(page, what, { size: { width, height }, accept, timeoutMs: 90_000 });
}

/** The page shows this guest (`accept`) at this size, and then a later frame of it. */
async function newFramesInPage(
  page: Page,
  what: string,
  width: number,
  height: number,
  accept: (s: GuestStatus) => boolean,
): Promise<GuestStatus> {
  const first = await guestInPage(page, what, width, height, accept);
  return guestInPage(
    page,
    `${what}: a later frame`,
    width,
    height,
    (s) => accept(s) && s.frame > first.frame,
  );
}

/** The ring files a process maps now, and whether any of them is already unlinked. */
function mappedRings(pid: number, ringDir: string): { names: string[]; deleted: string[] } {
  const names = new Set<string>();
  const deleted = new Set<string>();
  for (const line of readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n')) {
    const at = line.indexOf('/');
    if (at < 0) continue;
    const path = line.slice(at);
    const isDeleted = path.endsWith(' (deleted)');
    const file = isDeleted ? path.slice(0, -' (deleted)'.length) : path;
    if (dirname(file) !== ringDir) continue;
    (isDeleted ? deleted : names).add(basename(file));
  }
  return { names: [...names].sort(), deleted: [...deleted].sort() };
}

test('a page plays on through three QEMU kills, two mode changes and a capture kill; only current rings remain', async (t) => {
  const { dir, bus } = await startDirAndBus((fn) => t.after(fn));
  const qemuOptions: QemuOptions = {
    busAddress: bus.address,
    width: WIDTH,
    height: HEIGHT,
    video: 'virtio',
    extraArgs: ['-append', `${WIDTH}x${HEIGHT},${ALT_WIDTH}x${ALT_HEIGHT}`],
  };
  let vm = await QemuVm.start(dir, qemuOptions);
  t.after(() => vm.stop());

  const system = await StartedSystem.start(
    ['--vm', bus.address, '--vm-id', VM_ID, ...FREE_PORT_ARGS, '--max-fps', '30'],
    { env: { SIGNALING_TOKENS: `${CONTROL}:control`, ENCODER_RENDITIONS: RENDITIONS } },
  );
  t.after(() => system.stop());
  const { ringDir, natsUrl } = system.ready;
  // The test's own NATS user (the start command gives each service one; the test user may use any
  // subject): this test's client and the second encoder use it.
  const natsUser = system.natsOptions();

  // The ring each console's newest FrameReady names.
  const nc = await connect(natsUser);
  t.after(() => nc.close());
  const current = new Map<number, string>();
  nc.subscribe(subjects.frameReadyAll, {
    callback: (_err, msg) => {
      const f = FrameReady.decode(msg.data);
      if (f.vmId === VM_ID) current.set(f.consoleId, f.ringName);
    },
  });

  const encoder2Port = await freePort();
  const encoder2 = new ManagedProcess('encoder-2', process.execPath, [encoderMainPath], {
    env: {
      ...process.env,
      NATS_URL: natsUrl,
      NATS_USER: natsUser.user,
      NATS_PASSWORD: natsUser.pass,
      RING_DIR: ringDir,
      METRICS_PORT: String(encoder2Port),
      ENCODER_RENDITIONS: RENDITIONS,
      ENCODER_MAX_FPS: '30',
      LOG_LEVEL: 'warn',
    },
  });
  t.after(() => encoder2.stop());

  const browser = await launchWebrtcChromium();
  t.after(() => browser.close());
  const page = await openPlayer(browser, system.baseUrl, VM_ID, CONTROL);

  // The first guest, marked by a key press: a new guest shows 0 presses.
  await newFramesInPage(page, 'the first guest', WIDTH, HEIGHT, (s) => s.presses === 0);
  await vm.qmp.sendKey(['a']);
  await newFramesInPage(page, 'the key in the first guest', WIDTH, HEIGHT, (s) => s.presses === 1);

  for (let round = 1; round <= 3; round++) {
    vm.process.signal('SIGKILL');
    await vm.process.exited;
    await vm.stop();
    vm = await QemuVm.start(dir, qemuOptions);
    const s = await newFramesInPage(
      page,
      `restart ${round}: the new guest`,
      WIDTH,
      HEIGHT,
      (x) => x.presses === 0,
    );
    t.diagnostic(`restart ${round}: the page shows the new guest's frame ${s.frame}`);
    if (round <= 2) {
      // F12: the guest switches mode (a new scanout of the other size, so a new ring).
      await vm.qmp.sendKey(['f12']);
      const alt = await newFramesInPage(
        page,
        `restart ${round}: the guest's new mode`,
        ALT_WIDTH,
        ALT_HEIGHT,
        (x) => x.presses === 1,
      );
      t.diagnostic(`mode change ${round}: the page shows frame ${alt.frame} at ${ALT_WIDTH}x${ALT_HEIGHT}`);
    }
    if (round === 2) {
      // capture killed: start.mjs restarts it, and the new capture finds the old one's ring.
      const pid = system.pidOf('capture');
      assert.ok(pid !== undefined, 'start.mjs runs capture');
      process.kill(pid, 'SIGKILL');
      await system.waitForEvent(
        'capture’s restart',
        (e) => e.event === 'started' && e.name === 'capture' && e.pid !== pid,
      );
      const before = await statusFromPage(page);
      await newFramesInPage(
        page,
        'frames from the restarted capture',
        ALT_WIDTH,
        ALT_HEIGHT,
        (x) => x.presses === 1 && x.frame > (before?.frame ?? 0),
      );
    }
  }

  const encoderPids = [system.pidOf('encoder'), encoder2.child.pid];
  const [pid1, pid2] = encoderPids;
  assert.ok(pid1 !== undefined && pid2 !== undefined, 'two encoders run');
  // Settled: FrameReady names the rings of now; nothing else is in the ring directory or mapped.
  const final = await waitFor(
    'only the current rings in the ring directory and in the encoders’ mappings',
    () => {
      const names = [...current.values()].sort();
      const files = readdirSync(ringDir).sort();
      const maps = [pid1, pid2].map((pid) => mappedRings(pid, ringDir));
      const onlyCurrent =
        names.length > 0 &&
        JSON.stringify(files) === JSON.stringify(names) &&
        maps.every((m) => m.deleted.length === 0 && m.names.every((n) => names.includes(n)));
      return onlyCurrent ? { names, files, maps } : undefined;
    },
    15_000,
    250,
  ).catch((error: unknown) => {
    const maps = [pid1, pid2].map((pid) => mappedRings(pid, ringDir));
    throw new Error(
      `${String(error)}\ncurrent rings ${JSON.stringify([...current.values()])}\n` +
        `ring directory ${JSON.stringify(readdirSync(ringDir))}\nencoder mappings ${JSON.stringify(maps)}`,
    );
  });
  const held = await Promise.all(
    [system.ready.metricsPorts.encoder, encoder2Port].map(async (port) => {
      const health = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as {
        streams?: string[];
      };
      return health.streams ?? [];
    }),
  );
  t.diagnostic(
    `current rings ${final.names.join(', ')}; encoders hold ${JSON.stringify(held)} and map ` +
      JSON.stringify(final.maps.map((m) => m.names)),
  );
  // The check above means something only if the encoders map rings at all: the page plays.
  assert.ok(
    final.maps.some((m) => m.names.length > 0),
    'an encoder maps the current ring (it encodes the page’s stream)',
  );
});
