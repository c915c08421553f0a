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
 * The console's part of the picture. H.264 4:2:0 cannot code an odd size: a 1023x767 console
 * arrives as 1024x768 video whose last column and row repeat the edge (the encoder's padding).
 * When the video is exactly the console size rounded up to even, that padding is left out, so
 * pointer positions map to console pixels exactly and the padding maps to none.
 */
export function withoutPadding(
  box: ContentBox,
  videoWidth: number,
  videoHeight: number,
  consoleWidth: number,
  consoleHeight: number,
): ContentBox {
  const padded = (video: number, console: number): boolean => console % 2 === 1 && video === console + 1;
  if (!padded(videoWidth, consoleWidth) && !padded(videoHeight, consoleHeight)) return box;
  return {
    left: box.left,
    top: box.top,
    width: padded(videoWidth, consoleWidth) ? (box.width * consoleWidth) / videoWidth : box.width,
    height: padded(videoHeight, consoleHeight) ? (box.height * consoleHeight) / videoHeight : box.height,
  };
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
