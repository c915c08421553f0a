#include "h264-decoder.h"

#include "decode-worker.h"
#include "js-bytes.h"
#include "js-error.h"

#include <cmath>
#include <cstring>

void H264Decoder::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "H264Decoder",
                                    {
                                        InstanceMethod<&H264Decoder::Decode>("decode"),
                                        InstanceMethod<&H264Decoder::Flush>("flush"),
                                        InstanceMethod<&H264Decoder::Close>("close"),
                                    });
  exports.Set("H264Decoder", ctor);
}

H264Decoder::H264Decoder(const Napi::CallbackInfo& info) : Napi::ObjectWrap<H264Decoder>(info) {
  Napi::Env env = info.Env();
  int threads = 1;
  bool i420 = false;
  if (info[0].IsObject()) {
    Napi::Value format = info[0].As<Napi::Object>().Get("format");
    if (!format.IsUndefined()) {
      const std::string name = format.IsString() ? format.As<Napi::String>().Utf8Value() : "";
      if (name != "bgra" && name != "i420") {
        throw Napi::TypeError::New(env, "H264Decoder: format must be 'bgra' or 'i420'");
      }
      i420 = name == "i420";
    }
    Napi::Value t = info[0].As<Napi::Object>().Get("threads");
    if (!t.IsUndefined()) {
      const double d = t.IsNumber() ? t.As<Napi::Number>().DoubleValue() : NAN;
      if (!std::isfinite(d) || d < 0 || d > 16 || std::floor(d) != d) {
        throw Napi::TypeError::New(env, "H264Decoder: threads must be an integer in [0, 16]");
      }
      threads = static_cast<int>(d);
    }
  } else if (!info[0].IsUndefined()) {
    throw Napi::TypeError::New(env, "H264Decoder: options must be an object");
  }
  std::string error;
  session_ = H264DecodeSession::Open(threads, i420, &error);
  if (!session_) throw JsError::Make(env, "DecoderError", "H264Decoder: " + error);
}

H264Decoder::~H264Decoder() {
  // Only at environment teardown can a decode still run on the thread pool: leave it its session.
  if (busy_) static_cast<void>(session_.release());
}

Napi::Value H264Decoder::Start(Napi::Env env, const char* method, AVPacket* packet) {
  busy_ = true;
  auto* worker = new DecodeWorker(env, method, this, Value(), packet);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value H264Decoder::Decode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) return JsError::Rejected(env, "ClosedError", "H264Decoder.decode: the decoder is closed");
  if (!info[0].IsTypedArray() && !info[0].IsArrayBuffer()) {
    return JsError::Rejected(env, "TypeError",
                             "H264Decoder.decode: data must be a Uint8Array or an ArrayBuffer");
  }
  double pts = 0;
  if (!info[1].IsUndefined()) {
    pts = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : NAN;
    if (!std::isfinite(pts)) {
      return JsError::Rejected(env, "TypeError", "H264Decoder.decode: ptsUs must be a finite number");
    }
  }
  if (busy_) return JsError::Rejected(env, "BusyError", "H264Decoder.decode: a decode is already in flight");
  const uint8_t* data = nullptr;
  size_t size = 0;
  JsBytes::Get(info[0], &data, &size);
  if (size == 0 || size > (1u << 30)) {
    return JsError::Rejected(env, "TypeError", "H264Decoder.decode: data is empty or too large");
  }
  // Copied: the caller may reuse its buffer at once (access units are small).
  AVPacket* packet = av_packet_alloc();
  if (packet == nullptr || av_new_packet(packet, static_cast<int>(size)) < 0) {
    av_packet_free(&packet);
    return JsError::Rejected(env, "DecoderError", "H264Decoder.decode: out of memory");
  }
  std::memcpy(packet->data, data, size);
  packet->pts = static_cast<int64_t>(std::llround(pts));
  return Start(env, "H264Decoder.decode", packet);
}

Napi::Value H264Decoder::Flush(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) return JsError::Rejected(env, "ClosedError", "H264Decoder.flush: the decoder is closed");
  if (busy_) return JsError::Rejected(env, "BusyError", "H264Decoder.flush: a decode is already in flight");
  return Start(env, "H264Decoder.flush", nullptr);
}

void H264Decoder::Settled() {
  busy_ = false;
  if (closed_) session_.reset();
}

Napi::Value H264Decoder::Close(const Napi::CallbackInfo& info) {
  if (!closed_) {
    closed_ = true;
    if (!busy_) session_.reset();
  }
  return info.Env().Undefined();
}
