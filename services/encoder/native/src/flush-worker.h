// H264Encoder.flush(): drains the codec off the JS thread; resolves with the remaining access units.
#pragma once

#include "h264-session.h"
#include "promise-worker.h"

#include <vector>

class H264Encoder;

class FlushWorker : public PromiseWorker {
 public:
  FlushWorker(Napi::Env env, H264Encoder* encoder, Napi::Object encoderObject);

 protected:
  void Execute() override;
  Napi::Value Result(Napi::Env env) override;
  void Settle() override;

 private:
  H264Encoder* encoder_;
  H264Session* session_;
  std::vector<EncodedUnit> units_;
};
