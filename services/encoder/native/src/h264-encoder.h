// JS class H264Encoder: options checked on construction, encode()/flush() on a worker thread (one
// call in flight: a second one rejects with BusyError), run-time bitrate/fps/keyframe control,
// close() frees everything (calls after it throw or reject with ClosedError).
#pragma once

#include "encoder-options.h"
#include "h264-session.h"

#include <napi.h>

#include <memory>
#include <string>

class H264Encoder : public Napi::ObjectWrap<H264Encoder> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit H264Encoder(const Napi::CallbackInfo& info);
  ~H264Encoder() override;

  // For the workers (JS thread except session(), which Execute() uses).
  H264Session* session() { return session_.get(); }
  void EncodeSettled(bool ok, const EncodedUnit& unit, const EncodeTimings& timings);
  void FlushSettled();

 private:
  Napi::Value Encode(const Napi::CallbackInfo& info);
  Napi::Value Flush(const Napi::CallbackInfo& info);
  Napi::Value SetBitrate(const Napi::CallbackInfo& info);
  Napi::Value SetFps(const Napi::CallbackInfo& info);
  Napi::Value RequestKeyframe(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value CodecName(const Napi::CallbackInfo& info);
  Napi::Value FallbackReason(const Napi::CallbackInfo& info);
  Napi::Value Geometry(const Napi::CallbackInfo& info);
  Napi::Value Busy(const Napi::CallbackInfo& info);
  Napi::Value Closed(const Napi::CallbackInfo& info);
  void ThrowIfClosed(Napi::Env env, const char* method) const;

  EncoderOptions opts_;
  std::unique_ptr<H264Session> session_;
  std::string codecName_;
  std::string fallbackReason_;
  bool busy_ = false;
  bool closed_ = false;
  double framesIn_ = 0;
  double framesOut_ = 0;
  double keyframesOut_ = 0;
  double tornIn_ = 0;
  double bytesOut_ = 0;
  double lastConvertUs_ = 0;
  double lastEncodeUs_ = 0;
};
