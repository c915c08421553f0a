// Capture's cost per frame: a QEMU listener call in, FrameReady out. Capture runs as its own process
// (services/capture/dist/src/main.js, so its CPU time is its own); QemuDisplayDouble plays QEMU and
// sends updates at a steady rate: Unix.Map UpdateMap of the whole frame and of a 256x256 region, and
// inline Update of the whole frame, at 1280x720 and 1920x1080.
//
// Reported per case: capture's own latency (FrameReady.publishedUs - qemuReceivedUs, one clock),
// end to end (the double starts sending -> this process has the FrameReady, both on our clock),
// frames/s, and capture's CPU time per frame (/proc/<pid>/stat, all threads; 10 ms ticks).
// Target, not asserted: under 1 ms per 1080p frame on the Unix.Map path.
import {
  closeSync,
  existsSync,
  ftruncateSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type NatsConnection } from 'nats';
import { subjects } from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import { ManagedProcess, QemuDisplayDouble, TempDir, waitFor } from '@qemu-webrtc/test-kit';
import {
  percentiles,
  printTable,
  serviceMain,
  round,
  startNatsAndBus,
  writeResults,
  type Row,
} from './bench-kit.js';

const { FrameReady } = qemu_webrtc.v1;

const RATE_HZ = Number(process.env.BENCH_RATE_HZ ?? 60);
const WARMUP_MS = 500;
const MEASURE_MS = Number(process.env.BENCH_SECONDS ?? 3) * 1000;
const REGION = 256;
const CLOCK_TICKS_PER_S = 100; // getconf CLK_TCK on Linux

type Path = 'map' | 'inline';
interface Case {
  path: Path;
  width: number;
  height: number;
  /** Side of the updated square; undefined: the whole frame. */
  region?: number;
}

/** BENCH_CASES=map (or inline, 1080 ...): only the cases whose label contains it. */
const CASES: Case[] = [1280, 1920]
  .flatMap((width): Case[] => {
    const height = width === 1920 ? 1080 : 720;
    return [
      { path: 'map', width, height },
      { path: 'map', width, height, region: REGION },
      { path: 'inline', width, height },
    ];
  })
  .filter((c) => `${c.path} ${c.width}x${c.height}`.includes(process.env.BENCH_CASES ?? ''));

/** CPU seconds (all threads) of a process so far, user and system. */
function cpuTimes(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]) / CLOCK_TICKS_PER_S, system: Number(fields[12]) / CLOCK_TICKS_PER_S };
}

function cpuSeconds(pid: number): number {
  const t = cpuTimes(pid);
  return t.user + t.system;
}

/** An anonymous shared-memory file (tmpfs, unlinked): maps exactly like QEMU's memfd. */
function sharedFramebuffer(dir: string, bytes: Buffer): number {
  const path = join(dir, `framebuffer-${process.pid}`);
  const fd = openSync(path, 'w+', 0o600);
  unlinkSync(path);
  ftruncateSync(fd, bytes.length);
  writeSync(fd, bytes, 0, bytes.length, 0);
  return fd;
}

/** A frame whose pixels differ per row; `fill` changes row `y` in place (what the guest draws). */
function frameBytes(width: number, height: number): Buffer {
  const buf = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) buf.fill(y & 0xff, y * width * 4, (y + 1) * width * 4);
  return buf;
}

interface Collector {
  /** Send times (performance.now()) not yet covered by a FrameReady. */
  unmatched: number[];
  capture: number[];
  endToEnd: number[];
  frames: number;
  measuring: boolean;
  last: qemu_webrtc.v1.FrameReady | undefined;
}

function collect(nc: NatsConnection): Collector {
  const c: Collector = {
    unmatched: [],
    capture: [],
    endToEnd: [],
    frames: 0,
    measuring: false,
    last: undefined,
  };
  nc.subscribe(subjects.frameReadyAll, {
    callback: (_err, msg) => {
      const now = performance.now();
      const frame = FrameReady.decode(msg.data);
      c.last = frame;
      const first = c.unmatched[0];
      c.unmatched.length = 0; // capture coalesces: this frame covers every update sent so far
      if (!c.measuring || first === undefined) return;
      c.frames++;
      c.endToEnd.push(now - first);
      c.capture.push((frame.publishedUs - frame.qemuReceivedUs) / 1000);
    },
  });
  return c;
}

