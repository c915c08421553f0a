#include "h264-decoder.h"

#include "decode-worker.h"

#include <qemu_webrtc/napi_kit.h>

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

using napi_kit::Fault;

H264Decoder::H264Decoder(const Napi::CallbackInfo& info) : Napi::ObjectWrap<H264Decoder>(info) {
  Napi::Env env = info.Env();
  int threads = 1;
  bool i420 = false;
  try {
    Napi::Object options = napi_kit::ReadObject(info[0], "H264Decoder: options", true);
    Napi::Value format = options.Get("format");
    if (!format.IsUndefined()) {
      const std::string name = napi_kit::ReadString(format, "H264Decoder: format");
      if (name != "bgra" && name != "i420") throw Fault::ArgValue("H264Decoder: format must be 'bgra' or 'i420'");
      i420 = name == "i420";
    }
    Napi::Value t = options.Get("threads");
    if (!t.IsUndefined()) threads = static_cast<int>(napi_kit::ReadInteger(t, "H264Decoder: threads", 0, 16));
  } catch (const Fault& fault) {
    fault.ThrowJs(env);
  }
  std::string error;
  session_ = H264DecodeSession::Open(threads, i420, &error);
  if (!session_) Fault::Named("DecoderError", "H264Decoder: " + error).ThrowJs(env);
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
  if (closed_) return napi_kit::Rejected(env, Fault::Closed("H264Decoder.decode: the decoder is closed"));
  napi_kit::Bytes data{};
  double pts = 0;
  try {
    data = napi_kit::ReadBytes(info[0], "H264Decoder.decode: data");
    if (!info[1].IsUndefined()) {
      pts = napi_kit::ReadNumber(info[1], "H264Decoder.decode: ptsUs", -napi_kit::kMaxSafeInteger,
                                 napi_kit::kMaxSafeInteger);
    }
    if (busy_) throw Fault::Named("BusyError", "H264Decoder.decode: a decode is already in flight");
    if (data.length == 0 || data.length > (1u << 30)) {
      throw Fault::ArgValue("H264Decoder.decode: data is empty or too large");
    }
  } catch (const Fault& fault) {
    return napi_kit::Rejected(env, fault);
  }
  // Copied: the caller may reuse its buffer at once (access units are small).
  AVPacket* packet = av_packet_alloc();
  if (packet == nullptr || av_new_packet(packet, static_cast<int>(data.length)) < 0) {
    av_packet_free(&packet);
    return napi_kit::Rejected(env, Fault::Named("DecoderError", "H264Decoder.decode: out of memory"));
  }
  std::memcpy(packet->data, data.data, data.length);
  packet->pts = static_cast<int64_t>(std::llround(pts));
  return Start(env, "H264Decoder.decode", packet);
}

Napi::Value H264Decoder::Flush(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) return napi_kit::Rejected(env, Fault::Closed("H264Decoder.flush: the decoder is closed"));
  if (busy_) return napi_kit::Rejected(env, Fault::Named("BusyError", "H264Decoder.flush: a decode is already in flight"));
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
