// Paste as keystrokes (issue 16, part 3), driven from the page in headless Chromium against the
// whole system (`node scripts/start.mjs --vm <bus>` with our own QEMU and test guest): for each
// layout the page offers, a text with letters, digits, punctuation and AltGr characters typed
// through the "Type text" panel reaches the guest as exactly the scancodes that layout needs. The
// guest writes every keyboard byte it reads to QEMU's debug console (port 0xE9, a file here).
//
// The expected bytes are derived without the page's tables: libxkbcommon's own search
// (`xkbcli how-to-type --layout X U+NNNN`, Debian's libxkbcommon-tools) gives the key (xkb keycode
// = evdev code + 8; evdev codes 1..88 are the AT set 1 scancodes) and the modifiers (Shift: left
// Shift 0x2A; Mod5, the layouts' ISO_Level3_Shift: AltGr, right Alt E0 38) of each way to type a
// character; the test takes the lowest shift level, then the lowest keycode, as the page promises.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { QemuVm, launchWebrtcChromium, openPlayer, waitFor, type PlayerHooks } from '@qemu-webrtc/test-kit';
import { StartedSystem } from '../harness/started-system.js';
import { startDirAndBus } from '../harness/bus-and-nats.js';

const VM_ID = 'paste';
const CONTROL = 'paste-control-token';
const VIEW = 'paste-view-token';
/** Characters per second the page types at here. */
const RATE = 12;

/** What each layout types: letters, digits, punctuation, AltGr characters (none on us). */
const TEXTS: Record<string, string> = {
  us: 'Hello, World!\n0189 ~`@#$%^&*()_+-={}[]|\\:;"\'<>?/',
  gb: 'Pound £5 "q" @ #~ \\| 0189 €¬¦',
  de: 'Grüße ÄÖÜ ß 0189 @€{[]}\\~| ?=;',
  fr: 'ça été à où! 0189 @#{[|`\\^]}€ ;:',
  ch: 'Grüezi äöü éèà 0189 @#|¬¢][}{€ !?',
};

interface TypeTextHooks {
  typeText: { state: string; message: string; done: number; total: number };
}
type Hooks = PlayerHooks & { qemuWebrtc?: TypeTextHooks };

/** The set 1 bytes one character needs on a layout, from libxkbcommon's how-to-type. */
function expectedBytes(layout: string, ch: string): number[] {
  if (ch === '\n') return [0x1c, 0x9c];
  const cp = ch.codePointAt(0) ?? 0;
  const out = execFileSync('xkbcli', ['how-to-type', '--layout', layout, String(cp)], { encoding: 'utf8' });
  let best: { level: number; keycode: number; shift: boolean; altGr: boolean } | undefined;
  // KEYCODE  KEY NAME  LAYOUT  LAYOUT NAME  LEVEL#  MODIFIERS ("[ Shift Mod5 ]")
  for (const m of out.matchAll(/^(\d+)\s+\S+\s+1\s+.*?\s(\d+)\s+\[([^\]]*)\]\s*$/gm)) {
    const keycode = Number(m[1]);
    const level = Number(m[2]);
    const mods = (m[3] ?? '').trim().split(/\s+/).filter(Boolean);
    if (!mods.every((x) => x === 'Shift' || x === 'Mod5')) continue; // Lock, NumLock, Control…
    if (keycode - 8 < 1 || keycode - 8 > 88) continue; // not a key with a one-byte set 1 code
    if (!best || level < best.level || (level === best.level && keycode < best.keycode))
      best = { level, keycode, shift: mods.includes('Shift'), altGr: mods.includes('Mod5') };
  }
  assert.ok(best, `xkbcli finds no way to type ${JSON.stringify(ch)} on ${layout}:\n${out}`);
  const key = best.keycode - 8;
  return [
    ...(best.shift ? [0x2a] : []),
    ...(best.altGr ? [0xe0, 0x38] : []),
    key,
    key | 0x80,
    ...(best.altGr ? [0xe0, 0xb8] : []),
    ...(best.shift ? [0xaa] : []),
  ];
}

/** The keyboard bytes the guest has reported so far. */
function guestBytes(path: string): number[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => /^[0-9a-f]{2}$/.test(l))
    .map((l) => Number.parseInt(l, 16));
}

const hex = (bytes: number[]): string => bytes.map((b) => b.toString(16).padStart(2, '0')).join(' ');

/** Fills the panel and presses Type; resolves with the panel's state once it stops typing. */
async function typeInPage(page: Page, layout: string, text: string): Promise<TypeTextHooks['typeText']> {
  if (await page.locator('#type-text').isHidden()) await page.click('#type-text-toggle');
  await page.selectOption('#type-text-layout', layout);
  await page.fill('#type-text-rate', String(RATE));
  await page.dispatchEvent('#type-text-rate', 'change');
  await page.fill('#type-text-input', text);
  await page.click('#type-text-go');
  await page.waitForFunction(() => (window as Hooks).qemuWebrtc?.typeText.state !== 'typing', undefined, {
    timeout: 30_000,
  });
  return page.evaluate(() => {
    const s = (window as Hooks).qemuWebrtc?.typeText;
    return { state: s?.state ?? '', message: s?.message ?? '', done: s?.done ?? 0, total: s?.total ?? 0 };
  });
}

