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
// per second of it. BENCH_CASES=single or stream: only that phase.
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type NatsConnection } from 'nats';
import { IFACE } from '@qemu-webrtc/qemu-dbus';
import { nowUs, subjects } from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import {
  DbusDaemon,
  ManagedProcess,
  NatsServer,
  QemuDisplayDouble,
  TempDir,
  waitFor,
  type RecordedInputCall,
} from '../kit/index.js';
import {
  cpuSeconds,
  listeningPorts,
  percentiles,
  printTable,
  repoRoot,
  round,
  writeResults,
  type Row,
} from './bench-kit.js';

const { InputEvent } = qemu_webrtc.v1;

const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const STREAM_RATE = 500;
const STREAM_EVENTS = Math.max(50, Math.round(SECONDS * STREAM_RATE));
const SINGLE_EVENTS = Math.max(20, Math.round(SECONDS * 100)) & ~1; // pairs: ends with a key up
const VM_ID = 'bench';
const VIEWER = 'bench-viewer';

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

async function main(): Promise<void> {
  const main = `${repoRoot}/services/input/dist/src/main.js`;
  const dir = new TempDir('qw-bench-');
  const cleanups: (() => Promise<void> | void)[] = [() => dir.remove()];
  try {
    const nats = await NatsServer.start(dir);
    cleanups.unshift(() => nats.stop());
    const bus = await DbusDaemon.start(dir);
    cleanups.unshift(() => bus.stop());
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
    printTable(
      rows,
      "input: InputEvent published on NATS -> Keyboard call at QEMU (double), KeyA down/up; svc_*: the service's input_event_seconds (publish -> D-Bus reply, bucket-interpolated)",
    );
    process.stdout.write(`wrote ${writeResults('input', rows)}\n`);
  } finally {
    for (const fn of cleanups) await fn();
  }
}

await main();
