// The player's less common input paths, in headless Chromium against the real signaling service
// (the console announced as capture would, video from x264 through the synthetic encoder): relative
// mouse under pointer lock, multitouch, and Keyboard Lock in full screen. What the page sends is
// checked where the input service picks it up: the InputEvents on NATS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { launchWebrtcChromium, waitFor, withToken, type PlayerHooks } from '@qemu-webrtc/test-kit';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import { CONTROL_TOKEN, Signaling, SyntheticEncoder } from './harness.js';

const { TouchPhase } = qemu_webrtc.v1;
const W = 320;
const H = 240;

async function startConsole(
  t: Parameters<typeof Signaling.start>[0],
  vmId: string,
  info: Partial<qemu_webrtc.v1.IConsoleInfo>,
): Promise<{ s: Signaling; events: qemu_webrtc.v1.InputEvent[]; browser: Browser }> {
  const s = await Signaling.start(t);
  await s.announce({ width: W, height: H, ...info, vmId });
  const encoder = new SyntheticEncoder(s.nc, { vmId, consoleId: 0, rendition: 'full' }, W, H);
  encoder.start(15);
  s.defer(() => encoder.close());
  const browser = await launchWebrtcChromium();
  s.defer(() => browser.close());
  return { s, events: s.recordInput(vmId), browser };
}

async function openPlayer(browser: Browser, base: string, vmId: string, hasTouch = false): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 640, height: 480 }, hasTouch });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(withToken(`${base}/view/${vmId}/0`, CONTROL_TOKEN));
  await page.waitForFunction(
    () => {
      const v = document.querySelector('video');
      const hooks = (window as PlayerHooks).qemuWebrtc;
      return v !== null && v.videoWidth > 0 && hooks?.inputOpen === true;
    },
    undefined,
    { timeout: 30_000 },
  );
  return page;
}

test('relative mouse: a click takes pointer lock, moves become relative motion', async (t) => {
  const { s, events, browser } = await startConsole(t, 'rel-vm', { mouseIsAbsolute: false });
  const page = await openPlayer(browser, s.baseUrl, 'rel-vm');
  const box = await page.locator('#stage').boundingBox();
  assert.ok(box);
  await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
  await page.waitForFunction(() => document.pointerLockElement?.id === 'stage', undefined, {
    timeout: 10_000,
  });
  // Everything after the click's release comes under the lock (the click's own move and press
  // may still be on their way through signaling's motion coalescing and NATS when the lock shows).
  const locked = await waitFor('the click’s release', () => {
    const i = events.findIndex((e) => e.button?.button === 0 && e.button.down === false);
    return i >= 0 ? i + 1 : undefined;
  });
  await page.mouse.move(box.x + box.width / 2 + 40, box.y + box.height / 2 + 30, { steps: 4 });
  const rel = await waitFor('relative motion', () => {
    const moves = events.filter((e) => e.relative);
    const dx = moves.reduce((n, e) => n + (e.relative?.dx ?? 0), 0);
    const dy = moves.reduce((n, e) => n + (e.relative?.dy ?? 0), 0);
    return dx > 0 && dy > 0 ? { dx, dy, count: moves.length } : undefined;
  });
  t.diagnostic(
    `relative motion: ${rel.count} events, total dx ${rel.dx.toFixed(1)}, dy ${rel.dy.toFixed(1)}`,
  );
  assert.ok(!events.slice(locked).some((e) => e.move), 'no absolute positions under pointer lock');
  assert.ok(Math.abs(rel.dx / rel.dy - 40 / 30) < 0.3, 'the motion keeps its direction (40 right, 30 down)');
  assert.ok(
    events.some((e) => e.button?.button === 0 && e.button.down),
    'the click that took the lock is a left press',
  );
});

test('touch: a tap on a multitouch console becomes a touch begin and end at the console pixel', async (t) => {
  const { s, events, browser } = await startConsole(t, 'touch-vm', {
    hasMultitouch: true,
    touchMaxSlots: 10,
  });
  const page = await openPlayer(browser, s.baseUrl, 'touch-vm', true);
  // Where console pixel (80, 60) is on the page: the video is letterboxed inside the stage.
  const target = await page.evaluate(
    ({ w, h }) => {
      const v = document.querySelector('video');
      if (!v) return null;
      const r = v.getBoundingClientRect();
      const scale = Math.min(r.width / w, r.height / h);
      const left = r.left + (r.width - w * scale) / 2;
      const top = r.top + (r.height - h * scale) / 2;
      return { x: left + (80 + 0.5) * scale, y: top + (60 + 0.5) * scale };
    },
    { w: W, h: H },
  );
  assert.ok(target);
  await page.touchscreen.tap(target.x, target.y);
  const touches = await waitFor('touch begin and end', () => {
    const list = events.filter((e) => e.touch);
    return list.some((e) => e.touch?.phase === TouchPhase.TOUCH_PHASE_END) ? list : undefined;
  });
  const begin = touches.find((e) => e.touch?.phase === TouchPhase.TOUCH_PHASE_BEGIN)?.touch;
  assert.ok(begin, 'a begin');
  assert.deepEqual([Math.round(begin.x ?? -1), Math.round(begin.y ?? -1)], [80, 60]);
  assert.equal(new Set(touches.map((e) => e.touch?.slot)).size, 1, 'one finger, one slot from begin to end');
});