async function runCase(
  double: QemuDisplayDouble,
  shmDir: string,
  capturePid: number,
  c: Case,
  col: Collector,
): Promise<Row> {
  const { width, height } = c;
  const stride = width * 4;
  const pixels = frameBytes(width, height);
  let fd: number | undefined;
  if (c.path === 'map') {
    fd = sharedFramebuffer(shmDir, pixels);
    await double.scanoutMap(fd, 0, width, height, stride);
  } else {
    await double.scanout(width, height, stride, pixels);
  }
  await waitFor(
    'the scanout frame',
    () => col.last?.width === width && col.last.height === height,
    10_000,
    10,
  );

  const row = Buffer.alloc(stride);
  const send = async (i: number): Promise<void> => {
    const region = c.region ?? 0;
    const x = region > 0 ? (i * 97) % (width - region) : 0;
    const y = region > 0 ? (i * 61) % (height - region) : 0;
    const changed = y + (i % (region > 0 ? region : height));
    row.fill(i & 0xff);
    col.unmatched.push(performance.now());
    if (c.path === 'map' && fd !== undefined) {
      writeSync(fd, row, 0, stride, changed * stride);
      if (region > 0) await double.updateMap(x, y, region, region);
      else await double.updateMap(0, 0, width, height);
    } else {
      row.copy(pixels, changed * stride);
      await double.update(0, 0, width, height, pixels);
    }
  };

  const period = 1000 / RATE_HZ;
  const drive = async (ms: number, from: number): Promise<number> => {
    const start = performance.now();
    let i = from;
    while (performance.now() - start < ms) {
      await send(i++);
      const next = start + (i - from) * period;
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
    }
    return i;
  };

  const sent = await drive(WARMUP_MS, 0);
  await sleep(100);
  col.measuring = true;
  col.frames = 0;
  col.capture = [];
  col.endToEnd = [];
  const cpu0 = cpuTimes(capturePid);
  const t0 = performance.now();
  const total = (await drive(MEASURE_MS, sent)) - sent;
  await waitFor('the last frames', () => col.unmatched.length === 0, 5000, 5).catch(() => undefined);
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = cpuTimes(capturePid);
  const user = cpu1.user - cpu0.user;
  const system = cpu1.system - cpu0.system;
  const cpu = user + system;
  const perFrame = (s: number): number | null => round((s * 1000) / Math.max(1, col.frames), 3);
  col.measuring = false;
  if (fd !== undefined) closeSync(fd);

  const lat = percentiles(col.capture);
  const e2e = percentiles(col.endToEnd);
  return {
    path: c.path === 'map' ? 'Unix.Map' : 'inline',
    size: `${width}x${height}`,
    update: c.region !== undefined ? `${c.region}x${c.region}` : 'full',
    sent: total,
    frames: col.frames,
    fps: round(col.frames / seconds, 1),
    capture_p50_ms: round(lat.p50, 3),
    capture_p99_ms: round(lat.p99, 3),
    e2e_p50_ms: round(e2e.p50, 3),
    e2e_p99_ms: round(e2e.p99, 3),
    cpu_ms_per_frame: perFrame(cpu),
    user_ms: perFrame(user),
    sys_ms: perFrame(system),
    cpu_pct: round((cpu / seconds) * 100, 1),
  };
}

async function main(): Promise<void> {
  const main = serviceMain('capture');
  if (!existsSync(main)) throw new Error(`${main} is missing: build @qemu-webrtc/capture first`);
  const dir = new TempDir('qw-bench-');
  const shmDir = mkdtempSync('/dev/shm/qw-bench-'); // the ring and the framebuffer live in RAM, as deployed
  const cleanups: (() => Promise<void> | void)[] = [
    () => dir.remove(),
    () => rmSync(shmDir, { recursive: true, force: true }),
  ];
  try {
    const { nats, bus } = await startNatsAndBus(dir, (fn) => cleanups.unshift(fn));
    const double = await QemuDisplayDouble.start({
      busAddress: bus.address,
      name: 'bench',
      width: 1920,
      height: 1080,
    });
    cleanups.unshift(() => double.stop());
    const nc = await connect({ servers: nats.url });
    cleanups.unshift(() => nc.close());
    const col = collect(nc);
    await nc.flush();

    // e.g. BENCH_CAPTURE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile capture.
    const nodeArgs = (process.env.BENCH_CAPTURE_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
    const capture = new ManagedProcess('capture', process.execPath, [...nodeArgs, main], {
      env: {
        ...process.env,
        NATS_URL: nats.url,
        DBUS_ADDRESS: bus.address,
        RING_DIR: shmDir,
        METRICS_PORT: '0',
        VM_ID: 'bench',
        CAPTURE_MAX_FPS: '240',
        LOG_LEVEL: 'warn',
      },
    });
    cleanups.unshift(() => capture.stop());
    const pid = capture.child.pid;
    if (pid === undefined) throw new Error('capture did not start');
    await double.waitForListener(20_000).catch((error: unknown) => {
      throw new Error(`capture registered no listener: ${String(error)}\n${capture.output}`);
    });

    const idle0 = cpuSeconds(pid);
    await sleep(2000);
    const idlePct = ((cpuSeconds(pid) - idle0) / 2) * 100;
    const rows: Row[] = [];
    for (const c of CASES) rows.push(await runCase(double, shmDir, pid, c, col));
    printTable(
      rows,
      `capture: QEMU call in -> FrameReady out, driven at ${RATE_HZ} Hz for ${MEASURE_MS / 1000} s per case (capture idle: ${round(idlePct, 1)}% CPU)`,
    );
    process.stdout.write(`wrote ${writeResults('capture', rows)}\n`);
  } finally {
    for (const fn of cleanups) await fn();
  }
}

await main();
