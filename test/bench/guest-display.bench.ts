// How much of the test guest's motion reaches capture, std VGA against virtio-gpu: QEMU refreshes
// VGA on its GUI timer (~30 ms) while virtio-gpu hands every RESOURCE_FLUSH to the display at once.
// Real QEMU (TCG) running the test guest at 60 frames/s, real capture as its own process, NATS.
//
// Per case: the guest's frame rate (its frame counter, read from ring pixels, per second of wall
// time), FrameReady per second, how many distinct guest frames capture published per guest frame
// drawn (coverage), the largest counter step between consecutive frames, the share of published
// frames that are one whole guest frame (not torn: the pattern's top and bottom show the frame the
// counter says), and CPU of QEMU and capture.
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from 'nats';
import type { GuestVideo } from '@qemu-webrtc/demo-vm';
import { DbusDaemon, GuestRingFrames, NatsServer, QemuVm, TempDir, waitFor } from '@qemu-webrtc/test-kit';
import { CaptureProcess } from '../harness/capture-process.js';
import { cpuSeconds, printTable, round, startNatsAndBus, writeResults, type Row } from './bench-kit.js';

const WARMUP_MS = 1000;
const MEASURE_MS = Number(process.env.BENCH_SECONDS ?? 5) * 1000;

interface Case {
  video: GuestVideo;
  width: number;
  height: number;
}

/** BENCH_CASES=virtio (or vga, 1920 ...): only the cases whose label contains it. */
const CASES: Case[] = (['vga', 'virtio'] as const)
  .flatMap((video): Case[] => [
    { video, width: 1280, height: 720 },
    { video, width: 1920, height: 1080 },
  ])
  .filter((c) => `${c.video} ${c.width}x${c.height}`.includes(process.env.BENCH_CASES ?? ''));

async function runCase(
  dir: TempDir,
  bus: DbusDaemon,
  nats: NatsServer,
  watch: GuestRingFrames,
  c: Case,
): Promise<Row> {
  const { video, width, height } = c;
  const caseStart = watch.frames.length;
  const vm = await QemuVm.start(dir, { busAddress: bus.address, video, width, height });
  const capture = await CaptureProcess.start({
    natsUrl: nats.url,
    busAddress: bus.address,
    ringDir: dir.path,
    env: process.env.BENCH_CAPTURE_MAX_FPS ? { CAPTURE_MAX_FPS: process.env.BENCH_CAPTURE_MAX_FPS } : {},
  });
  try {
    await waitFor(
      `the guest's frames at ${width}x${height} in the ring`,
      () => watch.frames.slice(caseStart).some((f) => f.status && f.ready.width === width),
      60_000,
    );
    await sleep(WARMUP_MS);
    const qemuPid = vm.process.child.pid ?? 0;
    const capturePid = capture.process.child.pid ?? 0;
    const cpu0 = { qemu: cpuSeconds(qemuPid), capture: cpuSeconds(capturePid) };
    const from = watch.frames.length;
    const t0 = performance.now();
    await sleep(MEASURE_MS);
    const seconds = (performance.now() - t0) / 1000;
    const cpu1 = { qemu: cpuSeconds(qemuPid), capture: cpuSeconds(capturePid) };
    const window = watch.frames.slice(from);
    const read = window.flatMap((f) => (f.status ? [{ frame: f.status.frame, at: f.receivedMs }] : []));
    const first = read[0];
    const last = read.at(-1);
    const drawn = first && last ? last.frame - first.frame : NaN;
    const span = first && last ? (last.at - first.at) / 1000 : NaN;
    let maxStep = 0;
    for (let i = 1; i < read.length; i++)
      maxStep = Math.max(maxStep, (read[i]?.frame ?? 0) - (read[i - 1]?.frame ?? 0));
    const distinct = new Set(read.map((r) => r.frame)).size;
    const checked = window.filter((f) => typeof f.whole === 'boolean');
    const whole = checked.filter((f) => f.whole === true).length;
    return {
      video,
      size: `${width}x${height}`,
      guest_fps: round(drawn / span, 1),
      frameready_per_s: round(window.length / seconds, 1),
      readable: read.length,
      coverage: round((distinct - 1) / drawn, 2),
      max_step: maxStep,
      whole_pct: round((whole / checked.length) * 100, 1),
      qemu_cpu_pct: round(((cpu1.qemu - cpu0.qemu) / seconds) * 100, 1),
      capture_cpu_pct: round(((cpu1.capture - cpu0.capture) / seconds) * 100, 1),
    };
  } finally {
    await capture.stop();
    await vm.stop();
  }
}

async function main(): Promise<void> {
  const dir = new TempDir('qw-bench-');
  const cleanups: (() => Promise<void> | void)[] = [() => dir.remove()];
  try {
    const { nats, bus } = await startNatsAndBus(dir, (fn) => cleanups.unshift(fn));
    const nc = await connect({ servers: nats.url });
    cleanups.unshift(() => nc.close());
    const watch = new GuestRingFrames(nc, dir.path);
    cleanups.unshift(() => {
      watch.close();
    });
    await nc.flush();
    const rows: Row[] = [];
    for (const c of CASES) rows.push(await runCase(dir, bus, nats, watch, c));
    printTable(
      rows,
      `test guest (60 frames/s) -> QEMU display -> capture -> FrameReady, ${MEASURE_MS / 1000} s per case`,
    );
    process.stdout.write(`wrote ${writeResults('guest-display', rows)}\n`);
  } finally {
    for (const fn of cleanups) await fn();
  }
}

await main();
