// Signaling follows the viewer's link, for real: headless Chromium runs in a network namespace of
// its own (the test kit's netns.ts) whose link from us is limited with a token bucket (tc tbf), on the
// live pipeline (QEMU + test guest -> capture -> encoder with two renditions -> signaling).
// - An adaptive viewer on a link too thin for "full" is moved to "low" (the page's video becomes
//   half size and still shows the guest's advancing frames), and back to "full" once the limit is
//   lifted.
// - A viewer pinned to the lowest rendition on a link too thin even for it: the encoder is asked
//   for a lower bitrate (EncoderControl), its output shrinks, and the bitrate is given back when the
//   viewer leaves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { subjects, type StreamKey } from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import {
  TempDir,
  ViewerNetwork,
  launchChromium,
  statusFromPage,
  waitFor,
  withToken,
} from '@qemu-webrtc/test-kit';
import type { Page } from 'playwright-core';
import { CONTROL_TOKEN } from './harness.js';
import { LivePipeline, VM_ID } from './live-pipeline.js';

const { EncoderControl, EncodedFrame } = qemu_webrtc.v1;

const WIDTH = 1280;
const HEIGHT = 720;
const FULL_BPS = 4_000_000;
const LOW_BPS = 400_000;
const LOW: StreamKey = { vmId: VM_ID, consoleId: 0, rendition: 'low' };

async function videoSize(page: Page): Promise<string> {
  return page.evaluate(() => {
    const v = document.querySelector('video');
    return v ? `${v.videoWidth}x${v.videoHeight}` : 'none';
  });
}

/** Guest frame numbers read from the page's video: `count` of them, increasing. */
async function advancingFrames(page: Page, count: number): Promise<number[]> {
  const frames: number[] = [];
  await waitFor(
    `${count} increasing guest frame numbers in the video`,
    async () => {
      const status = await statusFromPage(page, { guest: { width: WIDTH, height: HEIGHT } });
      if (status && (frames.length === 0 || status.frame > (frames.at(-1) ?? 0))) frames.push(status.frame);
      return frames.length >= count;
    },
    45_000,
    300,
  );
  return frames;
}

test('the rendition and the bitrate follow the viewer link', async (t) => {
  const dir = new TempDir();
  t.after(() => dir.remove());
  const net = await ViewerNetwork.create();
  t.after(() => net.destroy());
  const p = await LivePipeline.start(t, {
    width: WIDTH,
    height: HEIGHT,
    captureFps: 30,
    renditions: `full:1:${FULL_BPS},low:0.5:${LOW_BPS}`,
    signalingEnv: {
      HTTP_HOST: net.hostAddress,
      ICE_BIND_ADDRESS: net.hostAddress,
      ADAPT_UP_AFTER_MS: '3000',
    },
  });
  const s = p.signaling;
  await waitFor('capture to announce the console', () => s.service.consoles.get(VM_ID, 0)?.running, 30_000);
  await waitFor('the encoders ladder to be known', () => s.service.ladder.ordered().length === 2, 10_000);
  const browser = await launchChromium(['--disable-features=WebRtcHideLocalIpsWithMdns'], {
    executablePath: net.chromiumWrapper(dir),
  });
  p.defer(() => browser.close());
  const base = `http://${net.hostAddress}:${s.service.port}`;

  const open = async (query: string): Promise<Page> => {
    const page = await browser.newPage({ viewport: { width: 1000, height: 700 } });
    page.on('pageerror', (e) => console.error('page error:', e.message));
    await page.goto(withToken(`${base}/view/${VM_ID}/0${query}`, CONTROL_TOKEN));
    await page.waitForFunction(
      () => {
        const v = document.querySelector('video');
        return v !== null && v.readyState >= 2 && v.videoWidth > 0;
      },
      undefined,
      { timeout: 45_000 },
    );
    return page;
  };

  await t.test('an adaptive viewer moves down on a thin link and back up when it widens', async () => {
    await net.limit(1500);
    const page = await open('');
    await waitFor(
      'the video to become the half-size rendition',
      async () => (await videoSize(page)) === `${WIDTH / 2}x${HEIGHT / 2}`,
      60_000,
      500,
    );
    const frames = await advancingFrames(page, 4);
    t.diagnostic(
      `on "low": guest frames ${frames.join(', ')}; smoothed loss ${[...s.service.viewers.all()].map((v) => v.link.smoothedLoss.toFixed(3)).join()}`,
    );
    await net.unlimit();
    await waitFor(
      'the video to be full size again',
      async () => (await videoSize(page)) === `${WIDTH}x${HEIGHT}`,
      60_000,
      500,
    );
    const again = await advancingFrames(page, 4);
    t.diagnostic(`back on "full": guest frames ${again.join(', ')}`);
    const metrics = await s.service.metrics.registry.metrics();
    assert.match(metrics, /signaling_rendition_switches_total\{direction="down"\} [1-9]/);
    assert.match(metrics, /signaling_rendition_switches_total\{direction="up"\} [1-9]/);
    await page.close();
  });

  await t.test('a pinned viewer on a link too thin for the lowest rendition lowers its bitrate', async () => {
    const controls: number[] = [];
    s.nc.subscribe(subjects.encoderControl(LOW), {
      callback: (_e, m) => controls.push(EncoderControl.decode(m.data).bitrateBps),
    });
    // Bytes the encoder makes of "low", per second, measured over windows of 2 s.
    const sizes: { atMs: number; bytes: number }[] = [];
    s.nc.subscribe(subjects.encoded(LOW), {
      callback: (_e, m) =>
        sizes.push({ atMs: performance.now(), bytes: EncodedFrame.decode(m.data).data.length }),
    });
    const rate = (fromMs: number, toMs: number): number =>
      (sizes.filter((x) => x.atMs >= fromMs && x.atMs < toMs).reduce((n, x) => n + x.bytes, 0) * 8 * 1000) /
      (toMs - fromMs);
    await new Promise((r) => setTimeout(r, 4000));
    const t0 = performance.now();
    await net.limit(150);
    const page = await open('?rendition=low');
    await waitFor('two lower bitrates asked of the encoder', () => new Set(controls).size >= 2, 60_000, 250);
    const lowest = Math.min(...controls);
    assert.ok(lowest < LOW_BPS, `asked for ${lowest} bit/s, below the rendition's ${LOW_BPS}`);
    assert.ok(lowest >= LOW_BPS * 0.2, 'never below the floor');
    // The encoder's output follows (x264's rate control needs a moment: compare later windows).
    await new Promise((r) => setTimeout(r, 4000));
    const now = performance.now();
    const before = rate(t0 - 4000, t0);
    const after = rate(now - 2000, now);
    t.diagnostic(
      `asked: ${controls.join(', ')} bit/s; encoder output ${Math.round(before / 1000)} -> ${Math.round(after / 1000)} kbit/s`,
    );
    assert.ok(after < before * 0.85, `the encoder's output shrank (${before} -> ${after} bit/s)`);
    await page.close();
    await net.unlimit();
    await waitFor('the nominal bitrate to be given back', () => controls.at(-1) === LOW_BPS, 30_000, 250);
  });
});
