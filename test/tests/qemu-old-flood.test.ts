// Bookworm's own QEMU 7.2 has no flow control on its D-Bus display: it sends every refresh inline
// (a 1280x720 std VGA refresh is a 3.7 MB Scanout, about 30 a second) and queues whatever capture
// has not read yet, without limit. Before capture bounded that queue, QEMU grew by gigabytes and the
// picture fell seconds behind. The whole system as a user starts it, watched in Chromium for two
// minutes: QEMU's memory stays bounded, the page's lag does not grow, and capture says once, plainly,
// that this QEMU is too old.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  QemuVm,
  launchWebrtcChromium,
  openPlayer,
  readGuestStatus,
  statusFromPage,
  waitFor,
} from '@qemu-webrtc/test-kit';
import { StartedSystem } from '../harness/started-system.js';
import { startDirAndBus } from '../harness/bus-and-nats.js';

const WIDTH = 1280;
const HEIGHT = 720;
const VM_ID = 'old-qemu';
const TOKEN = 'old-qemu-token';
const RUN_MS = 120_000;
const SAMPLE_MS = 2_000;
/** CAPTURE_MAX_BACKLOG_S (capture's default, set here so the bound below follows from it). */
const MAX_BACKLOG_S = 1;
/** Capture pings QEMU every 250 ms (console-capture.ts); a link is dropped once a ping waits too long. */
const PROBE_S = 0.25;
const WARNING = 'QEMU is too old to flow-control its D-Bus display';

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? NaN) * 1024;
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(0)} MB`;

/** One of capture's metrics (the sum over its labels). */
function metric(text: string, name: string, labels = ''): number {
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`, 'gm'))) {
    if ((m[1] ?? '').includes(labels)) sum += Number(m[2]);
  }
  return sum;
}

test('QEMU 7.2 (no display flow control) at 1280x720 60 fps for 2 minutes: bounded memory, no growing lag, one warning', async (t) => {
  const { dir, bus } = await startDirAndBus((fn) => t.after(fn));
  const vm = await QemuVm.start(dir, { busAddress: bus.address, qemu: '7.2', width: WIDTH, height: HEIGHT });
  t.after(() => vm.stop());
  const qemuPid = vm.process.child.pid;
  assert.ok(qemuPid !== undefined);
  const version = (await vm.qmp.execute('query-version')) as { qemu: { major: number; minor: number } };
  assert.deepEqual([version.qemu.major, version.qemu.minor], [7, 2], 'the QEMU under test is 7.2');
  // QEMU's memory with the guest drawing and no display listener yet: the baseline for the bound.
  await waitFor(
    'the guest to draw',
    async () => readGuestStatus(await vm.screendump()) ?? undefined,
    60_000,
    300,
  );
  const baseline = rssBytes(qemuPid);

  // Every line of the whole run that carries the warning (start.mjs prefixes each child's lines).
  const warnings: string[] = [];
  let partial = '';
  const system = await StartedSystem.onVm(
    (fn) => t.after(fn),
    bus.address,
    VM_ID,
    { [TOKEN]: 'control' },
    {
      env: { CAPTURE_MAX_BACKLOG_S: String(MAX_BACKLOG_S) },
      onOutput: (chunk) => {
        const lines = (partial + chunk).split('\n');
        partial = lines.pop() ?? '';
        warnings.push(...lines.filter((line) => line.includes(WARNING)));
      },
    },
  );
  const captureMetrics = async (): Promise<string> =>
    (await fetch(`http://127.0.0.1:${system.ready.metricsPorts.capture}/metrics`)).text();
  const browser = await launchWebrtcChromium();
  t.after(() => browser.close());
  const page = await openPlayer(browser, system.baseUrl, VM_ID, TOKEN);
  await waitFor('the guest in the page', async () => (await statusFromPage(page)) ?? undefined, 60_000, 200);

  const samples: { atMs: number; lag: number; rss: number }[] = [];
  const t0 = performance.now();
  const before = await captureMetrics();
  while (performance.now() - t0 < RUN_MS) {
    const [seen, dump] = await Promise.all([statusFromPage(page), vm.screendump()]);
    const truth = readGuestStatus(dump);
    assert.ok(truth, 'QEMU shows the guest');
    // The guest's frame now minus the frame the page shows: the page's lag in guest frames.
    if (seen)
      samples.push({ atMs: performance.now() - t0, lag: truth.frame - seen.frame, rss: rssBytes(qemuPid) });
    await new Promise((r) => setTimeout(r, SAMPLE_MS));
  }
  const after = await captureMetrics();
  const elapsedS = (performance.now() - t0) / 1000;
  const pixelsIn =
    metric(after, 'capture_qemu_messages_total', 'Scanout') +
    metric(after, 'capture_qemu_messages_total', '"Update"') -
    metric(before, 'capture_qemu_messages_total', 'Scanout') -
    metric(before, 'capture_qemu_messages_total', '"Update"');
  const resets = metric(after, 'capture_listener_resets_total');
  const maxRss = Math.max(...samples.map((s) => s.rss));
  const third = Math.floor(samples.length / 3);
  const first = samples.slice(0, third).map((s) => s.lag);
  const last = samples.slice(-third).map((s) => s.lag);
  t.diagnostic(
    `${samples.length} samples over ${elapsedS.toFixed(0)} s (machine shared, timings indicative): ` +
      `capture read ${(pixelsIn / elapsedS).toFixed(1)} Scanout/Update per s, ${resets} listener resets; ` +
      `QEMU RSS ${mb(baseline)} at start, at most ${mb(maxRss)}; page lag in guest frames: ` +
      `first third median ${median(first)} (max ${Math.max(...first)}), last third median ${median(last)} ` +
      `(max ${Math.max(...last)}); lag series ${samples.map((s) => s.lag).join(' ')}`,
  );
  assert.ok(samples.length >= 30, `only ${samples.length} readable samples of the page`);

  // The bound: QEMU queues at most what it produces while capture is behind. Capture drops the link
  // once a ping has waited MAX_BACKLOG_S, and pings every PROBE_S, so a queue lives at most about
  // 2 * MAX_BACKLOG_S + PROBE_S of QEMU's output: full 3.7 MB frames at its ~33 Hz refresh, ~270 MB;
  // half as much again for a loaded machine (capture's timers run late), ~410 MB. Without the bound
  // QEMU grows by gigabytes in minutes (14 GB in 10 minutes was measured).
  const frameBytes = WIDTH * HEIGHT * 4;
  const bound = 1.5 * (2 * MAX_BACKLOG_S + PROBE_S) * 33 * frameBytes;
  assert.ok(
    maxRss <= baseline + bound,
    `QEMU grew from ${mb(baseline)} to ${mb(maxRss)}, over the ${mb(bound)} bound`,
  );
  // The lag does not grow: the last third of the run is no worse than the first (its median within
  // twice the first third's median, or under the worst lag seen in the first third).
  const allowed = Math.max(2 * median(first), Math.max(...first));
  assert.ok(
    median(last) <= allowed,
    `the page fell behind: lag median ${median(first)} frames in the first third, ${median(last)} in the last`,
  );
  // QEMU's backlog is measured and exported.
  assert.match(after, /^capture_qemu_backlog_seconds\{console="0"\} \S+$/m);
  assert.match(after, /^capture_qemu_backlog_bytes\{console="0"\} \S+$/m);

  assert.equal(warnings.length, 1, `the old-QEMU warning, once:\n${warnings.join('\n')}`);
  assert.match(warnings[0] ?? '', /9\.2 or newer/);
});
