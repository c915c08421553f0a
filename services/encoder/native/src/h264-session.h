// The libavcodec side of H264Encoder, free of JS: opens libx264 (or h264_vaapi / h264_nvenc with a
// fallback to libx264), converts BGRX frames to YUV 4:2:0 (BT.709, limited range) with swscale,
// and encodes them for interactive streaming (no B-frames, no lookahead, VBV of about one frame,
// SPS/PPS before every IDR, Annex B). Encode() and Flush() run on a worker thread, one at a time;
// SetBitrate/SetFps/RequestKeyframe may be called from any thread and apply at the next Encode().
#pragma once

#include "encoder-options.h"
#include "sws-converter.h"

extern "C" {
#include <libavcodec/avcodec.h>
}

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct EncodeJob {
  const uint8_t* data = nullptr;  // first row of the input picture (BGRX/BGRA)
  int stride = 0;                 // bytes per input row
  int64_t ptsUs = 0;
  bool forceKeyframe = false;
  // Optional seqlock of a shared-memory source (the frame ring's slot sequence): read again after
  // the colour conversion; when it is no longer `expectedSequence`, the writer reused the slot
  // while it was read, and the frame is discarded instead of encoded.
  const uint64_t* sequence = nullptr;
  uint64_t expectedSequence = 0;
};

// One access unit: normally one packet; a delayed hardware encoder may hand over several.
struct EncodedUnit {
  std::vector<AVPacket*> packets;
  // The source changed under the conversion (EncodeJob.sequence): nothing was encoded.
  bool torn = false;
  bool keyframe = false;
  int64_t ptsUs = 0;

  EncodedUnit() = default;
  EncodedUnit(EncodedUnit&& other) noexcept;
  EncodedUnit& operator=(EncodedUnit&& other) noexcept;
  EncodedUnit(const EncodedUnit&) = delete;
  EncodedUnit& operator=(const EncodedUnit&) = delete;
  ~EncodedUnit();
  size_t size() const;
  void CopyTo(uint8_t* out) const;
};

struct EncodeTimings {
  int64_t convertUs = 0;
  int64_t encodeUs = 0;
};

class H264Session {
 public:
  // Opens what opts.codec asks for. A hardware codec that fails to open falls back to libx264 and
  // leaves the reasons in *fallbackReason. Returns null (and *error) when libx264 fails too.
  static std::unique_ptr<H264Session> Open(const EncoderOptions& opts, std::string* fallbackReason,
                                           std::string* error);
  ~H264Session();
  H264Session(const H264Session&) = delete;
  H264Session& operator=(const H264Session&) = delete;

  // Worker thread. unit->packets stays empty when the codec has nothing to hand out yet, or when
  // the source was torn (unit->torn; a keyframe asked for is kept for the next frame).
  bool Encode(const EncodeJob& job, EncodedUnit* unit, EncodeTimings* timings, std::string* error);
  // Worker thread: drains what the codec holds; the next Encode() reopens it (and starts with an IDR).
  bool Flush(std::vector<EncodedUnit>* units, std::string* error);

  // Any thread; applied at the next Encode(). True when the codec takes it without a reopen
  // (a reopen starts with an IDR): bitrate on libx264 and NVENC; fps never.
  bool SetBitrate(int64_t bitrateBps);
  bool SetFps(double fps);
  void RequestKeyframe() { keyframeRequested_.store(true); }

  const std::string& codecName() const { return codecName_; }
  int reopens() const { return reopens_.load(); }

 private:
  enum class Kind { kLibx264, kVaapi, kNvenc };

  H264Session(const EncoderOptions& opts, Kind kind);
  static const char* CodecNameOf(Kind kind);
  bool OpenCodec(std::string* error);
  bool OpenVaapiFrames(std::string* error);
  bool SetCodecOptions(std::string* error);
  void CloseCodec();
  bool ReconfiguresInPlace() const { return kind_ != Kind::kVaapi; }
  void ApplyRateControl();
  bool ApplyPending(std::string* error);
  bool Convert(const EncodeJob& job, AVFrame** input, std::string* error);
  bool Receive(EncodedUnit* unit, std::string* error);
  std::string Describe(const char* call, int code, const std::string& logText) const;

  const EncoderOptions opts_;
  const Kind kind_;
  std::string codecName_;
  AVCodecContext* ctx_ = nullptr;
  AVBufferRef* hwDevice_ = nullptr;
  AVBufferRef* hwFrames_ = nullptr;
  AVFrame* swFrame_ = nullptr;
  AVFrame* hwFrame_ = nullptr;
  SwsConverter sws_;
  int64_t lastPts_ = INT64_MIN;
  int64_t bitrate_;
  double fps_;
  std::atomic<int64_t> pendingBitrate_;
  std::atomic<double> pendingFps_;
  std::atomic<bool> keyframeRequested_{false};
  std::atomic<int> reopens_{0};
};
