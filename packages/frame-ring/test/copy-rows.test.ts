import assert from 'node:assert/strict';
import { test } from 'node:test';

import { copyRows } from '../src/index.js';
import { fillPattern } from './helpers.js';

const BPP = 4;

/** What copyRows should produce, computed the slow way. */
function expected(
  src: Uint8Array,
  srcStride: number,
  dst: Uint8Array,
  dstStride: number,
  r: { x: number; y: number; width: number; height: number; dstX: number; dstY: number; flip: boolean },
): Uint8Array {
  const out = dst.slice();
  for (let row = 0; row < r.height; row++) {
    const sy = r.flip ? r.y + r.height - 1 - row : r.y + row;
    for (let b = 0; b < r.width * BPP; b++) {
      out[(r.dstY + row) * dstStride + r.dstX * BPP + b] = src[sy * srcStride + r.x * BPP + b] ?? -1;
    }
  }
  return out;
}

function buffers(): { src: Uint8Array; dst: Uint8Array } {
  const src = new Uint8Array(72 * 8); // 16x8 pixels, stride 72
  fillPattern(src, 1);
  const dst = new Uint8Array(80 * 10).fill(0xee); // 20x10 pixels, stride 80
  return { src, dst };
}

test('copyRows copies exactly the rectangle', () => {
  const { src, dst } = buffers();
  const want = expected(src, 72, dst, 80, { x: 3, y: 2, width: 5, height: 4, dstX: 3, dstY: 2, flip: false });
  copyRows(src, 72, dst, 80, 3, 2, 5, 4, BPP);
  assert.deepEqual(dst, want);
});

test('copyRows places the rectangle at dstX/dstY', () => {
  const { src, dst } = buffers();
  const r = { x: 10, y: 5, width: 6, height: 3, dstX: 0, dstY: 7, flip: false };
  const want = expected(src, 72, dst, 80, r);
  copyRows(src, 72, dst, 80, 10, 5, 6, 3, BPP, { dstX: 0, dstY: 7 });
  assert.deepEqual(dst, want);
});

test('copyRows flips rows when asked', () => {
  const { src, dst } = buffers();
  const r = { x: 0, y: 0, width: 16, height: 8, dstX: 2, dstY: 1, flip: true };
  const want = expected(src, 72, dst, 80, r);
  copyRows(src, 72, dst, 80, 0, 0, 16, 8, BPP, { yFlip: true, dstX: 2, dstY: 1 });
  assert.deepEqual(dst, want);
  assert.deepEqual(dst.subarray(80 + 8, 80 + 8 + 64), src.subarray(7 * 72, 7 * 72 + 64), 'last row first');
});

test('copyRows copies packed buffers and honours view offsets', () => {
  const backing = new Uint8Array(1000);
  fillPattern(backing, 9);
  const src = backing.subarray(100, 100 + 4 * 4 * 3); // 4x3 packed
  const dst = new DataView(new ArrayBuffer(200), 16, 4 * 4 * 3);
  copyRows(src, 16, dst, 16, 0, 0, 4, 3, BPP);
  assert.deepEqual(new Uint8Array(dst.buffer, 16, 48), src);
  assert.deepEqual(new Uint8Array(dst.buffer, 0, 16), new Uint8Array(16), 'nothing before the view');
  copyRows(src.buffer, 16, new ArrayBuffer(48), 16, 0, 0, 0, 3, BPP); // empty: no-op
});

test('copyRows moves overlapping rows within one buffer', () => {
  const buf = new Uint8Array(16 * 6);
  fillPattern(buf, 3);
  const before = buf.slice();
  copyRows(buf, 16, buf, 16, 0, 0, 4, 5, BPP, { dstY: 1 }); // shift down one row
  assert.deepEqual(buf.subarray(16), before.subarray(0, 80));
  assert.throws(() => copyRows(buf, 16, buf, 16, 0, 0, 4, 5, BPP, { dstY: 1, yFlip: true }), RangeError);
});

test('copyRows throws RangeError out of bounds and writes nothing', () => {
  const { src, dst } = buffers();
  const untouched = dst.slice();
  // rows 5..12 of an 8-row src
  assert.throws(() => copyRows(src, 72, dst, 80, 0, 5, 16, 4, BPP), { name: 'RangeError', message: /src/ });
  // 19 px > the 18 px of src's 72-byte stride
  assert.throws(() => copyRows(src, 72, dst, 80, 17, 0, 2, 1, BPP), {
    name: 'RangeError',
    message: /stride/,
  });
  // fits src; rows 3..10 of a 10-row dst
  assert.throws(() => copyRows(src, 72, dst, 80, 0, 0, 16, 8, BPP, { dstY: 3 }), {
    name: 'RangeError',
    message: /dst/,
  });
  assert.throws(() => copyRows(src, 72, dst.subarray(0, 80 * 10 - 1), 80, 0, 0, 20, 10, BPP), RangeError);
  assert.throws(() => copyRows(src, 72, dst, 80, 0, 2 ** 32 - 1, 1, 2, BPP), RangeError, 'no overflow');
  assert.deepEqual(dst, untouched);
});

test('copyRows rejects bad arguments with TypeError', () => {
  const { src, dst } = buffers();
  assert.throws(() => copyRows(src, -1, dst, 80, 0, 0, 1, 1, BPP), TypeError);
  assert.throws(() => copyRows(src, 72, dst, 80, 0.5, 0, 1, 1, BPP), TypeError);
  assert.throws(() => copyRows(src, 72, dst, 80, 0, 0, 1, 1, 0), TypeError);
  assert.throws(() => copyRows('nope' as unknown as Uint8Array, 72, dst, 80, 0, 0, 1, 1, BPP), TypeError);
  assert.throws(
    () => copyRows(src, 72, dst, 80, 0, 0, 1, 1, BPP, { yFlip: 1 as unknown as boolean }),
    TypeError,
  );
});
