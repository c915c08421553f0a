/**
 * BT.709 limited-range Y, U and V (unrounded) of an R, G, B pixel: what the encoder's planes hold
 * for it, as the stream signals (colour_primaries/matrix BT.709, video_full_range_flag 0).
 */
export function yuv709(r: number, g: number, b: number): [number, number, number] {
  const y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  return [
    16 + (219 * y) / 255,
    128 + (224 * (b - y)) / (1.8556 * 255),
    128 + (224 * (r - y)) / (1.5748 * 255),
  ];
}
