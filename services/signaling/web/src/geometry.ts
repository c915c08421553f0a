/** Where the picture lies inside the <video> box with object-fit: contain (letterboxing). */
export interface ContentBox {
  left: number;
  top: number;
  width: number;
  height: number;
}

export function containBox(
  boxWidth: number,
  boxHeight: number,
  videoWidth: number,
  videoHeight: number,
): ContentBox {
  if (videoWidth <= 0 || videoHeight <= 0 || boxWidth <= 0 || boxHeight <= 0) {
    return { left: 0, top: 0, width: boxWidth, height: boxHeight };
  }
  const scale = Math.min(boxWidth / videoWidth, boxHeight / videoHeight);
  const width = videoWidth * scale;
  const height = videoHeight * scale;
  return { left: (boxWidth - width) / 2, top: (boxHeight - height) / 2, width, height };
}

/**
 * A point in the box (CSS pixels) to console pixels, or undefined when it is on the letterbox bars.
 * The picture may be a scaled rendition: coordinates are mapped to the console's own size.
 */
export function toConsole(
  x: number,
  y: number,
  box: ContentBox,
  consoleWidth: number,
  consoleHeight: number,
  clamp = false,
): { x: number; y: number } | undefined {
  let fx = (x - box.left) / box.width;
  let fy = (y - box.top) / box.height;
  if (!clamp && (fx < 0 || fy < 0 || fx >= 1 || fy >= 1)) return undefined;
  fx = Math.min(Math.max(fx, 0), 1);
  fy = Math.min(Math.max(fy, 0), 1);
  return {
    x: Math.min(Math.floor(fx * consoleWidth), consoleWidth - 1),
    y: Math.min(Math.floor(fy * consoleHeight), consoleHeight - 1),
  };
}
