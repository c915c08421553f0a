/** Wall-clock microseconds since the Unix epoch, the unit of every timestamp in the messages. */
export function nowUs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/** 2026-01-01T00:00:00Z: stream-claim epochs count from here. */
const EPOCH_BASE_MS = Date.UTC(2026, 0, 1);
/** A claim epoch from a clock this far ahead of ours is implausible (clock skew allowance). */
const EPOCH_SKEW_MS = 60_000;

/**
 * A stream claim's epoch: tenths of a second since 2026 (fits 32 bits until 2039). Later takers
 * have larger epochs, so receivers can order hand-overs without a coordinator; tenths keep two
 * claims a second apart distinct.
 */
export function claimEpoch(nowMs = Date.now()): number {
  return Math.max(1, Math.floor((nowMs - EPOCH_BASE_MS) / 100));
}

/** False for an epoch no honest encoder can have sent yet (a forged one could otherwise lock a stream). */
export function isPlausibleEpoch(epoch: number, nowMs = Date.now()): boolean {
  return Number.isInteger(epoch) && epoch >= 0 && epoch <= claimEpoch(nowMs + EPOCH_SKEW_MS);
}
