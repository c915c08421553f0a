// One libswscale context, rebuilt only when the geometry, formats or colour description change.
// RGB <-> YUV conversions use an explicit matrix and range (BT.709 limited for what we encode).
#pragma once

extern "C" {
#include <libavutil/pixfmt.h>
}

#include <cstdint>
#include <string>

struct SwsContext;

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
  SwsConverter() = default;
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
};
