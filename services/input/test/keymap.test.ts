// The generated keymap (keycodemapdb via noVNC) against codes checked by hand, and the qnum folding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KEYMAP_SOURCE_SHA256, mappedCodes, qnumOf, scancodeOf } from '../src/keymap.js';

test('well-known codes have the scancodes and qnums every PC reference gives', () => {
  // AT set 1 make codes (IBM PC/AT, "Keyboard Scan Code Specification" set 1 column).
  const handChecked: [string, number, number][] = [
    ['KeyA', 0x1e, 0x1e],
    ['Enter', 0x1c, 0x1c],
    ['Escape', 0x01, 0x01],
    ['Space', 0x39, 0x39],
    ['ControlRight', 0xe01d, 0x9d],
    ['MetaLeft', 0xe05b, 0xdb],
    ['AltRight', 0xe038, 0xb8],
    ['ArrowUp', 0xe048, 0xc8],
    ['NumpadEnter', 0xe01c, 0x9c],
    ['F12', 0x58, 0x58],
  ];
  for (const [code, xt, qnum] of handChecked) {
    assert.equal(scancodeOf(code), xt, `${code} scancode`);
    assert.equal(qnumOf(code), qnum, `${code} qnum`);
  }
  assert.match(KEYMAP_SOURCE_SHA256, /^[0-9a-f]{64}$/);
});

test('every qnum is the set 1 code with the 0xE0 prefix folded into bit 7', () => {
  const codes = mappedCodes();
  assert.ok(codes.length >= 150, `${codes.length} codes`);
  for (const code of codes) {
    const xt = scancodeOf(code) ?? -1;
    const q = qnumOf(code) ?? -1;
    assert.ok(q >= 1 && q <= 0xff, `${code}: qnum ${q}`);
    assert.equal(q, xt > 0xff ? 0x80 | (xt & 0x7f) : xt, code);
    assert.equal(xt > 0xff, (xt & 0xff00) === 0xe000 && (q & 0x80) !== 0, code);
  }
});

test('unknown and hostile codes have no qnum', () => {
  for (const code of ['', 'KeyAA', 'keya', '__proto__', 'constructor', 'toString', 'Unidentified', 'A']) {
    assert.equal(qnumOf(code), undefined, JSON.stringify(code));
  }
});
