// H264Encoder.encode(): converts and encodes one frame off the JS thread; resolves with the access
// unit (copied into a new Buffer) or null when the codec has not produced one yet.
#pragma once

#include "h264-session.h"
#include "promise-worker.h"

class H264Encoder;

class EncodeWorker : public PromiseWorker {
 public:
  // `input` (the ArrayBuffer or view holding job.data) stays referenced until the promise settles.
  EncodeWorker(Napi::Env env, H264Encoder* encoder, Napi::Object encoderObject, Napi::Value input,
               const EncodeJob& job);

 protected:
  void Execute() override;
  Napi::Value Result(Napi::Env env) override;
  void Settle() override;

 private:
  H264Encoder* encoder_;
  H264Session* session_;
  EncodeJob job_;
  EncodedUnit unit_;
  EncodeTimings timings_;
};
