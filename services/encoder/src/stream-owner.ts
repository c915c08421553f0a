/** FNV-1a, 32 bit: a fast, stable string hash (the same in every encoder process). */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * Rendezvous (highest random weight) hashing: every encoder that sees the same members picks the
 * same owner for a stream, no coordinator needed; when a member leaves only its streams move, and
 * a new member takes about 1/N of the streams.
 */
export function streamOwner(streamId: string, members: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestWeight = -1;
  for (const member of members) {
    // Mix the two hashes so that similar ids still spread.
    const weight = fnv1a(`${streamId}\u0000${member}`) ^ Math.imul(fnv1a(member), 0x9e3779b1);
    const w = weight >>> 0;
    if (w > bestWeight || (w === bestWeight && best !== undefined && member < best)) {
      best = member;
      bestWeight = w;
    }
  }
  return best;
}
