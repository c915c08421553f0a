// The whole system against QEMU's own VNC server with noVNC (issue 7), at 1280x720 and 1920x1080.
//
// - ours: `node scripts/start.mjs` with the demo VM (the test guest) at the size, in headless
//   Chromium on the player page. A probe in the page reads the guest's frame number and marker from
//   every decoded picture (requestVideoFrameCallback, frame drawn into a canvas): pictures per
//   second handed to the page (rVFC callbacks), distinct guest frame numbers per second, and frames
//   lost (gaps in the guest's frame numbers: the guest draws 60 per second). Input-to-photon: a key
//   goes down in the page (playwright) -> the first picture with the guest's marker flipped, both on
//   the page's clock, over BENCH_PRESSES presses; and key down -> its InputEvent on NATS. Per
//   stage, from the timestamps EncodedFrame carries (subscribed here on NATS), each picture in the
//   page matched to its access unit by RTP timestamp (90 kHz of pts); page, services and this
//   process share the machine's wall clock: QEMU -> capture, capture -> encode start, encode,
//   encoder -> NATS subscriber here, NATS -> picture in the page (signaling, WebRTC, decode), and
//   QEMU -> page; p50 over the pictures shown. CPU of each process (/proc/<pid>/stat; chromium:
//   all of the browser's processes), the bitrate (EncodedFrame bytes) and IDRs per second over the
//   fps window, and torn reads per 1000 frames read (the encoder's counters: a ring slot
//   overwritten while it was read).
// - novnc: the same guest in a second QEMU with `-vnc 127.0.0.1:N,websocket=P`, shown by noVNC
//   (@novnc/novnc) in the same Chromium: distinct guest frame numbers per second on noVNC's canvas
//   (sampled every animation frame), frames lost, input-to-photon the same way; CPU of that QEMU
//   (it encodes the VNC updates) and of Chromium.
// - ratio: ours / novnc for fps, ours / novnc for input-to-photon p50 and p95.
// Targets at 1080p (not asserted): >= 55 fps, input-to-photon p50 < 50 ms, >= 3x noVNC's fps,
// < 0.5x its latency.
//
// BENCH_SECONDS (default 10): the fps window per run. BENCH_PRESSES (default 40). BENCH_VIDEO=vga:
// the guest on std VGA (QEMU refreshes it every ~30 ms) instead of virtio-gpu. BENCH_CASES=1080,novnc:
// only the runs whose label contains one of them.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from 'nats';
import type { Browser, Page } from 'playwright-core';
import { subjects } from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import type { GuestVideo } from '@qemu-webrtc/demo-vm';
import {
  FrameProbe,
  QemuVm,
  StaticServer,
  TempDir,
  freePort,
  launchWebrtcChromium,
  openPlayer,
  statusFromPage,
  waitFor,
  type ProbeRecord,
  type QemuOptions,
} from '@qemu-webrtc/test-kit';
import { FREE_PORT_ARGS, StartedSystem } from '../harness/started-system.js';
import { cpuSeconds, percentile, printTable, round, writeResults, type Row } from './bench-kit.js';

const { EncodedFrame, InputEvent } = qemu_webrtc.v1;

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const PRESSES = Number(process.env.BENCH_PRESSES ?? 40);
const VIDEO: GuestVideo = process.env.BENCH_VIDEO === 'vga' ? 'vga' : 'virtio';
const SIZES: [number, number][] = [
  [1280, 720],
  [1920, 1080],
];
const TOKEN = 'bench-control';
const KEY = 'KeyA';
const WARMUP_MS = 3000;

const wanted = (process.env.BENCH_CASES ?? '')
  .split(',')
  .map((s) => s.trim())
  .filter((s) => s !== '');
const selected = (label: string): boolean => wanted.length === 0 || wanted.some((w) => label.includes(w));

