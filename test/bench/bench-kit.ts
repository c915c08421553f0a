// Helpers for the benchmarks (`pnpm bench`): what several start (nats-server and dbus-daemon, the
// signaling process), percentiles, an aligned table on stdout, and results as JSON under
// <repo>/.bench/ (git-ignored). Timings are reported, never asserted.
import { mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DbusDaemon, ManagedProcess, NatsServer, type TempDir } from '@qemu-webrtc/test-kit';

/** The repository root (this file runs from test/dist/bench/). */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const resultsDir = join(repoRoot, '.bench');

/** A service's entry point, found through its package (test/package.json declares each service). */
export function serviceMain(service: 'capture' | 'encoder' | 'input' | 'signaling'): string {
  return fileURLToPath(import.meta.resolve(`@qemu-webrtc/${service}/main`));
}

/**
 * nats-server, then a dbus-daemon, in `dir`; each one's stop goes to `defer` as soon as it is up, so
 * a bench that fails later still stops what started.
 */
export async function startNatsAndBus(
  dir: TempDir,
  defer: (fn: () => Promise<void> | void) => void,
): Promise<{ nats: NatsServer; bus: DbusDaemon }> {
  const nats = await NatsServer.start(dir);
  defer(() => nats.stop());
  const bus = await DbusDaemon.start(dir);
  defer(() => bus.stop());
  return { nats, bus };
}

/** The signaling service as its own process on `port`, ICE on loopback, logging warnings only. */
export function signalingProcess(natsUrl: string, port: number, tokens: string): ManagedProcess {
  return new ManagedProcess('signaling', process.execPath, [serviceMain('signaling')], {
    env: {
      ...process.env,
      NATS_URL: natsUrl,
      SIGNALING_PORT: String(port),
      SIGNALING_TOKENS: tokens,
      ICE_BIND_ADDRESS: '127.0.0.1',
      METRICS_PORT: '0',
      LOG_LEVEL: 'warn',
    },
  });
}

export type Cell = string | number | null;
export type Row = Record<string, Cell>;

export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
}

/** The p-th percentile (nearest rank) of `values`; NaN when there are none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] ?? NaN;
}

export function percentiles(values: readonly number[]): Percentiles {
  return { p50: percentile(values, 50), p95: percentile(values, 95), p99: percentile(values, 99) };
}

/** Rounds to `digits` decimals (for tables and JSON); null for NaN. */
export function round(value: number, digits = 2): number | null {
  if (!Number.isFinite(value)) return null;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

function show(cell: Cell | undefined): string {
  if (cell === null || cell === undefined) return '-';
  return typeof cell === 'number' ? String(cell) : cell;
}

/** Prints rows as a table with aligned columns (numbers right-aligned), under an optional title. */
export function printTable(rows: readonly Row[], title?: string): void {
  const columns: string[] = [];
  for (const row of rows) for (const k of Object.keys(row)) if (!columns.includes(k)) columns.push(k);
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => show(r[c]).length)));
  const numeric = columns.map((c) => rows.every((r) => typeof r[c] !== 'string'));
  const line = (cells: string[]): string =>
    cells
      .map((s, i) => (numeric[i] === true ? s.padStart(widths[i] ?? 0) : s.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const out: string[] = [];
  if (title !== undefined) out.push(title);
  out.push(line(columns));
  out.push(line(widths.map((w) => '-'.repeat(w))));
  for (const row of rows) out.push(line(columns.map((c) => show(row[c]))));
  process.stdout.write(`${out.join('\n')}\n`);
}

/** Writes `rows` to <repo>/.bench/<name>.json and returns the path. */
export function writeResults(name: string, rows: readonly Row[]): string {
  mkdirSync(resultsDir, { recursive: true });
  const path = join(resultsDir, `${name}.json`);
  writeFileSync(path, `${JSON.stringify({ name, date: new Date().toISOString(), rows }, null, 2)}\n`);
  return path;
}

// --- processes ---

const CLOCK_TICKS_PER_S = 100; // getconf CLK_TCK on Linux

/** CPU seconds (all threads, user + system) of a process so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
}

/** TCP ports `pid` listens on (METRICS_PORT=0 picks one and does not say which). */
export function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1] !== undefined) inodes.add(m[1]);
    } catch {
      // closed meanwhile
    }
  }
  const ports: number[] = [];
  for (const table of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const f = line.trim().split(/\s+/);
      const port = f[1]?.split(':')[1];
      if (f[3] === '0A' && port !== undefined && f[9] !== undefined && inodes.has(f[9])) {
        ports.push(parseInt(port, 16));
      }
    }
  }
  return ports;
}
