// Resolution follows the window, through the whole system as a user starts it (`start.mjs --vm`)
// with real QEMU (the test guest on virtio-gpu, which honours SetUIInfo) and headless Chromium:
// the control page's player area becomes the guest's mode (QMP screendump) and the <video>'s size,
// in the same page, with the guest's frame numbers still advancing; a view-only page resizing
// changes nothing. Then QEMU is restarted with std VGA: a new control page says, once, that the
// display cannot follow. The time from a resize to the first picture at the new size is printed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import {
  QemuVm,
  guestStatusInPage,
  launchWebrtcChromium,
  openPlayer,
  statusFromPage,
  videoSize,
  waitFor,
  type PlayerHooks,
} from '@qemu-webrtc/test-kit';
import { StartedSystem } from '../harness/started-system.js';
import { startDirAndBus } from '../harness/bus-and-nats.js';

const VM_ID = 'resize';
const CONTROL = 'resize-control-token';
const VIEW = 'resize-view-token';

interface FollowHooks {
  qemuWebrtc?: PlayerHooks['qemuWebrtc'] & {
    follow: {
      mode: string;
      area: { width: number; height: number };
      sent: number;
      lastOutcome?: string;
      notices: string[];
    };
  };
}

const followOf = (page: Page): Promise<NonNullable<FollowHooks['qemuWebrtc']>['follow'] | undefined> =>
  page.evaluate(() => (window as FollowHooks).qemuWebrtc?.follow);

/** The player area (device pixels) once it has settled at a viewport size. */
async function areaOf(page: Page): Promise<{ width: number; height: number }> {
  return page.evaluate(() => {
    const r = document.getElementById('stage')?.getBoundingClientRect();
    return {
      width: Math.round((r?.width ?? 0) * devicePixelRatio),
      height: Math.round((r?.height ?? 0) * devicePixelRatio),
    };
  });
}

async function screenSize(vm: QemuVm): Promise<{ width: number; height: number }> {
  const shot = await vm.screendump();
  return { width: shot.width, height: shot.height };
}

/** Records, in the page, when the <video> first shows each new size (its `resize` event). */
async function watchVideoSizes(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as Window & { videoSizes?: { at: number; width: number; height: number }[] };
    if (w.videoSizes) return;
    const sizes: { at: number; width: number; height: number }[] = [];
    w.videoSizes = sizes;
    const v = document.querySelector('video');
    v?.addEventListener('resize', () =>
      sizes.push({ at: performance.now(), width: v.videoWidth, height: v.videoHeight }),
    );
  });
}

test('the guest follows the control page’s window; view-only changes nothing; std VGA says so', async (t) => {
  const { dir, bus } = await startDirAndBus((fn) => t.after(fn));
  let vm = await QemuVm.start(dir, { busAddress: bus.address, width: 1280, height: 720, video: 'virtio' });
  t.after(() => vm.stop());
  const system = await StartedSystem.onVm((fn) => t.after(fn), bus.address, VM_ID, {
    [CONTROL]: 'control',
    [VIEW]: 'view',
  });
  const browser = await launchWebrtcChromium();
  t.after(() => browser.close());
  const control = await openPlayer(browser, system.baseUrl, VM_ID, CONTROL, 0, { followWindow: true });
  await watchVideoSizes(control);
  let lastFrame = -1;

  for (const viewport of [
    { width: 1280, height: 720 },
    { width: 1024, height: 768 },
    { width: 1600, height: 900 },
  ]) {
    await t.test(`viewport ${viewport.width}x${viewport.height}`, async () => {
      const t0 = await control.evaluate(() => performance.now());
      await control.setViewportSize(viewport);
      const area = await areaOf(control);
      // The guest's mode (QEMU's own screen) becomes the player area...
      const shot = await waitFor(
        `QEMU's screen at ${area.width}x${area.height}`,
        async () => {
          const s = await screenSize(vm);
          return s.width === area.width && s.height === area.height ? s : undefined;
        },
        20_000,
        100,
      );
      const qemuMs = (await control.evaluate(() => performance.now())) - t0;
      // ...and so does the picture in the same page, whose frame numbers keep advancing.
      const first = await guestStatusInPage(control, `the guest at ${area.width}x${area.height}`, {
        size: area,
        timeoutMs: 20_000,
      });
      const later = await guestStatusInPage(control, 'its frames to advance', {
        size: area,
        accept: (s) => s.frame > first.frame,
        timeoutMs: 20_000,
      });
      assert.ok(later.frame > lastFrame, `frames go on: ${lastFrame} -> ${later.frame}`);
      lastFrame = later.frame;
      const shown = await control.evaluate(
        ({ w, h, since }) =>
          (
            window as Window & { videoSizes?: { at: number; width: number; height: number }[] }
          ).videoSizes?.find((s) => s.width === w && s.height === h && s.at >= since)?.at,
        { w: area.width, h: area.height, since: t0 },
      );
      const follow = await followOf(control);
      t.diagnostic(
        `viewport ${viewport.width}x${viewport.height} -> player area and guest ${shot.width}x${shot.height}: ` +
          `QEMU's screen after ${qemuMs.toFixed(0)} ms (polled every 100 ms), first picture at the new size in the ` +
          `<video> after ${shown !== undefined ? (shown - t0).toFixed(0) : '(already that size)'} ms ` +
          `(including the page's 300 ms debounce); answer: ${follow?.lastOutcome ?? '-'}`,
      );
      assert.deepEqual(await videoSize(control), area);
    });
  }

  await t.test('a view-only page resizing changes nothing', async () => {
    const viewer = await openPlayer(browser, system.baseUrl, VM_ID, VIEW, 0, { followWindow: true });
    try {
      const before = await screenSize(vm);
      await viewer.setViewportSize({ width: 800, height: 600 });
      await viewer.setViewportSize({ width: 1100, height: 700 });
      await new Promise((r) => setTimeout(r, 2000)); // well past the page's debounce
      assert.deepEqual(await screenSize(vm), before, 'the guest kept the control page’s size');
      assert.equal((await followOf(viewer))?.sent, 0, 'the view-only page sent no size');
      // The control page still plays at its size.
      const s = await statusFromPage(control);
      assert.ok(s !== null, 'the control page still shows the guest');
    } finally {
      await viewer.close();
    }
  });

  await t.test('std VGA: the page says once that the display cannot follow', async () => {
    await control.close(); // its session would come back after the restart with its own hint
    await vm.stop();
    vm = await QemuVm.start(dir, { busAddress: bus.address, width: 1280, height: 720, video: 'vga' });
    const page = await openPlayer(browser, system.baseUrl, VM_ID, CONTROL, 0, { followWindow: true });
    try {
      await page.setViewportSize({ width: 1024, height: 768 });
      await page.waitForFunction(
        () => (window as FollowHooks).qemuWebrtc?.follow.lastOutcome === 'unsupported',
        undefined,
        { timeout: 20_000 },
      );
      await page.waitForFunction(() =>
        document.querySelector('#toast')?.textContent.includes('cannot follow'),
      );
      const follow = await followOf(page);
      assert.equal(follow?.notices.length, 1, 'said once');
      assert.deepEqual(await screenSize(vm), { width: 1280, height: 720 }, 'the VGA guest kept its mode');
      await page.setViewportSize({ width: 900, height: 700 });
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal((await followOf(page))?.notices.length, 1, 'not said again');
      // The picture is scaled into the player area.
      assert.deepEqual(await videoSize(page), { width: 1280, height: 720 });
    } finally {
      await page.close();
    }
  });
});
