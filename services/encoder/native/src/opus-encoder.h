// JS class OpusEncoder: new OpusEncoder({bits, isSigned, isFloat, rate, channels, bigEndian,
// bitrate}); encode(pcm, ptsUs) and silence(ms) run on a worker thread, one call in flight
// (BusyError otherwise), and resolve with Opus packets; close() frees it.
#pragma once

#include "opus-session.h"

#include <napi.h>

#include <memory>

class OpusEncoder : public Napi::ObjectWrap<OpusEncoder> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit OpusEncoder(const Napi::CallbackInfo& info);
  ~OpusEncoder() override;

  OpusSession* session() { return session_.get(); }
  void Settled();

 private:
  Napi::Value Encode(const Napi::CallbackInfo& info);
  Napi::Value Silence(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Channels(const Napi::CallbackInfo& info);

  std::unique_ptr<OpusSession> session_;
  bool busy_ = false;
  bool closed_ = false;
};