/** What a viewer got: pictures, guest frames, losses, input-to-photon. */
interface ViewerResult {
  picturesPerS: number;
  guestFramesPerS: number;
  guestRatePerS: number;
  lostPercent: number;
  pressMs: number[];
  missedPresses: number;
}

function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Frames per second and losses from the pictures a probe saw in `seconds`. */
function frameFigures(records: ProbeRecord[], callbacks: number, seconds: number) {
  const frames = records.map((r) => r.frame);
  const distinct = new Set(frames).size;
  let lost = 0;
  let span = 0;
  for (let i = 1; i < frames.length; i++) {
    const d = (frames[i] ?? 0) - (frames[i - 1] ?? 0);
    if (d > 0) {
      lost += d - 1;
      span += d;
    }
  }
  return {
    picturesPerS: callbacks / seconds,
    guestFramesPerS: distinct / seconds,
    guestRatePerS: span / seconds,
    lostPercent: span > 0 ? (lost / span) * 100 : NaN,
  };
}

async function measurePresses(
  probe: FrameProbe,
): Promise<{ pressMs: number[]; missedPresses: number; keyWallMs: number[] }> {
  const pressMs: number[] = [];
  const keyWallMs: number[] = [];
  let missedPresses = 0;
  for (let i = 0; i < PRESSES; i++) {
    const r = await probe.pressToPhoton(KEY);
    if (r === undefined) missedPresses++;
    else {
      pressMs.push(r.ms);
      keyWallMs.push(r.keyWallMs);
    }
    // Not in step with the guest's frames.
    await sleep(120 + Math.random() * 120);
  }
  return { pressMs, missedPresses, keyWallMs };
}

/** CPU seconds of every Chromium process this benchmark started (descendants of this process). */
function chromiumCpuSeconds(): number {
  const parent = new Map<number, number>();
  const comm = new Map<number, string>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      comm.set(Number(entry), stat.slice(stat.indexOf('(') + 1, close));
      parent.set(Number(entry), Number(stat.slice(close + 2).split(' ')[1]));
    } catch {
      // gone
    }
  }
  const ours = (pid: number): boolean => {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p))
      if (p === process.pid) return true;
    return false;
  };
  let total = 0;
  for (const [pid, name] of comm) {
    if (!/chrom/i.test(name) || !ours(pid)) continue;
    try {
      total += cpuSeconds(pid);
    } catch {
      // gone
    }
  }
  return total;
}

function cpuOf(pids: Record<string, number | undefined>): Record<string, number> {
  const out: Record<string, number> = { chromium: chromiumCpuSeconds() };
  for (const [name, pid] of Object.entries(pids)) {
    if (pid === undefined) continue;
    try {
      out[name] = cpuSeconds(pid);
    } catch {
      // gone
    }
  }
  return out;
}

function cpuPercent(before: Record<string, number>, after: Record<string, number>, seconds: number): Row {
  const row: Row = {};
  for (const [name, t] of Object.entries(after)) {
    row[`cpu_${name}_%`] = round(((t - (before[name] ?? t)) / seconds) * 100, 0);
  }
  return row;
}

/** The encoder's counters: frames encoded, and torn reads (a ring slot overwritten while read). */
async function encoderCounts(port: number): Promise<{ encoded: number; torn: number }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const sum = (re: RegExp): number => [...text.matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);
  return {
    encoded: sum(/^encoder_frames_encoded_total\{[^}]*\} (\d+)$/gm),
    torn: sum(/^encoder_frames_dropped_total\{reason="torn"\} (\d+)$/gm),
  };
}

