// The whole system as a user starts it (`node scripts/start.mjs --vm <bus>`), driven from headless
// Chromium: our own QEMU (test guest) on our own dbus-daemon, so the test can restart it. One
// system for every check: the page shows the guest, frame numbers advance, a key flips the guest's
// marker, a second viewer sees video too, a view-only viewer cannot type, video comes back after
// the encoder is killed (start.mjs restarts it) and after QEMU is restarted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import {
  QemuVm,
  guestStatusInPage,
  launchWebrtcChromium,
  openPlayer,
  readGuestStatus,
  statusFromPage,
  type GuestStatus,
  type PlayerHooks,
  type QemuOptions,
} from '@qemu-webrtc/test-kit';
import { StartedSystem } from '../harness/started-system.js';
import { startDirAndBus } from '../harness/bus-and-nats.js';

const WIDTH = 1024;
const HEIGHT = 768;
const VM_ID = 'e2e';
const CONTROL = 'e2e-control-token';
const VIEW = 'e2e-view-token';
/** The guest's display device: virtio-gpu, flushed every frame (60 fps). */
const VIDEO = 'virtio';

/** The guest's status read from a page once it shows the guest at its size. */
function guestInPage(
  page: Page,
  what: string,
  accept: (s: GuestStatus) => boolean = () => true,
): Promise<GuestStatus> {
  return guestStatusInPage(page, what, { size: { width: WIDTH, height: HEIGHT }, accept });
}

/** Frame numbers read from the page over `ms`: the first and last seen, and how many distinct. */
async function watchFrames(
  page: Page,
  ms: number,
): Promise<{ first: number; last: number; seen: number; rate: number }> {
  const t0 = Date.now();
  const frames: { at: number; frame: number }[] = [];
  while (Date.now() - t0 < ms) {
    const s = await statusFromPage(page);
    if (s && (frames.length === 0 || s.frame !== frames.at(-1)?.frame))
      frames.push({ at: Date.now(), frame: s.frame });
    await new Promise((r) => setTimeout(r, 100));
  }
  const first = frames[0];
  const last = frames.at(-1);
  const rate =
    first && last && last.at > first.at ? ((last.frame - first.frame) * 1000) / (last.at - first.at) : 0;
  return { first: first?.frame ?? -1, last: last?.frame ?? -1, seen: frames.length, rate };
}

