// Argument checks shared by the writer and the reader: bad arguments throw TypeError (the native
// kit's vocabulary, codes ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE).
import { check, invalidArgType, invalidArgValue } from '@qemu-webrtc/native-kit';

const MAX_U64 = (1n << 64n) - 1n;

/** An integer number in [min, max]. */
export function checkInt(value: unknown, name: string, min: number, max: number): number {
  return check.integer(value, name, min, max);
}

/** A u64 given as a safe-integer number or a bigint, in [min, 2^64 - 1]. */
export function checkU64(value: unknown, name: string, min: bigint): bigint {
  let v: bigint;
  if (typeof value === 'bigint') {
    v = value;
  } else if (typeof value === 'number' && Number.isSafeInteger(value)) {
    v = BigInt(value);
  } else {
    throw invalidArgType(name, 'a safe integer or a bigint', value);
  }
  if (v < min || v > MAX_U64) throw invalidArgValue(name, `in ${min}..2^64 - 1`, v);
  return v;
}

/** Element `i` of an array whose length the caller guarantees. */
export function at<T>(array: readonly T[], i: number): T {
  const v = array[i];
  if (v === undefined) throw new RangeError(`index ${i} out of range`);
  return v;
}