async function benchOurs(browser: Browser, width: number, height: number): Promise<Row> {
  const system = await StartedSystem.start(
    [
      ...[...FREE_PORT_ARGS, '--max-fps', '60'],
      ...['--demo-size', `${width}x${height}`, '--demo-video', VIDEO],
    ],
    { env: { SIGNALING_TOKENS: `${TOKEN}:control`, LOG_LEVEL: 'warn' } },
  );
  const nc = await connect(system.natsOptions());
  const page = await openPlayer(browser, system.baseUrl, system.ready.vmId, TOKEN);
  try {
    await waitFor(
      'the guest at its size in the page',
      async () => {
        const s = await statusFromPage(page);
        const size = await page.evaluate(() => [
          document.querySelector('video')?.videoWidth,
          document.querySelector('video')?.videoHeight,
        ]);
        return s !== null && size[0] === width && size[1] === height;
      },
      60_000,
      250,
    );
    await page.waitForFunction(
      () => (window as { qemuWebrtc?: { inputOpen: boolean } }).qemuWebrtc?.inputOpen,
    );
    await page.focus('#stage');
    const probe = await FrameProbe.install(page, 'video');

    /** One access unit's timestamps (µs; arrival: here, on NATS), keyed by its RTP timestamp. */
    interface Unit {
      qemu: number;
      captured: number;
      encodeStarted: number;
      encoded: number;
      arrival: number;
      bytes: number;
      keyframe: boolean;
    }
    const units = new Map<number, Unit>();
    let measuring = false;
    nc.subscribe(subjects.encoded({ vmId: system.ready.vmId, consoleId: 0, rendition: 'full' }), {
      callback: (_err, msg) => {
        if (!measuring) return;
        const arrival = Date.now() * 1000;
        const f = EncodedFrame.decode(msg.data);
        // As signaling stamps RTP packets: pts at 90 kHz, wrapped to 32 bits.
        units.set(Math.floor((f.ptsUs * 9) / 100) % 2 ** 32, {
          qemu: f.qemuReceivedUs,
          captured: f.capturedUs,
          encodeStarted: f.encodeStartedUs,
          encoded: f.encodedUs,
          arrival,
          bytes: f.data.length,
          keyframe: f.keyframe,
        });
      },
    });

    await sleep(WARMUP_MS);
    const pids = Object.fromEntries(
      ['nats', 'demo-vm', 'capture', 'encoder', 'signaling', 'input'].map((n) => [n, system.pidOf(n)]),
    );
    await probe.take();
    const encoderBefore = await encoderCounts(system.ready.metricsPorts.encoder);
    const cpuBefore = cpuOf(pids);
    const t0 = performance.now();
    measuring = true;
    await sleep(SECONDS * 1000);
    measuring = false;
    const snap = await probe.take();
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuPercent(cpuBefore, cpuOf(pids), seconds);
    const encoderAfter = await encoderCounts(system.ready.metricsPorts.encoder);
    const read = encoderAfter.encoded - encoderBefore.encoded + encoderAfter.torn - encoderBefore.torn;
    const idrs = [...units.values()].filter((u) => u.keyframe).length;

    // Each picture the page showed, matched by RTP timestamp to the access unit it came from.
    const shown = snap.records.flatMap((r) => {
      const u = r.rtp === null ? undefined : units.get(r.rtp);
      return u ? [{ u, pageUs: r.wall * 1000 }] : [];
    });
    const stage = (fn: (x: { u: Unit; pageUs: number }) => number): number[] =>
      shown.map((x) => fn(x) / 1000);
    const qemuToPage = stage(({ u, pageUs }) => pageUs - u.qemu);
    const f = frameFigures(snap.records, snap.callbacks, seconds);
    // Key down in the page -> its InputEvent on NATS (wall clock, this machine's).
    const keyDownsAt: number[] = [];
    nc.subscribe(subjects.input(system.ready.vmId), {
      callback: (_err, msg) => {
        const arrivalMs = Date.now();
        if (InputEvent.decode(msg.data).key?.down === true) keyDownsAt.push(arrivalMs);
      },
    });
    const presses = await measurePresses(probe);
    const keyToNats = presses.keyWallMs.flatMap((k) => {
      const arrival = keyDownsAt.find((a) => a >= k - 5);
      return arrival === undefined ? [] : [arrival - k];
    });
    const bytes = [...units.values()].reduce((sum, u) => sum + u.bytes, 0);
    return {
      ...viewerRow({ ...f, ...presses }),
      key_to_input_nats_ms: round(median(keyToNats)),
      encoded_fps: round(units.size / seconds, 1),
      mbit_s: round((bytes * 8) / seconds / 1e6, 2),
      idr_per_s: round(idrs / seconds, 2),
      frames_per_idr: idrs > 0 ? round(units.size / idrs, 0) : null,
      torn_per_1000: read > 0 ? round(((encoderAfter.torn - encoderBefore.torn) * 1000) / read, 1) : null,
      shown_matched: shown.length,
      qemu_to_capture_ms: round(median(stage(({ u }) => u.captured - u.qemu))),
      capture_to_encode_ms: round(median(stage(({ u }) => u.encodeStarted - u.captured))),
      encode_ms: round(median(stage(({ u }) => u.encoded - u.encodeStarted))),
      encoder_to_nats_sub_ms: round(median(stage(({ u }) => u.arrival - u.encoded))),
      nats_to_page_ms: round(median(stage(({ u, pageUs }) => pageUs - u.arrival))),
      qemu_to_page_ms: round(median(qemuToPage)),
      qemu_to_page_p95_ms: round(percentile(qemuToPage, 95)),
      ...cpu,
    };
  } finally {
    await page.close();
    await nc.close();
    await system.stop();
  }
}

