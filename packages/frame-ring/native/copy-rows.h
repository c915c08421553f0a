// Rectangle copies between two pixel buffers, row by row, in one native call.
#pragma once

#include <napi.h>

namespace frame_ring {

// copyRows(src, srcStride, dst, dstStride, x, y, width, height, bytesPerPixel,
//          { yFlip?, dstX?, dstY? }?): void
//   Copies the width x height rectangle at (x, y) of src to (dstX, dstY) of dst (default: the same
//   position). yFlip: src rows are taken bottom-up (dst row dstY + r comes from src row
//   y + height - 1 - r). Every byte touched is checked against both buffers first: RangeError,
//   never an out-of-bounds access. Rectangles overlapping in memory are copied safely (memmove)
//   when the strides are equal and yFlip is off; other overlaps throw RangeError.
Napi::Value CopyRows(const Napi::CallbackInfo& info);

}  // namespace frame_ring
