/** Wall-clock microseconds since the Unix epoch, the unit of every timestamp in the messages. */
export function nowUs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}