function viewerRow(r: ViewerResult): Row {
  return {
    pictures_per_s: round(r.picturesPerS, 1),
    fps: round(r.guestFramesPerS, 1),
    guest_fps: round(r.guestRatePerS, 1),
    lost_pct: round(r.lostPercent, 1),
    press_p50_ms: round(percentile(r.pressMs, 50), 1),
    press_p95_ms: round(percentile(r.pressMs, 95), 1),
    presses: r.pressMs.length,
    missed: r.missedPresses,
  };
}

const novncDir = dirname(dirname(fileURLToPath(import.meta.resolve('@novnc/novnc'))));

function novncPage(wsUrl: string): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>noVNC</title>
<style>html,body{margin:0;background:#000}#screen{width:100vw;height:100vh}</style></head>
<body><div id="screen"></div>
<script type="module">
import RFB from '/novnc/core/rfb.js';
const rfb = new RFB(document.getElementById('screen'), ${JSON.stringify(wsUrl)});
rfb.scaleViewport = false;
rfb.clipViewport = false;
rfb.addEventListener('connect', () => { window.vncConnected = true; rfb.focus(); });
rfb.addEventListener('disconnect', (e) => { window.vncDisconnected = JSON.stringify(e.detail); });
window.rfb = rfb;
</script></body></html>`;
}

async function benchNoVnc(browser: Browser, width: number, height: number): Promise<Row> {
  const dir = new TempDir();
  const vncPort = await freePort();
  const wsPort = await freePort();
  const opts: QemuOptions = {
    width,
    height,
    video: VIDEO,
    name: 'novnc-bench',
    extraArgs: ['-vnc', `127.0.0.1:${vncPort - 5900},websocket=${wsPort}`],
  };
  const vm = await QemuVm.start(dir, opts);
  const server = await StaticServer.start(
    { '/': novncPage(`ws://127.0.0.1:${wsPort}`) },
    { '/novnc/': novncDir },
  );
  let page: Page | undefined;
  try {
    page = await browser.newPage({
      viewport: { width: Math.max(1280, width), height: Math.max(800, height) },
    });
    page.on('pageerror', (e) => console.error('noVNC page error:', e.message));
    await page.goto(`${server.url}/`);
    await page.waitForFunction(() => (window as { vncConnected?: boolean }).vncConnected, undefined, {
      timeout: 30_000,
    });
    const p = page;
    await waitFor(
      'the guest at its size on noVNC’s canvas',
      async () => {
        const size = await p.evaluate(() => {
          const c = document.querySelector('#screen canvas');
          return c instanceof HTMLCanvasElement ? [c.width, c.height] : [0, 0];
        });
        return (
          size[0] === width &&
          size[1] === height &&
          (await statusFromPage(p, { selector: '#screen canvas' })) !== null
        );
      },
      60_000,
      250,
    );
    await page.focus('#screen canvas');
    const probe = await FrameProbe.install(page, '#screen canvas');
    await sleep(WARMUP_MS);
    await probe.take();
    const pid = vm.process.child.pid;
    const cpuBefore = cpuOf({ 'vnc-vm': pid });
    const t0 = performance.now();
    await sleep(SECONDS * 1000);
    const snap = await probe.take();
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuPercent(cpuBefore, cpuOf({ 'vnc-vm': pid }), seconds);
    const f = frameFigures(snap.records, snap.callbacks, seconds);
    // Canvas samples: every animation frame, not pictures; count distinct guest frames instead.
    f.picturesPerS = NaN;
    const presses = await measurePresses(probe);
    return { ...viewerRow({ ...f, ...presses }), ...cpu };
  } finally {
    await page?.close();
    await server.close();
    await vm.stop();
    dir.remove();
  }
}

