// The TS side of the native error vocabulary: which class and code each fault gets.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { check, hasNativeCode, NativeErrorCode, outOfBounds } from '../src/index.js';

test('a wrong type is TypeError ERR_INVALID_ARG_TYPE, a bad value TypeError ERR_INVALID_ARG_VALUE', () => {
  assert.throws(() => check.integer('3', 'n', 0, 10), {
    name: 'TypeError',
    code: NativeErrorCode.InvalidArgType,
    message: "n must be a number (got '3')",
  });
  for (const bad of [-1, 11, 0.5, Number.NaN, Infinity]) {
    assert.throws(() => check.integer(bad, 'n', 0, 10), {
      name: 'TypeError',
      code: NativeErrorCode.InvalidArgValue,
      message: `n must be an integer in 0..10 (got ${bad})`,
    });
  }
  assert.equal(check.integer(10, 'n', 0, 10), 10);
  assert.throws(() => check.oneOf('h265', 'codec', ['libx264']), { code: NativeErrorCode.InvalidArgValue });
  assert.throws(() => check.path('', 'path'), { code: NativeErrorCode.InvalidArgValue });
  assert.throws(() => check.bytes([1, 2], 'data'), {
    code: NativeErrorCode.InvalidArgType,
    message: /an array of 2/,
  });
  assert.equal(check.bytes(new Uint8Array(1), 'data').byteLength, 1);
});

test('bytes outside a buffer are RangeError ERR_OUT_OF_BOUNDS', () => {
  const error = outOfBounds('rectangle outside the 4x4 image');
  assert.ok(error instanceof RangeError);
  assert.ok(hasNativeCode(error, NativeErrorCode.OutOfBounds));
  assert.ok(!hasNativeCode(new RangeError('x'), NativeErrorCode.OutOfBounds));
});
