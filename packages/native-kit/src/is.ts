// Small argument checks for the native addons' TS wrappers, after sharp's lib/is.js: each `is`
// predicate answers one question, and `check` throws the native-errors vocabulary with a message
// naming the argument, what it must be, and what it was.
import { invalidArgType, invalidArgValue } from './native-errors.js';

export const is = {
  defined: <T>(v: T): v is NonNullable<T> => v !== undefined && v !== null,
  object: (v: unknown): v is object => typeof v === 'object' && v !== null,
  bool: (v: unknown): v is boolean => typeof v === 'boolean',
  number: (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v),
  integer: (v: unknown): v is number => Number.isInteger(v),
  string: (v: unknown): v is string => typeof v === 'string',
  bigint: (v: unknown): v is bigint => typeof v === 'bigint',
  inRange: (v: number, min: number, max: number): boolean => v >= min && v <= max,
  inArray: <T>(v: unknown, list: readonly T[]): v is T => list.includes(v as T),
  bytes: (v: unknown): v is ArrayBuffer | ArrayBufferView =>
    v instanceof ArrayBuffer || v instanceof SharedArrayBuffer || ArrayBuffer.isView(v),
};

/** Throws unless each check holds; returns the value for chaining. */
export const check = {
  /** An integer in [min, max]. */
  integer(value: unknown, name: string, min: number, max: number): number {
    if (typeof value !== 'number') throw invalidArgType(name, 'a number', value);
    if (!is.integer(value) || !is.inRange(value, min, max)) {
      throw invalidArgValue(name, `an integer in ${min}..${max}`, value);
    }
    return value;
  },
  /** A finite number in [min, max]. */
  number(value: unknown, name: string, min: number, max: number): number {
    if (typeof value !== 'number') throw invalidArgType(name, 'a number', value);
    if (!is.number(value) || !is.inRange(value, min, max)) {
      throw invalidArgValue(name, `a number in ${min}..${max}`, value);
    }
    return value;
  },
  /** A file descriptor number. */
  fd(value: unknown, name: string): number {
    return check.integer(value, name, 0, 0x7fffffff);
  },
  bool(value: unknown, name: string): boolean {
    if (!is.bool(value)) throw invalidArgType(name, 'a boolean', value);
    return value;
  },
  string(value: unknown, name: string): string {
    if (!is.string(value)) throw invalidArgType(name, 'a string', value);
    return value;
  },
  /** A non-empty string without NUL (a path, a name). */
  path(value: unknown, name: string): string {
    check.string(value, name);
    if (value === '' || (value as string).includes('\0')) {
      throw invalidArgValue(name, 'a non-empty string without NUL', value);
    }
    return value as string;
  },
  object(value: unknown, name: string): object {
    if (!is.object(value)) throw invalidArgType(name, 'an object', value);
    return value;
  },
  bytes(value: unknown, name: string): ArrayBuffer | ArrayBufferView {
    if (!is.bytes(value)) throw invalidArgType(name, 'an ArrayBuffer or an ArrayBufferView', value);
    return value;
  },
  /** One of `list`. */
  oneOf<T extends string>(value: unknown, name: string, list: readonly T[]): T {
    if (!is.inArray(value, list)) throw invalidArgValue(name, `one of ${list.join(', ')}`, value);
    return value;
  },
};
