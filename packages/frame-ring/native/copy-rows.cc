#include "copy-rows.h"

#include <cstdint>
#include <cstring>
#include <string>

#include <qemu_webrtc/napi_kit.h>

namespace frame_ring {
namespace {

using napi_kit::Fault;

const std::string kFn = "copyRows: ";
// Coordinates, sizes and strides are 32-bit in the ring and in QEMU's protocol.
constexpr double kMaxDim = 4294967295.0;

// Checks that rows [row, row + height) of `rowBytes` bytes at column byte `colByte` lie inside a
// buffer of `length` bytes with `stride` bytes per row. All arithmetic is overflow-checked.
void CheckBounds(const char* which, uint64_t length, uint64_t stride,
                 uint64_t colByte, uint64_t rowBytes, uint64_t row, uint64_t height) {
  uint64_t rowEnd = 0;
  if (__builtin_add_overflow(colByte, rowBytes, &rowEnd) || rowEnd > stride) {
    throw Fault::OutOfBounds(kFn + which + " rectangle rows (bytes " + std::to_string(colByte) +
                        ".." + std::to_string(rowEnd) + ") exceed its stride " +
                        std::to_string(stride));
  }
  uint64_t lastRow = 0;
  uint64_t lastRowStart = 0;
  uint64_t end = 0;
  if (__builtin_add_overflow(row, height - 1, &lastRow) ||
      __builtin_mul_overflow(lastRow, stride, &lastRowStart) ||
      __builtin_add_overflow(lastRowStart, rowEnd, &end) || end > length) {
    throw Fault::OutOfBounds(kFn + which + " rectangle (rows " + std::to_string(row) + ".." +
                        std::to_string(row + height) + ", stride " + std::to_string(stride) +
                        ") exceeds its " + std::to_string(length) + " bytes");
  }
}

// Whether [a, a + aLen) and [b, b + bLen) share a byte.
bool Overlaps(const uint8_t* a, uint64_t aLen, const uint8_t* b, uint64_t bLen) {
  const auto a0 = reinterpret_cast<uintptr_t>(a);
  const auto b0 = reinterpret_cast<uintptr_t>(b);
  return a0 < b0 + bLen && b0 < a0 + aLen;
}

}  // namespace

// Arguments arrive checked by src/native.ts; the reads here keep the copy inside both buffers.
Napi::Value CopyRows(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto index = [&](size_t i, const char* name, double max) {
    return static_cast<uint64_t>(napi_kit::ReadInteger(info[i], kFn + name, 0, max));
  };
  const napi_kit::Bytes src = napi_kit::ReadBytes(info[0], kFn + "src");
  const uint64_t srcStride = index(1, "srcStride", kMaxDim);
  const napi_kit::Bytes dst = napi_kit::ReadBytes(info[2], kFn + "dst");
  const uint64_t dstStride = index(3, "dstStride", kMaxDim);
  const uint64_t x = index(4, "x", kMaxDim);
  const uint64_t y = index(5, "y", kMaxDim);
  const uint64_t width = index(6, "width", kMaxDim);
  const uint64_t height = index(7, "height", kMaxDim);
  const uint64_t bpp = static_cast<uint64_t>(napi_kit::ReadInteger(info[8], kFn + "bytesPerPixel", 1, 16));
  Napi::Object opts = napi_kit::ReadObject(info[9], kFn + "options", true);
  const bool yFlip = napi_kit::ReadBool(opts.Get("yFlip"), kFn + "options.yFlip", true);
  const Napi::Value dstXValue = opts.Get("dstX");
  const Napi::Value dstYValue = opts.Get("dstY");
  const uint64_t dstX =
      dstXValue.IsUndefined() ? x : static_cast<uint64_t>(napi_kit::ReadInteger(dstXValue, kFn + "options.dstX", 0, kMaxDim));
  const uint64_t dstY =
      dstYValue.IsUndefined() ? y : static_cast<uint64_t>(napi_kit::ReadInteger(dstYValue, kFn + "options.dstY", 0, kMaxDim));
  if (width == 0 || height == 0) return env.Undefined();

  const uint64_t rowBytes = width * bpp;  // < 2^36: no overflow
  CheckBounds("src", src.length, srcStride, x * bpp, rowBytes, y, height);
  CheckBounds("dst", dst.length, dstStride, dstX * bpp, rowBytes, dstY, height);

  const uint8_t* from = src.data + y * srcStride + x * bpp;
  uint8_t* to = dst.data + dstY * dstStride + dstX * bpp;
  // The bytes spanned by each rectangle (first row start to last row end).
  const uint64_t srcSpan = (height - 1) * srcStride + rowBytes;
  const uint64_t dstSpan = (height - 1) * dstStride + rowBytes;
  const bool overlap = Overlaps(from, srcSpan, to, dstSpan);
  if (overlap && (yFlip || srcStride != dstStride)) {
    throw Fault::OutOfBounds(kFn + "src and dst rectangles overlap in memory: only a plain copy with equal "
                    "strides is supported then");
  }
  if (!yFlip && srcStride == rowBytes && dstStride == rowBytes) {
    // Both sides packed: one block.
    if (overlap) {
      std::memmove(to, from, rowBytes * height);
    } else {
      std::memcpy(to, from, rowBytes * height);
    }
    return env.Undefined();
  }
  if (yFlip) {
    from += (height - 1) * srcStride;
  }
  // With overlap (same stride), copy in the order that never reads a row already overwritten.
  const bool backwards = overlap && to > from;
  for (uint64_t r = 0; r < height; r++) {
    const uint64_t i = backwards ? height - 1 - r : r;
    const uint8_t* s = yFlip ? from - i * srcStride : from + i * srcStride;
    uint8_t* d = to + i * dstStride;
    if (overlap) {
      std::memmove(d, s, rowBytes);
    } else {
      std::memcpy(d, s, rowBytes);
    }
  }
  return env.Undefined();
}

}  // namespace frame_ring
