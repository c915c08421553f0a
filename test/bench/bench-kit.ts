// Helpers for the benchmarks (`pnpm bench`): percentiles, an aligned table on stdout, and results as
// JSON under <repo>/.bench/ (git-ignored). Timings are reported, never asserted.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file runs from test/dist/bench/). */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const resultsDir = join(repoRoot, '.bench');

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
