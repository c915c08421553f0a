// Input latency (issue 6): an InputEvent published on NATS -> the D-Bus call arriving at QEMU.
// Real nats-server and dbus-daemon; QemuDisplayDouble stands in for QEMU on that bus (it records
// each Keyboard call with the time it arrived, on this process's clock); the input service runs as
// its own process (services/input/dist/src/main.js).
//
// Phases: key down/up (KeyA) one at a time, each published once the previous one arrived; then a
// steady stream at 500 events/s. Reported: publish -> call arrived (this process's clock, both
// ends), and the service's own input_event_seconds histogram (received_us, set at publish -> its
// D-Bus call's reply; quantiles interpolated within Prometheus buckets, so approximate), scraped
// from /metrics before and after each phase; CPU of the service (/proc/<pid>/stat, 10 ms ticks).
// Target, not asserted: p99 under 2 ms.
//
// BENCH_SECONDS (default 4): length of the stream phase; the one-at-a-time phase sends 100 events
// per second of it.
//
// Flood phases (issue 18): the whole input path from a page. The signaling service runs as its own
// process too, and headless Chromium opens two player pages (A and B) on the console. A key
// (KeyA, dispatched on the page's stage, so it goes through the page's own input capture) is timed
// from the page (wall clock just before it is dispatched) to its Keyboard.Press arriving at the
// double (wall clock): idle, right after page A sent 500 or 5,000 pointer moves (the same page),
// and from page B right after page A sent them (another page). The moves are raw "move" messages
// on A's input DataChannel (what a page that does not coalesce, or a hostile one, sends), so every
// server-side hop sees the whole burst. moves_in: SetAbsPosition calls that reached the double per
// burst (mean). The last case dispatches 5,000 pointermove events on page A's stage instead:
// what the page's own input capture makes of them (it coalesces). page_send_ms: how long the page's send() calls of a burst took (mean). A key not arriving within 30 s counts as 30 s (and in `lost`).
// BENCH_REPS (default 5): keys per flood case (idle: 4x as many).
//
// BENCH_CASES=single, stream, idle, same, other (or 500, 5000): only those phases.
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type NatsConnection } from 'nats';
import type { Browser, Page } from 'playwright-core';
import { IFACE } from '@qemu-webrtc/qemu-dbus';
import { nowUs, subjects } from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import {
  ManagedProcess,
  QemuDisplayDouble,
  TempDir,
  freePort,
  launchWebrtcChromium,
  waitFor,
  withToken,
  type PlayerHooks,
  type RecordedInputCall,
} from '@qemu-webrtc/test-kit';
import {
  cpuSeconds,
  listeningPorts,
  percentiles,
  printTable,
  serviceMain,
  round,
  signalingProcess,
  startNatsAndBus,
  writeResults,
  type Row,
} from './bench-kit.js';

const { ConsoleInfo, InputEvent } = qemu_webrtc.v1;

const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const STREAM_RATE = 500;
const STREAM_EVENTS = Math.max(50, Math.round(SECONDS * STREAM_RATE));
const SINGLE_EVENTS = Math.max(20, Math.round(SECONDS * 100)) & ~1; // pairs: ends with a key up
const VM_ID = 'bench';
const VIEWER = 'bench-viewer';
const REPS = Math.max(1, Number(process.env.BENCH_REPS ?? 5));
const KEY_TIMEOUT_MS = 30_000;
const TOKEN = 'bench-control-token';
/** The double's console (its default size). */
const CONSOLE_W = 640;
const CONSOLE_H = 480;
/** KeyA's qnum. */
const QNUM_A = 0x1e;

const wanted = (process.env.BENCH_CASES ?? '')
  .split(',')
  .map((s) => s.trim())
  .filter((s) => s !== '');
const selected = (label: string): boolean => wanted.length === 0 || wanted.some((w) => label.includes(w));

interface Histogram {
  /** Upper bound (seconds) -> cumulative count. */
  buckets: Map<number, number>;
  sum: number;
  count: number;
}

