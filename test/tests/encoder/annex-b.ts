// Reading H.264 access units as the encoder writes them (Annex B byte stream), for the encoder's tests.

/** NAL unit types present in an Annex B access unit, in order. */
export function nalTypes(au: Uint8Array): number[] {
  const types: number[] = [];
  for (let i = 0; i + 3 < au.length; i++) {
    if (au[i] === 0 && au[i + 1] === 0 && au[i + 2] === 1) {
      types.push((au[i + 3] ?? 0) & 0x1f);
      i += 3;
    }
  }
  return types;
}
