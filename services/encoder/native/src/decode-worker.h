// H264Decoder.decode()/flush(): decodes off the JS thread; resolves with the pictures it produced.
#pragma once

#include "h264-decode-session.h"
#include "promise-worker.h"

#include <vector>

class H264Decoder;

class DecodeWorker : public PromiseWorker {
 public:
  // Takes ownership of `packet` (null: drain).
  DecodeWorker(Napi::Env env, const char* name, H264Decoder* decoder, Napi::Object decoderObject,
               AVPacket* packet);
  ~DecodeWorker() override;

 protected:
  void Execute() override;
  Napi::Value Result(Napi::Env env) override;
  void Settle() override;

 private:
  H264Decoder* decoder_;
  H264DecodeSession* session_;
  AVPacket* packet_;
  std::vector<DecodedPicture> pictures_;
};