test('the started system in Chromium: video, input, viewers, roles, encoder and QEMU restarts', async (t) => {
  const { dir, bus } = await startDirAndBus((fn) => t.after(fn));
  const qemuOptions: QemuOptions = {
    busAddress: bus.address,
    width: WIDTH,
    height: HEIGHT,
    video: VIDEO,
  };
  let vm = await QemuVm.start(dir, qemuOptions);
  t.after(() => vm.stop());

  const system = await StartedSystem.onVm((fn) => t.after(fn), bus.address, VM_ID, {
    [CONTROL]: 'control',
    [VIEW]: 'view',
  });
  const browser = await launchWebrtcChromium();
  t.after(() => browser.close());
  const base = system.baseUrl;
  const control = await openPlayer(browser, base, VM_ID, CONTROL);

  await t.test('the page shows the guest', async () => {
    const seen = await guestInPage(control, 'the guest’s status blocks in the <video>');
    const truth = readGuestStatus(await vm.screendump());
    assert.ok(truth, 'QEMU shows the guest');
    assert.equal(seen.presses, truth.presses);
    assert.equal(seen.marker, truth.marker);
    assert.ok(seen.frame <= truth.frame, `page frame ${seen.frame}, QEMU's ${truth.frame}`);
  });

  await t.test('frame numbers advance', async () => {
    const w = await watchFrames(control, 3000);
    const stats = await control.evaluate(() => (window as PlayerHooks).qemuWebrtc?.stats);
    t.diagnostic(
      `guest frames ${w.first} -> ${w.last} (${w.seen} distinct numbers read) in 3 s: ` +
        `${w.rate.toFixed(1)} guest frames/s; the page reports ${stats?.fps.toFixed(1) ?? '?'} fps decoded`,
    );
    assert.ok(w.seen >= 2 && w.last > w.first, `frames ${w.first} -> ${w.last}`);
  });

  await t.test('a key pressed in the page flips the guest’s marker', async () => {
    await control.waitForFunction(() => (window as PlayerHooks).qemuWebrtc?.inputOpen === true);
    const before = await guestInPage(control, 'the guest');
    await control.focus('#stage');
    await control.keyboard.press('KeyA');
    const after = await guestInPage(control, 'the flipped marker', (s) => s.presses === before.presses + 1);
    assert.equal(after.marker, !before.marker);
    assert.equal(after.scancode, 0x1e, 'the guest saw A (scancode 0x1e)');
  });

  await t.test('a second viewer joins and both see video', async () => {
    const second = await openPlayer(browser, base, VM_ID, CONTROL);
    try {
      const a = await guestInPage(second, 'the guest in the second page');
      const b = await guestInPage(control, 'the guest in the first page');
      await guestInPage(second, 'the second page’s frames to advance', (s) => s.frame > a.frame);
      await guestInPage(control, 'the first page’s frames to advance', (s) => s.frame > b.frame);
    } finally {
      await second.close();
    }
  });

  await t.test('a view-only viewer cannot type', async () => {
    const viewer = await openPlayer(browser, base, VM_ID, VIEW);
    try {
      await viewer.waitForFunction(() => (window as PlayerHooks).qemuWebrtc?.inputOpen === true);
      assert.equal(await viewer.evaluate(() => (window as PlayerHooks).qemuWebrtc?.role), 'view');
      const before = await guestInPage(viewer, 'the guest in the view-only page');
      await viewer.focus('#stage');
      for (const key of ['KeyB', 'Enter', 'KeyC']) await viewer.keyboard.press(key);
      // Past the page's own checks, straight onto the DataChannel.
      await viewer.evaluate(() => {
        const hooks = (window as PlayerHooks).qemuWebrtc;
        hooks?.sendRaw(JSON.stringify({ t: 'key', code: 'KeyD', down: true }));
        hooks?.sendRaw(JSON.stringify({ t: 'key', code: 'KeyD', down: false }));
      });
      await viewer.waitForFunction(() => document.querySelector('#toast')?.textContent.includes('View only'));
      // Then a key from the control page: once it shows, anything the viewer sent before would have too.
      await control.focus('#stage');
      await control.keyboard.press('KeyE');
      const after = await guestInPage(viewer, 'the control page’s key', (s) => s.presses > before.presses);
      assert.equal(after.presses, before.presses + 1, 'only the control page’s key reached the guest');
      assert.equal(after.scancode, 0x12, 'the last key the guest saw is E (0x12)');
    } finally {
      await viewer.close();
    }
  });

  await t.test('the encoder is killed and video resumes', async () => {
    const pid = system.pidOf('encoder');
    assert.ok(pid !== undefined, 'start.mjs runs an encoder');
    process.kill(pid, 'SIGKILL');
    await system.waitForEvent(
      'the encoder’s restart',
      (e) => e.event === 'started' && e.name === 'encoder' && e.pid !== pid,
    );
    const frameAtRestart = readGuestStatus(await vm.screendump())?.frame ?? 0;
    const s = await guestInPage(control, 'video from the new encoder', (x) => x.frame > frameAtRestart);
    t.diagnostic(`after the restart the page shows guest frame ${s.frame} (QEMU was at ${frameAtRestart})`);
    assert.match(
      system.process.output,
      /\[encoder\] exited \(SIGKILL\) after [\d.]+ s; restarting in \d+ ms/,
    );
  });

  await t.test('QEMU is restarted and video resumes', async () => {
    const before = await guestInPage(control, 'the guest');
    assert.ok(before.presses > 0, 'keys were pressed in the first QEMU');
    await vm.stop();
    vm = await QemuVm.start(dir, qemuOptions);
    // A fresh guest counts from zero presses; its frames must advance in the page.
    const first = await guestInPage(control, 'the new guest in the page', (s) => s.presses === 0);
    await guestInPage(
      control,
      'the new guest’s frames to advance',
      (s) => s.presses === 0 && s.frame > first.frame,
    );
  });
});
