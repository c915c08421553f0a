#include "sws-converter.h"

#include "odd-edges.h"

extern "C" {
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

namespace {

bool IsYuv(AVPixelFormat format) {
  const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(format);
  return desc != nullptr && !(desc->flags & AV_PIX_FMT_FLAG_RGB) && desc->nb_components >= 3;
}

bool IsRgb(AVPixelFormat format) {
  const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(format);
  return desc != nullptr && (desc->flags & AV_PIX_FMT_FLAG_RGB);
}

}  // namespace

bool SwsSetup::operator==(const SwsSetup& o) const {
  return srcWidth == o.srcWidth && srcHeight == o.srcHeight && srcFormat == o.srcFormat &&
         dstWidth == o.dstWidth && dstHeight == o.dstHeight && dstFormat == o.dstFormat &&
         flags == o.flags && yuvColorspace == o.yuvColorspace && yuvFullRange == o.yuvFullRange;
}

SwsConverter::SwsConverter() = default;

SwsConverter::~SwsConverter() { sws_freeContext(ctx_); }

bool SwsConverter::Configure(const SwsSetup& wanted, std::string* error) {
  if (ctx_ != nullptr && wanted == setup_) return true;
  sws_freeContext(ctx_);
  ctx_ = nullptr;
  edges_.reset();
  SwsSetup setup = wanted;
  if (OddEdges::Applies(wanted)) {
    edges_.reset(new OddEdges());
    if (!edges_->Configure(wanted, error)) {
      edges_.reset();
      return false;
    }
    setup = OddEdges::EvenPart(wanted);
  } else if (IsRgb(setup.srcFormat) && (setup.srcWidth & 1) && IsYuv(setup.dstFormat)) {
    // Scaling from an odd RGB width: swscale's pair-wise chroma input would read one pixel past
    // each row; full-resolution chroma input reads exactly the row (the scaler filters it anyway).
    setup.flags |= SWS_FULL_CHR_H_INP;
  }
  ctx_ = sws_getContext(setup.srcWidth, setup.srcHeight, setup.srcFormat, setup.dstWidth,
                        setup.dstHeight, setup.dstFormat, setup.flags, nullptr, nullptr, nullptr);
  if (ctx_ == nullptr) {
    *error = "sws_getContext failed for " + std::to_string(setup.srcWidth) + "x" +
             std::to_string(setup.srcHeight) + " " + av_get_pix_fmt_name(setup.srcFormat) + " -> " +
             std::to_string(setup.dstWidth) + "x" + std::to_string(setup.dstHeight) + " " +
             av_get_pix_fmt_name(setup.dstFormat);
    return false;
  }
  const int* coefficients = sws_getCoefficients(setup.yuvColorspace);
  // For RGB -> YUV swscale uses `table` and dstRange; for YUV -> RGB `inv_table` and srcRange.
  // The RGB side is always full range (swscale forces that for RGB formats anyway).
  const bool srcYuv = IsYuv(setup.srcFormat);
  const bool dstYuv = IsYuv(setup.dstFormat);
  const int srcRange = srcYuv ? (setup.yuvFullRange ? 1 : 0) : 1;
  const int dstRange = dstYuv ? (setup.yuvFullRange ? 1 : 0) : 1;
  if (sws_setColorspaceDetails(ctx_, coefficients, srcRange, coefficients, dstRange, 0, 1 << 16,
                               1 << 16) < 0) {
    sws_freeContext(ctx_);
    ctx_ = nullptr;
    *error = "sws_setColorspaceDetails refused the colour description";
    return false;
  }
  setup_ = wanted;
  ctxSetup_ = setup;
  return true;
}

void SwsConverter::Convert(const uint8_t* const src[], const int srcStride[], uint8_t* const dst[],
                           const int dstStride[]) {
  sws_scale(ctx_, src, srcStride, 0, ctxSetup_.srcHeight, dst, dstStride);
  if (edges_) edges_->Convert(src, srcStride, dst, dstStride);
}
