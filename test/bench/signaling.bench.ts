// Signaling's cost per viewer (issue 5): the signaling service as a child process fans one 1080p
// stream out to 1, 5 and 20 WHEP viewers on loopback, and we read its CPU time from /proc.
//
// - The stream: the test guest's pattern at 1920x1080 encoded once by the encoder addon (libx264,
//   the service's defaults: 12 Mbit/s, 60 fps), published as EncodedFrame on a real nats-server at
//   60 fps, looping (an IDR at each loop start and on every KeyframeRequest).
// - The viewers: node-datachannel peers in a separate process
//   (test/tests/signaling/fixtures/whep-viewers.ts) that count the RTP they receive, so their
//   SRTP decryption is not counted against signaling (on these 2 cores it still competes for CPU).
// - Per case: BENCH_SECONDS (default 8) of steady state after every viewer receives media.
//   cores = signaling CPU seconds / wall seconds; per_viewer_ms_s = CPU ms per second per viewer
//   above the no-viewer baseline; delivered = Mbit/s of RTP payload each viewer received.
// Target (not asserted): 20 viewers cost under half a core.
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type NatsConnection } from 'nats';
import { subjects, type StreamKey } from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import {
  EncoderAnnouncer,
  ManagedProcess,
  NatsServer,
  TempDir,
  freePort,
  waitFor,
} from '@qemu-webrtc/test-kit';
import {
  cpuSeconds,
  printTable,
  repoRoot,
  round,
  signalingProcess,
  writeResults,
  type Row,
} from './bench-kit.js';
import { loadAddon, makeFrames } from './guest-frames.js';

const { ConsoleInfo, EncodedFrame } = qemu_webrtc.v1;

const FPS = 60;
const WIDTH = 1920;
const HEIGHT = 1080;
const BITRATE = 12_000_000;
const LOOP_FRAMES = 240;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const VIEWER_COUNTS = (process.env.BENCH_VIEWERS ?? '1,5,20').split(',').map(Number);
const TOKEN = 'bench-view-token';
const STREAM: StreamKey = { vmId: 'bench', consoleId: 0, rendition: 'full' };

/** The 1080p access units, encoded once: the first is an IDR, the rest P-frames. */
async function encodeLoop(): Promise<Buffer[]> {
  const addon = loadAddon();
  const encoder = new addon.H264Encoder({
    width: WIDTH,
    height: HEIGHT,
    fps: FPS,
    bitrateBps: BITRATE,
    codec: 'libx264',
    preset: 'ultrafast',
    profile: 'constrained_baseline',
    keyintMax: 100_000,
    vbvBufferFrames: FPS / 2,
  });
  const units: Buffer[] = [];
  try {
    const frames = makeFrames({ width: WIDTH, height: HEIGHT }, LOOP_FRAMES);
    for (const [i, data] of frames.entries()) {
      const au = await encoder.encode({
        data,
        stride: WIDTH * 4,
        width: WIDTH,
        height: HEIGHT,
        format: 'bgrx',
        ptsUs: i * 16_667,
      });
      if (au) units.push(au.data);
    }
  } finally {
    encoder.close();
  }
  return units;
}

/** Publishes the loop at 60 fps as an encoder would; an IDR at the loop start and when asked. */
class StreamSource {
  private timer: NodeJS.Timeout | undefined;
  private next = 0;
  private sequence = 0;
  private readonly t0 = performance.now();
  private sent = 0;
  private readonly announcer: EncoderAnnouncer;
  bytesPerSecond: number;

  constructor(
    private readonly nc: NatsConnection,
    private readonly units: Buffer[],
  ) {
    this.bytesPerSecond = (units.reduce((n, u) => n + u.byteLength, 0) / units.length) * FPS;
    nc.subscribe(subjects.keyframeRequest(STREAM), { callback: () => (this.next = 0) });
    this.announcer = new EncoderAnnouncer(nc, 'bench-source', [STREAM]);
  }

  start(): void {
    // A schedule, not a fixed interval: frames due are sent even if a timer fires late.
    this.timer = setInterval(() => {
      const due = Math.floor(((performance.now() - this.t0) * FPS) / 1000);
      while (this.sent < due) this.publish();
    }, 4);
  }

  private publish(): void {
    this.sent++;
    const i = this.next;
    this.next = (i + 1) % this.units.length;
    const data = this.units[i];
    if (!data || this.nc.isClosed()) return;
    const nowUs = Math.round((performance.timeOrigin + performance.now()) * 1000);
    this.nc.publish(
      subjects.encoded(STREAM),
      EncodedFrame.encode({
        stream: STREAM,
        data,
        ptsUs: nowUs,
        keyframe: i === 0,
        sourceSequence: this.sent,
        width: WIDTH,
        height: HEIGHT,
        encoderId: this.announcer.encoderId,
        epoch: this.announcer.epoch,
        sequence: ++this.sequence,
      }).finish(),
    );
  }