function parseHistogram(text: string, name: string): Histogram {
  const h: Histogram = { buckets: new Map(), sum: 0, count: 0 };
  for (const line of text.split('\n')) {
    const bucket = new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\S+)$`).exec(line);
    if (bucket?.[1] !== undefined) {
      h.buckets.set(bucket[1] === '+Inf' ? Infinity : Number(bucket[1]), Number(bucket[2]));
    } else if (line.startsWith(`${name}_sum `)) {
      h.sum = Number(line.slice(name.length + 5));
    } else if (line.startsWith(`${name}_count `)) {
      h.count = Number(line.slice(name.length + 7));
    }
  }
  return h;
}

function diffHistogram(after: Histogram, before: Histogram): Histogram {
  const buckets = new Map<number, number>();
  for (const [le, n] of after.buckets) buckets.set(le, n - (before.buckets.get(le) ?? 0));
  return { buckets, sum: after.sum - before.sum, count: after.count - before.count };
}

/** The q-quantile (0..1) in seconds, interpolated within its bucket as Prometheus does. */
function histogramQuantile(h: Histogram, q: number): number {
  if (h.count === 0) return NaN;
  const rank = q * h.count;
  let lower = 0;
  let below = 0;
  for (const [le, n] of [...h.buckets].sort((a, b) => a[0] - b[0])) {
    if (n >= rank) {
      if (le === Infinity) return lower;
      return lower + ((le - lower) * (rank - below)) / Math.max(1, n - below);
    }
    lower = le;
    below = n;
  }
  return lower;
}

class Bench {
  private sequence = 0;
  private readonly pid: number;

  constructor(
    private readonly nc: NatsConnection,
    private readonly double: QemuDisplayDouble,
    private readonly service: ManagedProcess,
    private readonly metricsUrl: string,
  ) {
    const pid = service.child.pid;
    if (pid === undefined) throw new Error('the input service did not start');
    this.pid = pid;
  }

  get keyboardCalls(): RecordedInputCall[] {
    return this.double.inputCalls.filter((c) => c.interface === IFACE.keyboard);
  }

  /** Publishes key down or up (KeyA) as signaling would; returns performance.now() just before. */
  publish(down: boolean): number {
    const ev: qemu_webrtc.v1.IInputEvent = {
      vmId: VM_ID,
      consoleId: 0,
      viewerId: VIEWER,
      sequence: ++this.sequence,
      receivedUs: nowUs(),
      key: { code: 'KeyA', down },
    };
    const data = InputEvent.encode(ev).finish();
    const at = performance.now();
    this.nc.publish(subjects.input(VM_ID), data);
    return at;
  }

  async histogram(): Promise<Histogram> {
    const res = await fetch(`${this.metricsUrl}/metrics`);
    return parseHistogram(await res.text(), 'input_event_seconds');
  }

  /** Waits until no new keyboard call has come for `quietMs`. */
  async settle(quietMs = 300): Promise<void> {
    let n = -1;
    while (n !== this.double.inputCalls.length) {
      n = this.double.inputCalls.length;
      await sleep(quietMs);
    }
  }

  /** Runs `send` (which publishes `count` events, down/up alternating, and their send times). */
  async phase(
    label: string,
    count: number,
    send: (sent: number[], base: number) => Promise<void>,
  ): Promise<Row> {
    await this.settle();
    const base = this.keyboardCalls.length;
    const h0 = await this.histogram();
    const cpu0 = cpuSeconds(this.pid);
    const t0 = performance.now();
    const sent: number[] = [];
    await send(sent, base);
    await waitFor('the last key calls', () => this.keyboardCalls.length >= base + count, 5000, 5).catch(
      () => undefined,
    );
    const seconds = (performance.now() - t0) / 1000;
    const cpuS = cpuSeconds(this.pid) - cpu0;
    await this.settle(100);
    const h = diffHistogram(await this.histogram(), h0);

    const calls = this.keyboardCalls.slice(base);
    const latency: number[] = [];
    let mismatched = 0;
    for (let i = 0; i < sent.length && i < calls.length; i++) {
      const call = calls[i];
      const at = sent[i];
      if (!call || at === undefined) continue;
      if (call.member !== (i % 2 === 0 ? 'Press' : 'Release')) mismatched++;
      latency.push(call.atMs - at);
    }
    const p = percentiles(latency);
    const ms = (s: number): number | null => round(s * 1000, 3);
    return {
      phase: label,
      events: sent.length,
      arrived: calls.length,
      out_of_order: mismatched,
      p50_ms: round(p.p50, 3),
      p95_ms: round(p.p95, 3),
      p99_ms: round(p.p99, 3),
      max_ms: round(Math.max(...latency), 3),
      svc_count: h.count,
      svc_mean_ms: ms(h.sum / h.count),
      svc_p50_ms: ms(histogramQuantile(h, 0.5)),
      svc_p99_ms: ms(histogramQuantile(h, 0.99)),
      cpu_pct: round((cpuS / seconds) * 100, 1),
      cpu_us_per_event: round((cpuS * 1e6) / Math.max(1, sent.length), 1),
    };
  }

  /** One event at a time: the next is published once the previous one's call arrived. */
  single(count: number): Promise<Row> {
    return this.phase('one at a time', count, async (sent, base) => {
      for (let i = 0; i < count; i++) {
        sent.push(this.publish(i % 2 === 0));
        await waitFor('the key call', () => this.keyboardCalls.length > base + i, 5000, 1);
      }
    });
  }

  /** A steady stream at `rate` events per second, whatever arrives. */
  stream(count: number, rate: number): Promise<Row> {
    return this.phase(`stream ${rate}/s`, count, async (sent) => {
      const start = performance.now();
      while (sent.length < count) {
        const due = Math.min(count, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
        while (sent.length < due) sent.push(this.publish(sent.length % 2 === 0));
        await sleep(1);
      }
    });
  }
}

/** Opens the player of the bench console and waits until its input DataChannel is open. */
async function openControlPage(browser: Browser, base: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 800, height: 600 } });
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(withToken(`${base}/view/${VM_ID}/0`, TOKEN));
  await page.waitForFunction(
    () => {
      const hooks = (window as PlayerHooks).qemuWebrtc;
      return hooks?.inputOpen === true && hooks.role === 'control';
    },
    undefined,
    { timeout: 60_000 },
  );
  return page;
}

/**
 * Sends `moves` raw pointer moves on the page's input DataChannel, then (when `key`) KeyA. Returns
 * when the key was dispatched (wall clock, 0 without a key) and how long the sends took the page.
 */
function floodThenKey(
  page: Page,
  moves: number,
  key: boolean,
  events = false,
): Promise<{ at: number; sendMs: number }> {
  return page.evaluate(
    ({ moves, key, w, h, events }) => {
      const hooks = (window as PlayerHooks).qemuWebrtc;
      const stage = document.getElementById('stage');
      const rect = stage?.getBoundingClientRect() ?? { left: 0, top: 0, width: 1, height: 1 };
      const t0 = performance.now();
      for (let i = 0; i < moves; i++) {
        if (events) {
          const init = {
            clientX: rect.left + ((i * 7) % Math.floor(rect.width)),
            clientY: rect.top + ((i * 13) % Math.floor(rect.height)),
            pointerType: 'mouse',
            bubbles: true,
          };
          stage?.dispatchEvent(new PointerEvent('pointermove', init));
        } else {
          hooks?.sendRaw(JSON.stringify({ t: 'move', x: (i * 7) % w, y: (i * 13) % h }));
        }
      }
      const sendMs = performance.now() - t0;
      if (!key) return { at: 0, sendMs };
      const at = performance.timeOrigin + performance.now();
      const init = { code: 'KeyA', key: 'a', bubbles: true, cancelable: true };
      stage?.dispatchEvent(new KeyboardEvent('keydown', init));
      stage?.dispatchEvent(new KeyboardEvent('keyup', init));
      return { at, sendMs };
    },
    { moves, key, w: CONSOLE_W, h: CONSOLE_H, events },
  );
}

/** Key-to-guest latency from a page, idle and after a burst of pointer moves. */
class FloodBench {
  constructor(
    private readonly double: QemuDisplayDouble,
    private readonly pageA: Page,
    private readonly pageB: Page,
  ) {}

  private presses(from: number): RecordedInputCall[] {
    return this.double.inputCalls
      .slice(from)
      .filter((c) => c.interface === IFACE.keyboard && c.member === 'Press' && c.args[0] === QNUM_A);
  }

  /** Waits until nothing new has reached the double for `quietMs`. */
  private async settle(quietMs = 300): Promise<void> {
    let n = -1;
    while (n !== this.double.inputCalls.length) {
      n = this.double.inputCalls.length;
      await sleep(quietMs);
    }
  }

  /** One key, after `moves` moves from page A; the key from A (same) or B (other). */
  private async once(
    moves: number,
    from: 'same' | 'other',
    events: boolean,
  ): Promise<{ ms: number; movesIn: number; sendMs: number }> {
    await this.settle();
    const base = this.double.inputCalls.length;
    let sentAt: number;
    let sendMs: number;
    if (from === 'same') {
      ({ at: sentAt, sendMs } = await floodThenKey(this.pageA, moves, true, events));
    } else {
      ({ sendMs } = await floodThenKey(this.pageA, moves, false, events));
      ({ at: sentAt } = await floodThenKey(this.pageB, 0, true));
    }
    const press = await waitFor('the key', () => this.presses(base)[0], KEY_TIMEOUT_MS, 2).catch(
      () => undefined,
    );
    const ms = press ? performance.timeOrigin + press.atMs - sentAt : KEY_TIMEOUT_MS;
    await this.settle();
    const movesIn = this.double.inputCalls
      .slice(base)
      .filter((c) => c.interface === IFACE.mouse && c.member === 'SetAbsPosition').length;
    return { ms, movesIn, sendMs };
  }

  async run(
    label: string,
    moves: number,
    from: 'same' | 'other',
    reps: number,
    events = false,
  ): Promise<Row> {
    const latency: number[] = [];
    let movesIn = 0;
    let sendMs = 0;
    let lost = 0;
    for (let i = 0; i < reps; i++) {
      const r = await this.once(moves, from, events);
      latency.push(r.ms);
      movesIn += r.movesIn;
      sendMs += r.sendMs;
      if (r.ms >= KEY_TIMEOUT_MS) lost++;
    }
    const p = percentiles(latency);
    return {
      phase: label,
      keys: reps,
      moves_sent: moves,
      moves_in: round(movesIn / reps, 1),
      page_send_ms: round(sendMs / reps, 1),
      lost,
      p50_ms: round(p.p50, 2),
      p95_ms: round(p.p95, 2),
      max_ms: round(Math.max(...latency), 2),
    };
  }
}

async function main(): Promise<void> {
  const main = serviceMain('input');
  const dir = new TempDir('qw-bench-');
  const cleanups: (() => Promise<void> | void)[] = [() => dir.remove()];
  try {
    const { nats, bus } = await startNatsAndBus(dir, (fn) => cleanups.unshift(fn));
    const double = await QemuDisplayDouble.start({ busAddress: bus.address, name: VM_ID });
    cleanups.unshift(() => double.stop());
    const nc = await connect({ servers: nats.url });
    cleanups.unshift(() => nc.close());

    const service = new ManagedProcess('input', process.execPath, [main], {
      env: {
        ...process.env,
        NATS_URL: nats.url,
        INPUT_VMS: `${VM_ID}=${bus.address}`,
        METRICS_PORT: '0',
        LOG_LEVEL: 'warn',
      },
    });
    cleanups.unshift(() => service.stop());
    const pid = service.child.pid;
    if (pid === undefined) throw new Error('the input service did not start');

    // Its metrics port, then the VM up (the service found the console on the bus).
    const metricsUrl = await waitFor(
      'the input service to be up',
      async () => {
        if (!service.running) throw new Error(`the input service exited:\n${service.output}`);
        for (const port of listeningPorts(pid)) {
          const url = `http://127.0.0.1:${port}`;
          const res = await fetch(`${url}/health`).catch(() => undefined);
          if (!res) continue;
          const health = (await res.json()) as { vms?: Record<string, { up?: boolean }> };
          if (health.vms?.[VM_ID]?.up === true) return url;
        }
        return undefined;
      },
      20_000,
      100,
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${service.output}`);
    });

    const bench = new Bench(nc, double, service, metricsUrl);
    // Warm up (JIT, connections): 100 events one at a time, unmeasured.
    await bench.single(100);

    const rows: Row[] = [];
    if (selected('single')) rows.push(await bench.single(SINGLE_EVENTS));
    if (selected('stream')) rows.push(await bench.stream(STREAM_EVENTS & ~1, STREAM_RATE));
    if (rows.length > 0) {
      printTable(
        rows,
        "input: InputEvent published on NATS -> Keyboard call at QEMU (double), KeyA down/up; svc_*: the service's input_event_seconds (publish -> D-Bus reply, bucket-interpolated)",
      );
    }

    const floodCases = [
      { label: 'idle', moves: 0, from: 'same' as const, reps: REPS * 4 },
      { label: 'same page after 500 moves', moves: 500, from: 'same' as const, reps: REPS },
      { label: 'other page after 500 moves', moves: 500, from: 'other' as const, reps: REPS },
      { label: 'same page after 5000 moves', moves: 5000, from: 'same' as const, reps: REPS },
      { label: 'other page after 5000 moves', moves: 5000, from: 'other' as const, reps: REPS },
      {
        label: 'same page after 5000 pointer events',
        moves: 5000,
        from: 'same' as const,
        reps: REPS,
        events: true,
      },
    ].filter((c) => selected(c.label));
    const floodRows: Row[] = [];
    if (floodCases.length > 0) {
      const port = await freePort();
      const signaling = signalingProcess(nats.url, port, `${TOKEN}:control`);
      cleanups.unshift(() => signaling.stop());
      // The console as capture announces it (no video is needed for input).
      const announce = (): void => {
        nc.publish(
          subjects.consoleInfo(VM_ID, 0),
          ConsoleInfo.encode({
            vmId: VM_ID,
            consoleId: 0,
            label: 'VGA',
            width: CONSOLE_W,
            height: CONSOLE_H,
            graphic: true,
            enabled: true,
            hasKeyboard: true,
            hasMouse: true,
            mouseIsAbsolute: true,
            vmName: VM_ID,
          }).finish(),
        );
      };
      announce();
      const announcer = setInterval(announce, 1000);
      cleanups.unshift(() => clearInterval(announcer));
      const base = `http://127.0.0.1:${port}`;
      await waitFor(
        'signaling to list the console',
        async () => {
          if (!signaling.running) throw new Error(`signaling exited:\n${signaling.output}`);
          const res = await fetch(`${base}/api/consoles`, {
            headers: { authorization: `Bearer ${TOKEN}` },
          }).catch(() => undefined);
          return res?.ok === true && (await res.text()).includes(VM_ID) ? true : undefined;
        },
        30_000,
        100,
      );
      const browser = await launchWebrtcChromium();
      cleanups.unshift(() => browser.close());
      const [pageA, pageB] = [await openControlPage(browser, base), await openControlPage(browser, base)];
      const flood = new FloodBench(double, pageA, pageB);
      await flood.run('warm-up', 0, 'same', 5);
      for (const c of floodCases) {
        const row = await flood.run(c.label, c.moves, c.from, c.reps, c.events === true);
        process.stdout.write(`${JSON.stringify(row)}\n`);
        floodRows.push(row);
      }
      printTable(
        floodRows,
        'input from a page: KeyA dispatched on the page -> Keyboard.Press at QEMU (double), idle and after raw pointer-move bursts from page A',
      );
    }
    process.stdout.write(`wrote ${writeResults('input', [...rows, ...floodRows])}\n`);
  } finally {
    for (const fn of cleanups) await fn();
  }
}

await main();
