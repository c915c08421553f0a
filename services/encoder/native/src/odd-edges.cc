#include "odd-edges.h"

extern "C" {
#include <libavutil/imgutils.h>
#include <libavutil/mem.h>
#include <libavutil/pixdesc.h>
}

#include <algorithm>
#include <cstring>

namespace {

const AVPixFmtDescriptor* PackedRgb(AVPixelFormat format) {
  const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(format);
  if (d == nullptr || !(d->flags & AV_PIX_FMT_FLAG_RGB) || (d->flags & AV_PIX_FMT_FLAG_PLANAR) ||
      (d->flags & AV_PIX_FMT_FLAG_BITSTREAM) || (d->flags & AV_PIX_FMT_FLAG_PAL) ||
      av_get_bits_per_pixel(d) % 8 != 0)
    return nullptr;
  return d;
}

const AVPixFmtDescriptor* SubsampledYuv(AVPixelFormat format) {
  const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(format);
  if (d == nullptr || (d->flags & (AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_HWACCEL)) || d->nb_components < 3)
    return nullptr;
  if (d->log2_chroma_w > 1 || d->log2_chroma_h > 1) return nullptr;
  return d;
}

}  // namespace

bool OddEdges::Applies(const SwsSetup& s) {
  if (s.srcWidth != s.dstWidth || s.srcHeight != s.dstHeight) return false;
  if (s.srcWidth < 3 || s.srcHeight < 3) return false;
  const AVPixFmtDescriptor* dst = SubsampledYuv(s.dstFormat);
  if (PackedRgb(s.srcFormat) == nullptr || dst == nullptr) return false;
  return (dst->log2_chroma_w == 1 && (s.srcWidth & 1)) || (dst->log2_chroma_h == 1 && (s.srcHeight & 1));
}

SwsSetup OddEdges::EvenPart(const SwsSetup& setup) {
  SwsSetup even = setup;
  even.srcWidth = even.dstWidth = setup.srcWidth & ~1;
  even.srcHeight = even.dstHeight = setup.srcHeight & ~1;
  return even;
}

OddEdges::~OddEdges() { Free(); }

void OddEdges::Free() {
  if (column_) av_freep(&column_->yuv[0]);
  if (row_) av_freep(&row_->yuv[0]);
  column_.reset();
  row_.reset();
}

bool OddEdges::ConfigureStrip(Strip* strip, int width, int height, std::string* error) {
  SwsSetup s = setup_;
  s.srcWidth = s.dstWidth = width;
  s.srcHeight = s.dstHeight = height;
  if (!strip->sws.Configure(s, error)) return false;
  strip->width = width;
  strip->height = height;
  strip->src.assign(static_cast<size_t>(width) * height * bpp_, 0);
  // Generous alignment and padding: swscale's SIMD writes may run past the width.
  if (av_image_alloc(strip->yuv, strip->yuvStride, width + 64, height, setup_.dstFormat, 64) < 0) {
    *error = "av_image_alloc failed for the odd-size edge";
    return false;
  }
  return true;
}

bool OddEdges::Configure(const SwsSetup& setup, std::string* error) {
  Free();
  setup_ = setup;
  bpp_ = av_get_bits_per_pixel(av_pix_fmt_desc_get(setup.srcFormat)) / 8;
  const int w = setup.srcWidth;
  const int h = setup.srcHeight;
  if (w & 1) {
    column_.reset(new Strip());
    if (!ConfigureStrip(column_.get(), 2, h + (h & 1), error)) return false;
  }
  if (h & 1) {
    row_.reset(new Strip());
    if (!ConfigureStrip(row_.get(), w & ~1, 2, error)) return false;
  }
  return true;
}

void OddEdges::Place(const Strip& strip, int x0, int y0, uint8_t* const dst[], const int dstStride[]) const {
  const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(setup_.dstFormat);
  const int w = setup_.dstWidth;
  const int h = setup_.dstHeight;
  const int planes = av_pix_fmt_count_planes(setup_.dstFormat);
  for (int p = 0; p < planes; p++) {
    const bool chroma = p == 1 || p == 2;
    const int sh = chroma ? d->log2_chroma_h : 0;
    // Bytes of the plane's row from column x0 to the visible width (x0 is even).
    const int from = av_image_get_linesize(setup_.dstFormat, x0, p);
    const int bytes =
        std::min(av_image_get_linesize(setup_.dstFormat, w, p),
                 from + av_image_get_linesize(setup_.dstFormat, strip.width, p)) - from;
    const int firstRow = y0 >> sh;
    const int lastRow = std::min(-((-h) >> sh), (y0 + strip.height) >> sh);  // exclusive, visible
    for (int row = firstRow; row < lastRow; row++) {
      std::memcpy(dst[p] + static_cast<ptrdiff_t>(row) * dstStride[p] + from,
                  strip.yuv[p] + static_cast<ptrdiff_t>(row - firstRow) * strip.yuvStride[p],
                  static_cast<size_t>(bytes));
    }
  }
}

void OddEdges::Convert(const uint8_t* const src[], const int srcStride[], uint8_t* const dst[],
                       const int dstStride[]) {
  const int w = setup_.srcWidth;
  const int h = setup_.srcHeight;
  const size_t rowBytes = static_cast<size_t>(w) * bpp_;
  if (row_) {
    // The last row twice (its even columns; the corner is the column strip's).
    const uint8_t* last = src[0] + static_cast<ptrdiff_t>(h - 1) * srcStride[0];
    const size_t bytes = static_cast<size_t>(row_->width) * bpp_;
    std::memcpy(row_->src.data(), last, bytes);
    std::memcpy(row_->src.data() + bytes, last, bytes);
    const uint8_t* s[4] = {row_->src.data(), nullptr, nullptr, nullptr};
    const int ss[4] = {static_cast<int>(bytes), 0, 0, 0};
    row_->sws.Convert(s, ss, row_->yuv, row_->yuvStride);
    Place(*row_, 0, h - 1, dst, dstStride);
  }
  if (column_) {
    // The last pixel of every row twice; rows past the last repeat it.
    uint8_t* out = column_->src.data();
    for (int y = 0; y < column_->height; y++) {
      const uint8_t* px =
          src[0] + static_cast<ptrdiff_t>(std::min(y, h - 1)) * srcStride[0] + rowBytes - bpp_;
      std::memcpy(out, px, bpp_);
      std::memcpy(out + bpp_, px, bpp_);
      out += 2 * bpp_;
    }
    const uint8_t* s[4] = {column_->src.data(), nullptr, nullptr, nullptr};
    const int ss[4] = {2 * bpp_, 0, 0, 0};
    column_->sws.Convert(s, ss, column_->yuv, column_->yuvStride);
    Place(*column_, w - 1, 0, dst, dstStride);
  }
}