  stop(): void {
    clearInterval(this.timer);
    this.announcer.close();
  }
}

interface ViewerReport {
  atMs: number;
  packets: number[];
  bytes: number[];
}

function lastReport(proc: ManagedProcess): ViewerReport | undefined {
  const lines = proc.output.split('\n').filter((l) => l.startsWith('{"report"'));
  const last = lines.at(-1);
  return last === undefined ? undefined : (JSON.parse(last) as { report: ViewerReport }).report;
}

async function main(): Promise<void> {
  const dir = new TempDir();
  const procs: ManagedProcess[] = [];
  const rows: Row[] = [];
  let nats: NatsServer | undefined;
  let nc: NatsConnection | undefined;
  let source: StreamSource | undefined;
  try {
    process.stdout.write(`encoding ${LOOP_FRAMES} frames of ${WIDTH}x${HEIGHT} once...\n`);
    const units = await encodeLoop();
    nats = await NatsServer.start(dir, { maxPayload: '8MB' });
    nc = await connect({ servers: nats.url });
    const port = await freePort();
    const signaling = signalingProcess(nats.url, port, `${TOKEN}:view`);
    procs.push(signaling);
    const announce = (): void => {
      nc?.publish(
        subjects.consoleInfo(STREAM.vmId, STREAM.consoleId),
        ConsoleInfo.encode({
          vmId: STREAM.vmId,
          consoleId: 0,
          label: 'VGA',
          width: WIDTH,
          height: HEIGHT,
          graphic: true,
          enabled: true,
          vmName: 'bench',
        }).finish(),
      );
    };
    const base = `http://127.0.0.1:${port}`;
    await waitFor(
      'signaling to listen',
      async () => (await fetch(`${base}/health`).catch(() => undefined))?.ok,
      30_000,
    );
    announce();
    const announcer = setInterval(announce, 2000);
    source = new StreamSource(nc, units);
    source.start();
    try {
      const measure = async (viewers: number, viewerProc?: ManagedProcess): Promise<Row> => {
        await sleep(1000); // settle
        const before = viewerProc ? lastReport(viewerProc) : undefined;
        const cpu0 = cpuSeconds(signaling.child.pid ?? 0);
        const t0 = performance.now();
        await sleep(SECONDS * 1000);
        const cpu1 = cpuSeconds(signaling.child.pid ?? 0);
        const wall = (performance.now() - t0) / 1000;
        const after = viewerProc ? lastReport(viewerProc) : undefined;
        let deliveredMbit = NaN;
        let minMbit = NaN;
        if (before && after) {
          const span = (after.atMs - before.atMs) / 1000;
          const perViewer = after.bytes.map((b, i) => ((b - (before.bytes[i] ?? 0)) * 8) / span / 1e6);
          deliveredMbit = perViewer.reduce((a, b) => a + b, 0) / perViewer.length;
          minMbit = Math.min(...perViewer);
        }
        return {
          viewers,
          cores: round((cpu1 - cpu0) / wall, 3),
          delivered_mbit_s: round(deliveredMbit, 2),
          min_mbit_s: round(minMbit, 2),
        };
      };
      const baseline = await measure(0);
      rows.push({ ...baseline, per_viewer_ms_s: null });
      for (const count of VIEWER_COUNTS) {
        const viewers = new ManagedProcess('viewers', process.execPath, [
          join(repoRoot, 'test/dist/tests/signaling/fixtures/whep-viewers.js'),
          `${base}/whep/${STREAM.vmId}/${STREAM.consoleId}`,
          TOKEN,
          String(count),
        ]);
        procs.push(viewers);
        await viewers.waitForOutput(/\{"ready":\d+\}/, 90_000);
        const row = await measure(count, viewers);
        const cores = typeof row.cores === 'number' ? row.cores : NaN;
        const base0 = typeof baseline.cores === 'number' ? baseline.cores : 0;
        rows.push({ ...row, per_viewer_ms_s: round(((cores - base0) * 1000) / count, 1) });
        await viewers.stop();
        await sleep(1500); // let the viewers' connections close before the next case
      }
    } finally {
      clearInterval(announcer);
    }
    const stream = { stream_mbit_s: round((source.bytesPerSecond * 8) / 1e6, 2) };
    for (const r of rows) Object.assign(r, stream);
  } finally {
    source?.stop();
    for (const p of procs.reverse()) await p.stop();
    await nc?.close();
    await nats?.stop();
    dir.remove();
  }
  printTable(
    rows,
    `signaling: one ${WIDTH}x${HEIGHT} stream at ${FPS} fps to N WHEP viewers (target: 20 viewers < 0.5 cores)`,
  );
  process.stdout.write(`results: ${writeResults('signaling', rows)}\n`);
}

await main();
