// OpusEncoder.encode()/silence(): converts and encodes off the JS thread; resolves with the packets.
#pragma once

#include "opus-session.h"
#include "promise-worker.h"

#include <vector>

class OpusEncoder;

class OpusEncodeWorker : public PromiseWorker {
 public:
  // Encodes `pcm` (copied) at `ptsUs`; with `silenceMs` >= 0 instead ends the sound with silence.
  OpusEncodeWorker(Napi::Env env, const char* name, OpusEncoder* encoder, Napi::Object encoderObject,
                   std::vector<uint8_t> pcm, int64_t ptsUs, int silenceMs);

 protected:
  void Execute() override;
  Napi::Value Result(Napi::Env env) override;
  void Settle() override;

 private:
  OpusEncoder* encoder_;
  OpusSession* session_;
  std::vector<uint8_t> pcm_;
  int64_t ptsUs_;
  int silenceMs_;
  std::vector<OpusPacketOut> packets_;
};
