// Input is latest-wins for motion and in order for everything else (issue 18), checked in headless
// Chromium against the real signaling service, on the InputEvents it publishes on NATS (what the
// input service picks up): a burst of 5,000 moves sent raw on the DataChannel (a page that does not
// coalesce) is published as far fewer events ending at the last position, a button press lands
// where the pointer was, relative deltas are summed (never dropped), and the key after the burst
// arrives. Then the page itself: 5,000 pointer events on the stage leave the page as a handful of
// messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import {
  chooseFollowWindow,
  launchWebrtcChromium,
  waitFor,
  withToken,
  type PlayerHooks,
} from '@qemu-webrtc/test-kit';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import { CONTROL_TOKEN, Signaling } from './harness.js';

const W = 640;
const H = 480;
const MOVES = 5000;

async function setUp(
  t: Parameters<typeof Signaling.start>[0],
  vmId: string,
  mouseIsAbsolute = true,
): Promise<{ s: Signaling; events: qemu_webrtc.v1.InputEvent[]; page: Page }> {
  const s = await Signaling.start(t);
  await s.announce({ vmId, width: W, height: H, mouseIsAbsolute });
  const events = s.recordInput(vmId);
  const browser: Browser = await launchWebrtcChromium();
  s.defer(() => browser.close());
  const page = await browser.newPage({ viewport: { width: W, height: H } });
  page.on('pageerror', (e) => console.error('page error:', e.message));
  // Only input on the subject: the page does not send its size (SetUIInfo hint).
  await chooseFollowWindow(page, false);
  // Counts what the page puts on its input DataChannel.
  await page.addInitScript(() => {
    const w = window as Window & { inputSends?: number };
    w.inputSends = 0;
    const proto = RTCDataChannel.prototype;
    const send = Reflect.get(proto, 'send') as (this: RTCDataChannel, data: string) => void;
    Reflect.set(proto, 'send', function (this: RTCDataChannel, data: string) {
      if (this.label === 'input') w.inputSends = (w.inputSends ?? 0) + 1;
      send.call(this, data);
    });
  });
  await page.goto(withToken(`${s.baseUrl}/view/${vmId}/0`, CONTROL_TOKEN));
  await page.waitForFunction(
    () => {
      const hooks = (window as PlayerHooks).qemuWebrtc;
      return hooks?.inputOpen === true && hooks.role === 'control';
    },
    undefined,
    { timeout: 30_000 },
  );
  return { s, events, page };
}

/** Sends raw messages on the page's input DataChannel, all in one go. */
function sendRaw(page: Page, messages: object[]): Promise<void> {
  return page.evaluate(
    (texts) => {
      const hooks = (window as PlayerHooks).qemuWebrtc;
      for (const text of texts) hooks?.sendRaw(text);
    },
    messages.map((m) => JSON.stringify(m)),
  );
}

const pos = (i: number): { x: number; y: number } => ({ x: (i * 7) % W, y: (i * 13) % H });

test('a burst of 5,000 raw moves is coalesced; the button lands at the last position; the key arrives', async (t) => {
  const { events, page } = await setUp(t, 'flood-vm');
  const before = Array.from({ length: MOVES }, (_, i) => ({ t: 'move', ...pos(i) }));
  const after = Array.from({ length: MOVES }, (_, i) => ({ t: 'move', ...pos(i + MOVES) }));
  await sendRaw(page, [
    ...before,
    { t: 'button', button: 0, down: true },
    ...after,
    { t: 'button', button: 0, down: false },
    { t: 'key', code: 'KeyA', down: true },
    { t: 'key', code: 'KeyA', down: false },
  ]);
  await waitFor('the key release', () => events.some((e) => e.key?.code === 'KeyA' && !e.key.down), 30_000);

  const kinds = events.map((e) => (e.move ? 'move' : e.button ? 'button' : e.key ? 'key' : 'other'));
  const moves = events.filter((e) => e.move);
  t.diagnostic(`${2 * MOVES} moves sent, ${moves.length} published`);
  assert.ok(moves.length < (2 * MOVES) / 10, `moves are coalesced (${moves.length} published)`);
  const press = events.findIndex((e) => e.button?.down === true);
  const release = events.findIndex((e) => e.button !== null && e.button !== undefined && !e.button.down);
  const keyDown = events.findIndex((e) => e.key?.down === true);
  assert.ok(press >= 0 && release > press && keyDown > release, `in order: ${kinds.join(',')}`);
  const lastBefore = events.slice(0, press).findLast((e) => e.move)?.move;
  assert.deepEqual(
    { x: lastBefore?.x, y: lastBefore?.y },
    pos(MOVES - 1),
    'the press is at the last position',
  );
  const lastAfter = events.slice(press, release).findLast((e) => e.move)?.move;
  assert.deepEqual({ x: lastAfter?.x, y: lastAfter?.y }, pos(2 * MOVES - 1), 'the release too');
  const sequences = events.map((e) => e.sequence);
  assert.deepEqual(
    sequences,
    [...sequences].sort((a, b) => a - b),
    'sequence numbers follow the publishing order',
  );
  assert.ok(!events.slice(0, release).some((e) => e.key), 'no key before the release');
});

