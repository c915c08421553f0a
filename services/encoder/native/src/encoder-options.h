// H264Encoder's options, checked and converted to plain C++ on the JS thread.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

enum class CodecChoice { kLibx264, kVaapi, kNvenc, kAuto };

struct EncoderOptions {
  // Input geometry (what encode() must be given).
  int width = 0;
  int height = 0;
  // Visible output geometry (a scaled rendition when different from the input).
  int outputWidth = 0;
  int outputHeight = 0;
  // Maximum frame rate: time base for rate control and the VBV buffer size.
  double fps = 30;
  int64_t bitrateBps = 0;
  CodecChoice codec = CodecChoice::kLibx264;
  std::string profile = "constrained_baseline";
  int keyintMax = 0;
  int threads = 0;
  std::string preset = "ultrafast";
  std::string vaapiDevice;
  // VBV buffer in frames at `fps` (1.5: about one frame, for interactive latency).
  double vbvBufferFrames = 1.5;

  // Throws napi_kit::Fault (TypeError) for anything missing, of the wrong type or out of range.
  static EncoderOptions FromJs(const Napi::Value& value);

  // H.264 4:2:0 needs even sizes: odd sizes are encoded one pixel larger (edge repeated).
  int CodedWidth() const { return outputWidth + (outputWidth & 1); }
  int CodedHeight() const { return outputHeight + (outputHeight & 1); }
  // The x264/VAAPI/NVENC thread count for `threads` (0 = auto, capped).
  int ResolvedThreads() const;
  static int64_t VbvBufferBits(int64_t bitrateBps, double fps, double frames);
};
