// The native addons' error vocabulary on the TS side (the C++ side: include/qemu_webrtc/napi_kit.h).
// The TS wrappers check arguments before the addon sees them and throw these; the addon's own
// reads are a backstop throwing the same classes and codes.

/** The `code` of an error thrown for a bad argument or an access outside a buffer. */
export const NativeErrorCode = {
  /** TypeError: an argument of the wrong JS type. */
  InvalidArgType: 'ERR_INVALID_ARG_TYPE',
  /** TypeError: the right type, a value the call does not take (out of range, unknown name). */
  InvalidArgValue: 'ERR_INVALID_ARG_VALUE',
  /** RangeError: valid arguments naming bytes outside a buffer, file or image. */
  OutOfBounds: 'ERR_OUT_OF_BOUNDS',
  /** Error named 'ClosedError': the object was used after close(). */
  Closed: 'ERR_CLOSED',
} as const;
export type NativeErrorCode = (typeof NativeErrorCode)[keyof typeof NativeErrorCode];

/** An error with the vocabulary's `code`. */
export type CodedError = Error & { code: NativeErrorCode };

function coded<E extends Error>(error: E, code: NativeErrorCode): E & { code: NativeErrorCode } {
  return Object.assign(error, { code });
}

/** TypeError ERR_INVALID_ARG_TYPE: "`name` must be `expected` (got ...)". */
export function invalidArgType(name: string, expected: string, actual: unknown): TypeError & CodedError {
  return coded(
    new TypeError(`${name} must be ${expected} (got ${describe(actual)})`),
    NativeErrorCode.InvalidArgType,
  );
}

/** TypeError ERR_INVALID_ARG_VALUE: "`name` must be `expected` (got ...)". */
export function invalidArgValue(name: string, expected: string, actual: unknown): TypeError & CodedError {
  return coded(
    new TypeError(`${name} must be ${expected} (got ${describe(actual)})`),
    NativeErrorCode.InvalidArgValue,
  );
}

/** RangeError ERR_OUT_OF_BOUNDS with a message saying what does not fit where. */
export function outOfBounds(message: string): RangeError & CodedError {
  return coded(new RangeError(message), NativeErrorCode.OutOfBounds);
}

/** Whether `error` is one of the vocabulary's, with that code. */
export function hasNativeCode(error: unknown, code: NativeErrorCode): boolean {
  return error instanceof Error && (error as { code?: unknown }).code === code;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `'${value.length > 40 ? `${value.slice(0, 40)}...` : value}'`;
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null || typeof value !== 'object') return String(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  const ctor = (value as { constructor?: { name?: string } }).constructor;
  return `an instance of ${ctor?.name ?? 'Object'}`;
}