test('relative moves and wheel deltas are summed, never dropped', async (t) => {
  const { events, page } = await setUp(t, 'rel-vm', false);
  await sendRaw(page, [
    ...Array.from({ length: MOVES }, () => ({ t: 'rel', dx: 1, dy: -0.5 })),
    ...Array.from({ length: 500 }, () => ({ t: 'wheel', dx: 0, dy: 3 })),
    { t: 'key', code: 'KeyB', down: true },
  ]);
  await waitFor('the key', () => events.some((e) => e.key?.code === 'KeyB'), 30_000);
  const rel = events.filter((e) => e.relative);
  const wheel = events.filter((e) => e.wheel);
  const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
  t.diagnostic(`${MOVES} relative moves -> ${rel.length} events; 500 wheel -> ${wheel.length}`);
  assert.ok(rel.length < MOVES / 10, 'relative motion is coalesced');
  assert.equal(sum(rel.map((e) => e.relative?.dx ?? 0)), MOVES);
  assert.equal(sum(rel.map((e) => e.relative?.dy ?? 0)), -MOVES / 2);
  assert.equal(sum(wheel.map((e) => e.wheel?.dy ?? 0)), 1500);
  assert.equal(events.at(-1)?.key?.code, 'KeyB', 'the key comes after the motion sent before it');
});

test('the page coalesces 5,000 pointer events into a few messages; the click comes after its move', async (t) => {
  const { events, page } = await setUp(t, 'page-vm');
  const { sent, expected } = await page.evaluate((moves) => {
    const stage = document.getElementById('stage');
    const w = window as Window & { inputSends?: number };
    const sends0 = w.inputSends ?? 0;
    const rect = stage?.getBoundingClientRect() ?? { left: 0, top: 0, width: 1, height: 1 };
    const at = (i: number): PointerEventInit => ({
      clientX: rect.left + ((i * 7) % Math.floor(rect.width)),
      clientY: rect.top + ((i * 13) % Math.floor(rect.height)),
      pointerType: 'mouse',
      bubbles: true,
      button: 0,
    });
    for (let i = 0; i < moves; i++) stage?.dispatchEvent(new PointerEvent('pointermove', at(i)));
    stage?.dispatchEvent(new PointerEvent('pointerdown', at(moves - 1)));
    stage?.dispatchEvent(new PointerEvent('pointerup', at(moves - 1)));
    // Where the last event lies on the console (no video yet: the picture is the whole stage).
    const last = at(moves - 1);
    const expected = {
      x: (((last.clientX ?? 0) - rect.left) * 640) / rect.width,
      y: (((last.clientY ?? 0) - rect.top) * 480) / rect.height,
    };
    return { sent: (w.inputSends ?? 0) - sends0, expected };
  }, MOVES);
  await waitFor('the release', () => events.some((e) => e.button && !e.button.down), 30_000);
  t.diagnostic(`${MOVES} pointer events -> ${sent} messages from the page`);
  assert.ok(sent < 10, `the page sent ${sent} messages`);
  const press = events.findIndex((e) => e.button?.down === true);
  const move = events.slice(0, press).findLast((e) => e.move)?.move;
  assert.ok(move, 'a move before the press');
  assert.ok(
    Math.abs((move.x ?? 0) - expected.x) <= 2 && Math.abs((move.y ?? 0) - expected.y) <= 2,
    `the press is where the last pointer event was (${move.x},${move.y} vs ${expected.x},${expected.y})`,
  );
  const moves = events.filter((e) => e.move).length;
  assert.ok(moves < 10, `${moves} moves published`);
});