const ratio = (a: unknown, b: unknown): number | null =>
  typeof a === 'number' && typeof b === 'number' && b !== 0 ? round(a / b, 2) : null;

const browser = await launchWebrtcChromium();
const rows: Row[] = [];
try {
  for (const [width, height] of SIZES) {
    const size = `${width}x${height}`;
    let ours: Row | undefined;
    let novnc: Row | undefined;
    if (selected(`${size} ours`)) {
      ours = await benchOurs(browser, width, height);
      rows.push({ case: `${size} ours (${VIDEO})`, ...ours });
    }
    if (selected(`${size} novnc`)) {
      novnc = await benchNoVnc(browser, width, height);
      rows.push({ case: `${size} noVNC (${VIDEO})`, ...novnc });
    }
    if (ours && novnc) {
      rows.push({
        case: `${size} ours/noVNC`,
        fps: ratio(ours.fps, novnc.fps),
        press_p50_ms: ratio(ours.press_p50_ms, novnc.press_p50_ms),
        press_p95_ms: ratio(ours.press_p95_ms, novnc.press_p95_ms),
      });
    }
  }
} finally {
  await browser.close();
}

const summary = [
  'case',
  'fps',
  'guest_fps',
  'lost_pct',
  'pictures_per_s',
  'press_p50_ms',
  'press_p95_ms',
  'missed',
];
printTable(
  rows.map((r) => Object.fromEntries(summary.map((k) => [k, r[k] ?? null]))),
  `end to end: delivered fps (distinct guest frames/s in the page), frames lost, key -> flipped marker; ${SECONDS} s, ${PRESSES} presses`,
);
const stageCols = [
  'case',
  'key_to_input_nats_ms',
  'qemu_to_capture_ms',
  'capture_to_encode_ms',
  'encode_ms',
  'encoder_to_nats_sub_ms',
  'nats_to_page_ms',
  'qemu_to_page_ms',
  'qemu_to_page_p95_ms',
  'encoded_fps',
  'mbit_s',
];
printTable(
  rows
    .filter((r) => r.qemu_to_page_ms !== undefined)
    .map((r) => Object.fromEntries(stageCols.map((k) => [k, r[k] ?? null]))),
  'ours, per stage (p50, ms; key_to_input_nats: page key down -> InputEvent on NATS; nats_to_page = signaling + WebRTC + decode + presentation)',
);
const cpuRows = rows
  .filter((r) => Object.keys(r).some((k) => k.startsWith('cpu_')))
  .map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => k === 'case' || k.startsWith('cpu_'))));
printTable(cpuRows, 'CPU, % of one core over the fps window');
process.stdout.write(`wrote ${writeResults('e2e', rows)}\n`);
