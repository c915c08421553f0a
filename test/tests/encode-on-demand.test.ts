// Encode on demand, as a user meets it: the system as the start command runs it (demo VM, 640x480,
// its picture always changing), nobody watching. The encoder holds the console's stream but encodes
// nothing (its metrics say so, while capture keeps publishing frames); a page opens and shows the
// guest; the page closes and, after the linger (short here), encoding stops; a page opens again and
// shows the guest again. Time to first picture (page opened -> the guest read from the decoded
// <video>) is printed for both opens of an idle stream, and for a second page while the stream is
// encoded (the same path without the start on demand), never asserted.
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  guestStatusInPage,
  launchWebrtcChromium,
  metricSamples,
  openPlayer,
  scrapeMetrics,
  waitFor,
} from '@qemu-webrtc/test-kit';
import { FREE_PORT_ARGS, StartedSystem } from '../harness/started-system.js';

const VM_ID = 'demand';
const WIDTH = 640;
const HEIGHT = 480;
const TOKEN = 'encode-on-demand-token';
const LINGER_MS = 1500;

/** The sum of a metric family's samples (whatever their labels). */
const total = (text: string, name: string, labels?: RegExp): number =>
  metricSamples(text, name)
    .filter((s) => labels === undefined || labels.test(s.labels))
    .reduce((sum, s) => sum + s.value, 0);

test('the encoder encodes a console only while a page watches it; a page opening an idle stream gets a picture', async (t) => {
  const system = await StartedSystem.start(
    ['--vm-id', VM_ID, '--demo-size', `${WIDTH}x${HEIGHT}`, ...FREE_PORT_ARGS],
    {
      env: { SIGNALING_TOKENS: `${TOKEN}:control`, DEMAND_LINGER_MS: String(LINGER_MS) },
      timeoutMs: 120_000,
    },
  );
  t.after(() => system.stop());
  const { encoder: encoderPort, capture: capturePort } = system.ready.metricsPorts;
  const encoder = (): Promise<string> => scrapeMetrics(encoderPort);

  // Nobody watches: the stream is held (claimed, ready) but idle.
  await waitFor(
    'the encoder to hold the console idle',
    async () => {
      const m = await encoder();
      return total(m, 'encoder_streams_held') === 1 && total(m, 'encoder_streams_idle') === 1
        ? true
        : undefined;
    },
    30_000,
  );
  /** Encoded units over a quiet while; capture's frames over the same while. */
  async function quiet(what: string): Promise<void> {
    const [e0, c0] = [await encoder(), await scrapeMetrics(capturePort)];
    await sleep(1500);
    const [e1, c1] = [await encoder(), await scrapeMetrics(capturePort)];
    const published = (m: string): number => total(m, 'capture_frames_published_total');
    assert.ok(published(c1) > published(c0), `${what}: the guest's picture changes meanwhile`);
    assert.equal(
      total(e1, 'encoder_frames_encoded_total'),
      total(e0, 'encoder_frames_encoded_total'),
      `${what}: nothing is encoded`,
    );
    assert.equal(total(e1, 'encoder_streams_active'), 0, `${what}: no stream is active`);
  }
  await quiet('before any page');

  const browser = await launchWebrtcChromium();
  t.after(() => browser.close());
  const timings: number[] = [];
  async function watch(): Promise<Awaited<ReturnType<typeof openPlayer>>> {
    const t0 = performance.now();
    const page = await openPlayer(browser, system.baseUrl, VM_ID, TOKEN);
    await guestStatusInPage(page, 'the guest in the page', {
      size: { width: WIDTH, height: HEIGHT },
      intervalMs: 20,
    });
    timings.push(performance.now() - t0);
    const m = await encoder();
    assert.equal(total(m, 'encoder_streams_active'), 1, 'the watched stream is encoded');
    return page;
  }

  const page = await watch();
  // A second page while the stream is encoded: the same measure without the start on demand.
  const warm = await watch();
  await warm.close();
  await page.close();
  const closed = performance.now();
  await waitFor(
    'encoding to stop after the linger',
    async () => (total(await encoder(), 'encoder_streams_active') === 0 ? true : undefined),
    30_000,
    100,
  );
  const stoppedAfterMs = performance.now() - closed;
  assert.ok(stoppedAfterMs >= LINGER_MS * 0.9, `encoding went on for the linger (${stoppedAfterMs} ms)`);
  await quiet('after the page closed');

  const again = await watch();
  await again.close();
  const last = await encoder();
  const starts = total(last, 'encoder_demand_start_seconds_count');
  const startMs =
    starts > 0 ? Math.round((total(last, 'encoder_demand_start_seconds_sum') / starts) * 1000) : null;
  const keyframes = metricSamples(last, 'encoder_keyframes_total')
    .map((x) => `${x.labels}=${x.value}`)
    .join(' ');
  console.log(
    `encode-on-demand: time to first picture from an idle stream (page open -> guest read from the video): ` +
      `${[timings[0], timings[2]].map((ms) => `${Math.round(ms ?? 0)} ms`).join(', ')}; with the stream already ` +
      `encoded (a second page): ${Math.round(timings[1] ?? 0)} ms; encoding stopped ${Math.round(stoppedAfterMs)} ms ` +
      `after the page closed (linger ${LINGER_MS} ms); IDRs by reason: ${keyframes}; the encoder's part (demand -> first unit published): ${startMs} ms ` +
      `mean over ${starts} starts. Upper bounds on a loaded machine.`,
  );
});
