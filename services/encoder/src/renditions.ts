export interface Rendition {
  /** Subject-safe name, e.g. "full" or "half". */
  name: string;
  /** Output size as a fraction of the console size (0 < scale <= 1). */
  scale: number;
  bitrateBps: number;
}

/** Parses "full:1:6000000,half:0.5:1500000"; throws TypeError naming the bad part. */
export function parseRenditions(text: string): Rendition[] {
  const renditions = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((part) => {
      const [name = '', scaleText = '', bitrateText = ''] = part.split(':');
      const scale = Number(scaleText);
      const bitrateBps = Number(bitrateText);
      if (!/^[A-Za-z0-9_-]{1,32}$/.test(name))
        throw new TypeError(`rendition name ${JSON.stringify(name)} is not a subject token`);
      if (!(scale > 0 && scale <= 1))
        throw new TypeError(`rendition ${name}: scale must be in (0, 1], got ${scaleText}`);
      if (!Number.isInteger(bitrateBps) || bitrateBps < 50_000 || bitrateBps > 200_000_000) {
        throw new TypeError(`rendition ${name}: bitrate must be 50000..200000000 bit/s, got ${bitrateText}`);
      }
      return { name, scale, bitrateBps };
    });
  if (renditions.length === 0) throw new TypeError('at least one rendition is needed');
  if (new Set(renditions.map((r) => r.name)).size !== renditions.length)
    throw new TypeError('rendition names must differ');
  return renditions;
}

/** Output size of a rendition: scaled, rounded to even (4:2:0), at least 16x16. */
export function renditionSize(
  r: Rendition,
  width: number,
  height: number,
): { width: number; height: number } {
  if (r.scale === 1) return { width, height };
  const even = (v: number): number => Math.max(16, 2 * Math.round((v * r.scale) / 2));
  return { width: even(width), height: even(height) };
}
