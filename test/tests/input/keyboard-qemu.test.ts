// Every printable key and every modifier, sent as InputEvents over NATS, reaches the test guest
// under real QEMU as the scancode keycodemapdb gives for it (read from the guest's screen).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scancodeOf } from '@qemu-webrtc/input/keymap';
import { InputHarness } from './input-harness.js';

const letters = Array.from({ length: 26 }, (_, i) => `Key${String.fromCharCode(65 + i)}`);
const digits = Array.from({ length: 10 }, (_, i) => `Digit${i}`);
const printable = [
  ...letters,
  ...digits,
  'Minus',
  'Equal',
  'BracketLeft',
  'BracketRight',
  'Backslash',
  'Semicolon',
  'Quote',
  'Backquote',
  'Comma',
  'Period',
  'Slash',
  'Space',
  'Enter',
  'Tab',
  'Backspace',
];
const modifiers = [
  'ShiftLeft',
  'ShiftRight',
  'ControlLeft',
  'ControlRight',
  'AltLeft',
  'AltRight',
  'MetaLeft',
  'MetaRight',
  'CapsLock',
];

test('every printable key and modifier arrives as its set 1 scancode', async (t) => {
  const h = await InputHarness.start(t);
  const start = await h.guest(() => true, 'the guest status');
  let presses = start.presses;
  const seen: string[] = [];
  for (const code of [...printable, ...modifiers]) {
    const expected = scancodeOf(code);
    assert.ok(expected !== undefined, `${code} is in the generated table`);
    const seq = h.send('viewer-1', { key: { code, down: true } });
    await h.applied('viewer-1', seq);
    const down = await h.guest((s) => s.presses === presses + 1, `${code} down`);
    assert.equal(
      down.scancode,
      expected,
      `${code}: 0x${down.scancode.toString(16)}, want 0x${expected.toString(16)}`,
    );
    assert.equal(down.held, 1, `${code} held`);
    h.send('viewer-1', { key: { code, down: false } });
    await h.guest((s) => s.held === 0, `${code} up`);
    presses++;
    seen.push(code);
  }
  assert.equal(seen.length, printable.length + modifiers.length);
  const end = await h.guest(() => true, 'the guest status');
  assert.equal(end.presses, start.presses + seen.length, 'one press per key, nothing else');
});