/** Keys made and not broken in a byte stream (0xE0-prefixed codes as 0xE0xx). */
function heldAfter(bytes: number[]): Set<number> {
  const held = new Set<number>();
  let ext = 0;
  for (const b of bytes) {
    if (b === 0xe0) {
      ext = 0xe000;
      continue;
    }
    const code = ext | (b & 0x7f);
    ext = 0;
    if (b & 0x80) held.delete(code);
    else held.add(code);
  }
  return held;
}

test('Type text: each layout’s text reaches the guest as that layout’s scancodes', async (t) => {
  const { dir, bus } = await startDirAndBus((fn) => t.after(fn));
  const debugcon = dir.join('debugcon.txt');
  const vm = await QemuVm.start(dir, {
    busAddress: bus.address,
    width: 640,
    height: 480,
    debugconPath: debugcon,
  });
  t.after(() => vm.stop());
  const system = await StartedSystem.onVm((fn) => t.after(fn), bus.address, VM_ID, {
    [CONTROL]: 'control',
    [VIEW]: 'view',
  });
  const browser = await launchWebrtcChromium();
  t.after(() => browser.close());
  const page = await openPlayer(browser, system.baseUrl, VM_ID, CONTROL);
  await page.waitForFunction(() => (window as Hooks).qemuWebrtc?.inputOpen === true);
  const layouts = await page.$$eval('#type-text-layout option', (os) =>
    os.map((o) => (o as HTMLOptionElement).value),
  );
  assert.deepEqual(layouts.sort(), Object.keys(TEXTS).sort(), 'the page offers the tested layouts');
  // The whole input path is live (signaling, input, QEMU's bus) once a first key arrives.
  const warmFrom = guestBytes(debugcon).length;
  assert.equal((await typeInPage(page, 'us', 'a')).state, 'done');
  await waitFor('a first key in the guest', () => guestBytes(debugcon).length >= warmFrom + 2, 30_000);

  for (const layout of Object.keys(TEXTS)) {
    await t.test(`${layout}: exactly the layout’s scancodes`, async () => {
      const text = TEXTS[layout] ?? '';
      const expected = Array.from(text).flatMap((ch) => expectedBytes(layout, ch));
      const from = guestBytes(debugcon).length;
      const started = Date.now();
      const result = await typeInPage(page, layout, text);
      assert.equal(result.state, 'done', result.message);
      const got = await waitFor(
        `${expected.length} keyboard bytes in the guest`,
        () => {
          const b = guestBytes(debugcon).slice(from);
          return b.length >= expected.length ? b : undefined;
        },
        20_000,
      ).catch(() => guestBytes(debugcon).slice(from));
      t.diagnostic(
        `${layout}: ${Array.from(text).length} characters, ${expected.length} bytes, typed and read back in ${Date.now() - started} ms at ${RATE} chars/s`,
      );
      assert.equal(hex(got), hex(expected));
      const remembered = await page.evaluate(() => localStorage.getItem('qemu-webrtc.typeText.layout'));
      assert.equal(remembered, layout, 'the page remembers the layout chosen');
    });
  }

  await t.test('untypeable characters are reported and nothing is sent', async () => {
    const from = guestBytes(debugcon).length;
    // German types ^ only with its dead key; nor Cyrillic Ж at all.
    const result = await typeInPage(page, 'de', 'a^bЖc');
    assert.equal(result.state, 'refused');
    assert.match(result.message, /cannot type .*\^.*U\+005E.*Ж/);
    // The next text's bytes come first: nothing of the refused one reached the guest.
    await typeInPage(page, 'de', 'z');
    const got = await waitFor('the next key', () => {
      const b = guestBytes(debugcon).slice(from);
      return b.length >= 2 ? b : undefined;
    });
    assert.equal(hex(got), hex(expectedBytes('de', 'z')), 'German z is scancode 0x15');
  });

  await t.test('abort stops typing and leaves no key held in the guest', async () => {
    await page.fill('#type-text-rate', '5');
    await page.dispatchEvent('#type-text-rate', 'change');
    await page.fill('#type-text-input', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ');
    await page.click('#type-text-go');
    await page.waitForFunction(() => ((window as Hooks).qemuWebrtc?.typeText.done ?? 0) >= 3);
    await page.click('#type-text-abort');
    await page.waitForFunction(() => (window as Hooks).qemuWebrtc?.typeText.state === 'aborted');
    const s = await page.evaluate(() => (window as Hooks).qemuWebrtc?.typeText);
    assert.ok(s && s.done < s.total, `stopped after ${s?.done} of ${s?.total}`);
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual([...heldAfter(guestBytes(debugcon))], [], 'every key made was broken');
  });

  await t.test('a view-only viewer cannot type', async () => {
    const viewer = await openPlayer(browser, system.baseUrl, VM_ID, VIEW);
    try {
      await viewer.waitForFunction(() => (window as Hooks).qemuWebrtc?.role === 'view');
      const from = guestBytes(debugcon).length;
      const result = await typeInPage(viewer, 'us', 'x');
      assert.equal(result.state, 'refused');
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(guestBytes(debugcon).length, from, 'no byte reached the guest');
    } finally {
      await viewer.close();
    }
  });
});
