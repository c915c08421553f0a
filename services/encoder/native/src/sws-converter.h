// One libswscale context, rebuilt only when the geometry, formats or colour description change.
// RGB <-> YUV conversions use an explicit matrix and range (BT.709 limited for what we encode).
// RGB -> subsampled YUV at an odd width or height never reads past a row's end (odd-edges.h).
#pragma once

extern "C" {
#include <libavutil/pixfmt.h>
}

#include <cstdint>
#include <memory>
#include <string>

struct SwsContext;
class OddEdges;

struct SwsSetup {
  int srcWidth = 0;
  int srcHeight = 0;
  AVPixelFormat srcFormat = AV_PIX_FMT_NONE;
  int dstWidth = 0;
  int dstHeight = 0;
  AVPixelFormat dstFormat = AV_PIX_FMT_NONE;
  int flags = 0;
  // The YUV side's matrix (SWS_CS_*) and range (true: full/PC, false: limited/TV).
  int yuvColorspace = 1;  // SWS_CS_ITU709
  bool yuvFullRange = false;

  bool operator==(const SwsSetup& o) const;
};

class SwsConverter {
 public:
  SwsConverter();
  ~SwsConverter();
  SwsConverter(const SwsConverter&) = delete;
  SwsConverter& operator=(const SwsConverter&) = delete;

  // Returns false (and the reason) when swscale refuses the setup.
  bool Configure(const SwsSetup& setup, std::string* error);
  void Convert(const uint8_t* const src[], const int srcStride[], uint8_t* const dst[],
               const int dstStride[]);

 private:
  SwsContext* ctx_ = nullptr;
  SwsSetup setup_;
  SwsSetup ctxSetup_;                // what ctx_ converts (the even part when edges_ is set)
  std::unique_ptr<OddEdges> edges_;  // same-size RGB -> YUV with an odd side
};