test('Keyboard Lock: in full screen the keyboard is locked and Escape and Meta reach the guest', async (t) => {
  const { s, events, browser } = await startConsole(t, 'kbd-vm', {});
  const page = await openPlayer(browser, s.baseUrl, 'kbd-vm');
  await page.click('#fullscreen');
  await page.waitForFunction(
    () => document.fullscreenElement !== null && (window as PlayerHooks).qemuWebrtc?.keyboardLocked === true,
    undefined,
    { timeout: 10_000 },
  );
  for (const key of ['Escape', 'Meta', 'Tab']) await page.keyboard.press(key);
  const codes = await waitFor('Escape, MetaLeft and Tab', () => {
    const down = events.filter((e) => e.key?.down).map((e) => e.key?.code);
    return ['Escape', 'MetaLeft', 'Tab'].every((c) => down.includes(c)) ? down : undefined;
  });
  t.diagnostic(`keys that reached NATS: ${codes.join(', ')}`);
  assert.ok(
    await page.evaluate(() => document.fullscreenElement !== null),
    'Escape did not leave full screen',
  );
});

test('keys without a real Shift press: wrapped in Shift; stale Shift released; code-less keys dropped and counted', async (t) => {
  const { s, events, browser } = await startConsole(t, 'shift-vm', {});
  const page = await openPlayer(browser, s.baseUrl, 'shift-vm');
  const warnings: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'warning') warnings.push(m.text());
  });
  const keys = (): string[] =>
    events.flatMap((e) => (e.key ? [`${e.key.code}${e.key.down ? '+' : '-'}`] : []));
  /** Dispatches keydown and keyup on the stage as an on-screen keyboard or a script would. */
  const dispatch = (init: { key: string; code: string; shiftKey?: boolean }): Promise<void> =>
    page.evaluate((i) => {
      const stage = document.getElementById('stage');
      if (!stage) throw new Error('no #stage');
      for (const type of ['keydown', 'keyup'])
        stage.dispatchEvent(new KeyboardEvent(type, { ...i, bubbles: true, cancelable: true }));
    }, init);
  const expectKeys = async (what: string, want: string[]): Promise<void> => {
    const from = keys().length;
    await waitFor(what, () => keys().length >= from + want.length);
    await new Promise((r) => setTimeout(r, 300)); // nothing more arrives
    assert.deepEqual(keys().slice(from), want, what);
  };

  // '!' typed with shiftKey set but no Shift keydown: Shift is pressed around the key.
  let step = expectKeys('a Shift-wrapped Digit1', ['ShiftLeft+', 'Digit1+', 'ShiftLeft-', 'Digit1-']);
  await dispatch({ key: '!', code: 'Digit1', shiftKey: true });
  await step;

  // A real Shift press: nothing added.
  await page.locator('#stage').focus();
  step = expectKeys('Shift+1 from the keyboard', ['ShiftLeft+', 'Digit1+', 'Digit1-', 'ShiftLeft-']);
  await page.keyboard.down('Shift');
  await page.keyboard.press('Digit1');
  await page.keyboard.up('Shift');
  await step;

  // A Shift the page saw pressed but whose release it missed: released before the next key.
  step = expectKeys('the stale Shift released before KeyA', ['ShiftRight+', 'ShiftRight-', 'KeyA+', 'KeyA-']);
  await page.evaluate(() => {
    document
      .getElementById('stage')
      ?.dispatchEvent(
        new KeyboardEvent('keydown', { key: 'Shift', code: 'ShiftRight', shiftKey: true, bubbles: true }),
      );
  });
  await dispatch({ key: 'a', code: 'KeyA', shiftKey: false });
  await step;

  // Android's composing keys: no usable code. Nothing is sent; counted, logged once.
  const before = keys().length;
  await dispatch({ key: 'Unidentified', code: '' });
  await dispatch({ key: 'Unidentified', code: 'Unidentified' });
  step = expectKeys('KeyB after the dropped keys', ['KeyB+', 'KeyB-']);
  await dispatch({ key: 'b', code: 'KeyB' });
  await step;
  assert.equal(keys().length, before + 2, 'the code-less keys sent nothing');
  assert.equal(await page.evaluate(() => (window as PlayerHooks).qemuWebrtc?.droppedKeys), 4);
  const dropWarnings = warnings.filter((w) => w.includes('without a usable code'));
  assert.equal(dropWarnings.length, 1, `one warning: ${warnings.join(' | ')}`);
  assert.match(dropWarnings[0] ?? '', /paste-as-keys/);
});
