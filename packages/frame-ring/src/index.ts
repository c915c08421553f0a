export { FrameRingWriter, type FrameRingWriterOptions, type SlotWrite } from './frame-ring-writer.js';
export { FrameRingReader, type SlotFrame } from './frame-ring-reader.js';
export { type Rect, MAX_DAMAGE_RECTS, boundingBox } from './damage.js';
export { ClosedError, RingFormatError } from './errors.js';
export {
  bytesPerPixel,
  HEADER_SIZE,
  MAGIC,
  MAX_SLOTS,
  PixelFormat,
  RING_VERSION,
  RingHeaderOffset,
  SLOT_HEADER_SIZE,
  SLOT_HEADERS_OFFSET,
  SlotHeaderOffset,
  slotHeaderOffset,
  slotPixelsOffset,
  slotSizeFor,
} from './ring-layout.js';
export {
  type ByteSource,
  closeFd,
  copyRows,
  type CopyRowsOptions,
  mapFd,
  mapFile,
  type MapFileOptions,
  releaseMapping,
} from './native.js';
export { parseRingName, removeOrphanRings, type RingNameParts, uniqueRingName } from './ring-names.js';
