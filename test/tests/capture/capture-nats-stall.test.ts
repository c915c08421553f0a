// A stalled NATS (nats-server frozen with SIGSTOP: the socket stays open, nothing is read) must cost
// capture no memory: it keeps reading QEMU, drops frames instead of queueing them, and publishes
// again once NATS resumes. Capture runs as its own process so its memory is measured alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { ManagedProcess, QemuVm, waitFor } from '@qemu-webrtc/test-kit';
import { setup } from './capture-harness.js';

const MAIN = fileURLToPath(import.meta.resolve('@qemu-webrtc/capture/main'));
const STALL_MS = 8000;
const SAMPLE_MS = 250;
const MAX_GROWTH_BYTES = 64 * 1024 * 1024;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** VmRSS of a process, in bytes. */
function rss(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(m?.[1], `no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

interface Counters {
  qemuMessages: number;
  droppedNats: number;
  published: number;
}

/** The counters this test follows, from capture's /metrics. */
async function counters(port: number): Promise<Counters> {
  const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
  const sum = (re: RegExp): number =>
    [...text.matchAll(re)].reduce((total, m) => total + Number(m[1] ?? 0), 0);
  return {
    qemuMessages: sum(/^capture_qemu_messages_total\{[^}]*\} (\S+)$/gm),
    droppedNats: sum(/^capture_frames_dropped_total\{reason="nats"\} (\S+)$/gm),
    published: sum(/^capture_frames_published_total (\S+)$/gm),
  };
}

/** The largest RSS seen while sampling every SAMPLE_MS for `ms`. */
async function peakRss(pid: number, ms: number): Promise<number> {
  let peak = rss(pid);
  for (let waited = 0; waited < ms; waited += SAMPLE_MS) {
    await sleep(SAMPLE_MS);
    peak = Math.max(peak, rss(pid));
  }
  return peak;
}

const mib = (bytes: number): string => `${(bytes / 1048576).toFixed(1)} MiB`;

test('a stalled NATS costs capture no memory; it keeps reading QEMU and publishes again after', async (t) => {
  const env = await setup(t);
  const vm = await QemuVm.start(env.dir, { busAddress: env.bus.address, width: 1280, height: 720 });
  env.defer(() => vm.stop());
  const port = await freePort();
  const capture = new ManagedProcess('capture', process.execPath, ['--enable-source-maps', MAIN], {
    env: {
      ...process.env,
      NATS_URL: env.nats.url,
      DBUS_ADDRESS: env.bus.address,
      RING_DIR: env.dir.path,
      VM_ID: 'test-vm',
      METRICS_PORT: String(port),
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    },
  });
  env.defer(() => capture.stop());
  const pid = capture.child.pid;
  assert.ok(pid !== undefined, `capture did not start:\n${capture.output}`);

  // Frames flowing, and long enough for the heap to settle into its steady state.
  await waitFor('frames from capture', () => env.frames.length >= 50, 30_000);
  const before = await counters(port);
  const rssBefore = await peakRss(pid, 3000);

  env.nats.stall();
  let resumed = false;
  const resume = (): void => {
    if (!resumed) env.nats.resume();
    resumed = true;
  };
  env.defer(resume); // never leave a frozen nats-server behind a failed assertion
  const stallStart = await counters(port);
  const rssStalled = await peakRss(pid, STALL_MS);
  const stallEnd = await counters(port);
  resume();

  const frameAtResume = stallEnd.published;
  const after = await waitFor(
    'a frame published after NATS resumed',
    () => env.frames.find((f) => f.sequence > frameAtResume),
    30_000,
  );
  const rssAfter = rss(pid);
  const end = await counters(port);

  t.diagnostic(
    `RSS peak before ${mib(rssBefore)}, during the stall ${mib(rssStalled)}, after ${mib(rssAfter)}; ` +
      `during the stall: ${stallEnd.droppedNats - stallStart.droppedNats} frames dropped (nats), ` +
      `${stallEnd.published - stallStart.published} published, ` +
      `${stallEnd.qemuMessages - stallStart.qemuMessages} QEMU messages read`,
  );
  assert.ok(
    rssStalled - rssBefore < MAX_GROWTH_BYTES,
    `RSS grew by ${mib(rssStalled - rssBefore)} during the stall (${mib(rssBefore)} -> ${mib(rssStalled)})`,
  );
  assert.ok(
    stallEnd.droppedNats > stallStart.droppedNats,
    'frames were dropped for reason "nats" during the stall',
  );
  assert.ok(before.published > 0, 'frames were published before the stall');
  assert.ok(stallEnd.qemuMessages > stallStart.qemuMessages, 'capture kept reading QEMU during the stall');
  assert.equal(after.vmId, 'test-vm');
  assert.ok(end.published > stallEnd.published, 'capture publishes again after the stall');
  assert.ok(capture.running, 'capture is still running');
});
