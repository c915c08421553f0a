// `pnpm bench soak`: the system as the start command runs it (demo VM), one viewer playing in
// headless Chromium, for 10 minutes. Every 30 s: the resident memory (RSS, /proc/PID/status) of
// each service, nats-server and QEMU, and the guest frame the page shows (it must keep moving).
// Printed as a table and written to .bench/soak-samples.json; growth after the first minute (the
// warm-up: JIT, codec and ring buffers) per process, as MB and MB per minute, in .bench/soak.json.
// Reported, never asserted. Not part of a plain `pnpm bench` (it takes 10 minutes): name it.
//
// SOAK_SECONDS (default 600): how long. SOAK_INTERVAL_S (default 30): between samples.
// SOAK_SIZE (default 1280x720): the demo VM's resolution.
import { setTimeout as sleep } from 'node:timers/promises';
import { launchWebrtcChromium, openPlayer, rssBytes, statusFromPage } from '@qemu-webrtc/test-kit';
import { FREE_PORT_ARGS, StartedSystem } from '../harness/started-system.js';
import { printTable, round, writeResults, type Row } from './bench-kit.js';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 600);
const INTERVAL_S = Number(process.env.SOAK_INTERVAL_S ?? 30);
const SIZE = process.env.SOAK_SIZE ?? '1280x720';
const WARMUP_S = 60;
const TOKEN = 'soak-control';
/** What is measured, under the names start.mjs gives its children (demo-vm is QEMU). */
const PROCESSES = ['capture', 'encoder', 'input', 'signaling', 'nats', 'demo-vm'] as const;
const label = (name: string): string => (name === 'demo-vm' ? 'qemu' : name);
const mb = (bytes: number | undefined): number | null =>
  bytes === undefined ? null : round(bytes / (1024 * 1024), 1);

if (!(SECONDS > 0) || !(INTERVAL_S > 0)) {
  console.error('SOAK_SECONDS and SOAK_INTERVAL_S take positive numbers of seconds');
  process.exit(2);
}

const system = await StartedSystem.start(['--demo-size', SIZE, ...FREE_PORT_ARGS], {
  env: { SIGNALING_TOKENS: `${TOKEN}:control`, LOG_LEVEL: 'warn' },
  timeoutMs: 120_000,
});
const browser = await launchWebrtcChromium();
try {
  const page = await openPlayer(browser, system.baseUrl, system.ready.vmId, TOKEN);
  const pids = Object.fromEntries(PROCESSES.map((n) => [n, system.pidOf(n)]));
  const samples: Row[] = [];
  const rss: Record<string, (number | undefined)[]> = Object.fromEntries(PROCESSES.map((n) => [n, []]));
  const times: number[] = [];
  const t0 = Date.now();
  for (let i = 0; ; i++) {
    const at = i * INTERVAL_S;
    await sleep(Math.max(0, t0 + at * 1000 - Date.now()));
    const row: Row = { t_s: at };
    for (const name of PROCESSES) {
      const pid = system.pidOf(name);
      const bytes = pid === undefined ? undefined : await rssBytes(pid);
      rss[name]?.push(pid === pids[name] ? bytes : undefined);
      row[`${label(name)}_MB`] = mb(bytes);
    }
    row.guest_frame = (await statusFromPage(page).catch(() => null))?.frame ?? null;
    row.restarts = system.events.filter((e) => e.event === 'exited').length;
    times.push(at);
    samples.push(row);
    process.stdout.write(`${JSON.stringify(row)}\n`);
    if (at >= SECONDS) break;
  }
  printTable(samples, `RSS every ${INTERVAL_S} s, one viewer, demo VM ${SIZE} (MB)`);
  writeResults('soak-samples', samples);

  // Growth after the warm-up: from the first sample at or after WARMUP_S to the last.
  const from = times.findIndex((t) => t >= Math.min(WARMUP_S, SECONDS));
  const minutes = ((times.at(-1) ?? 0) - (times[from] ?? 0)) / 60;
  const growth: Row[] = PROCESSES.map((name) => {
    const series = rss[name] ?? [];
    const start = series[from];
    const end = series.at(-1);
    const delta = start !== undefined && end !== undefined ? end - start : undefined;
    return {
      process: label(name),
      [`rss_at_${times[from] ?? 0}s_MB`]: mb(start),
      rss_end_MB: mb(end),
      growth_MB: mb(delta),
      growth_MB_per_min:
        delta !== undefined && minutes > 0 ? round(delta / (1024 * 1024) / minutes, 2) : null,
      restarted: system.pidOf(name) !== pids[name] ? 'yes' : 'no',
    };
  });
  printTable(growth, `Growth after the first ${WARMUP_S} s (${minutes.toFixed(1)} min)`);
  process.stdout.write(`wrote ${writeResults('soak', growth)}\n`);
} finally {
  await browser.close();
  await system.stop();
}
