// JS class H264Decoder (for tests and benchmarks): decode(accessUnit) and flush() on a worker
// thread, one call in flight (BusyError otherwise), pictures as packed BGRA or I420 planes;
// close() frees it.
#pragma once

#include "h264-decode-session.h"

#include <napi.h>

#include <memory>

class H264Decoder : public Napi::ObjectWrap<H264Decoder> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit H264Decoder(const Napi::CallbackInfo& info);
  ~H264Decoder() override;

  H264DecodeSession* session() { return session_.get(); }
  void Settled();

 private:
  Napi::Value Decode(const Napi::CallbackInfo& info);
  Napi::Value Flush(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Start(Napi::Env env, const char* method, AVPacket* packet);

  std::unique_ptr<H264DecodeSession> session_;
  bool busy_ = false;
  bool closed_ = false;
};
