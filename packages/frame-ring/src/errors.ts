/** A ring (writer or reader) was used after `destroy()`/`close()`. */
export class ClosedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClosedError';
  }
}

/** A ring file that is not a valid frame ring (wrong magic or version, truncated, bad sizes). */
export class RingFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RingFormatError';
  }
}
