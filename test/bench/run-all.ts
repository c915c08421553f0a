// `pnpm bench`: runs every *.bench.js next to this file, each in its own node process, one after
// the other (they want the machine to themselves), then prints one combined table and writes
// <repo>/.bench/all.json. Arguments filter benchmarks by name: `pnpm bench capture`. The soak
// (10 minutes) runs only when named: `pnpm bench soak`.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { printTable, resultsDir, writeResults, type Row } from './bench-kit.js';

const here = dirname(fileURLToPath(import.meta.url));
const filter = process.argv.slice(2);
/** Benchmarks too long for a plain `pnpm bench`: run only when an argument names them. */
const onlyWhenNamed = new Set(['soak']);
const names = readdirSync(here)
  .filter((f) => f.endsWith('.bench.js'))
  .map((f) => f.slice(0, -'.bench.js'.length))
  .filter((n) =>
    onlyWhenNamed.has(n)
      ? filter.some((x) => n.includes(x))
      : filter.length === 0 || filter.some((x) => n.includes(x)),
  )
  .sort();
if (names.length === 0) {
  console.error(`no benchmarks found in ${here}: build the test package first (cd test && npx tsc -b)`);
  process.exit(1);
}

const combined: Row[] = [];
const failed: string[] = [];
for (const name of names) {
  process.stdout.write(`\n== ${name} ==\n`);
  const path = join(resultsDir, `${name}.json`);
  rmSync(path, { force: true }); // no stale results from an earlier run
  const result = spawnSync(process.execPath, ['--enable-source-maps', join(here, `${name}.bench.js`)], {
    stdio: 'inherit',
  });
  if (result.status !== 0 || !existsSync(path)) {
    failed.push(name);
    continue;
  }
  const { rows } = JSON.parse(readFileSync(path, 'utf8')) as { rows: Row[] };
  for (const row of rows) combined.push({ bench: name, ...row });
}

process.stdout.write('\n');
if (combined.length > 0) {
  printTable(combined, 'All benchmarks');
  process.stdout.write(`\nwrote ${writeResults('all', combined)}\n`);
}
if (failed.length > 0) {
  console.error(`failed: ${failed.join(', ')}`);
  process.exit(1);
}
