#include "opus-encoder.h"

#include "opus-encode-worker.h"

#include <qemu_webrtc/napi_kit.h>

#include <cmath>

using napi_kit::Fault;

namespace {
// One QEMU Write is NSamples frames (480 by default); anything far larger is refused.
constexpr size_t kMaxPcmBytes = 1u << 20;
}  // namespace

void OpusEncoder::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "OpusEncoder",
                                    {
                                        InstanceMethod<&OpusEncoder::Encode>("encode"),
                                        InstanceMethod<&OpusEncoder::Silence>("silence"),
                                        InstanceMethod<&OpusEncoder::Close>("close"),
                                        InstanceAccessor<&OpusEncoder::Channels>("channels"),
                                    });
  exports.Set("OpusEncoder", ctor);
}

OpusEncoder::OpusEncoder(const Napi::CallbackInfo& info) : Napi::ObjectWrap<OpusEncoder>(info) {
  Napi::Env env = info.Env();
  PcmFormat format;
  int bitrate = 64000;
  try {
    Napi::Object o = napi_kit::ReadObject(info[0], "OpusEncoder: options");
    format.bits = static_cast<int>(napi_kit::ReadInteger(o.Get("bits"), "OpusEncoder: bits", 8, 32));
    format.isSigned = napi_kit::ReadBool(o.Get("isSigned"), "OpusEncoder: isSigned");
    format.isFloat = napi_kit::ReadBool(o.Get("isFloat"), "OpusEncoder: isFloat");
    format.rate = static_cast<int>(napi_kit::ReadInteger(o.Get("rate"), "OpusEncoder: rate", 1000, 384000));
    format.channels = static_cast<int>(napi_kit::ReadInteger(o.Get("channels"), "OpusEncoder: channels", 1, 8));
    format.bigEndian = napi_kit::ReadBool(o.Get("bigEndian"), "OpusEncoder: bigEndian", true, false);
    Napi::Value b = o.Get("bitrate");
    if (!b.IsUndefined())
      bitrate = static_cast<int>(napi_kit::ReadInteger(b, "OpusEncoder: bitrate", 6000, 510000));
  } catch (const Fault& fault) {
    fault.ThrowJs(env);
    return;
  }
  std::string error;
  session_ = OpusSession::Open(format, bitrate, &error);
  if (!session_) Fault::Named("EncoderError", "OpusEncoder: " + error).ThrowJs(env);
}

OpusEncoder::~OpusEncoder() {
  // Only at environment teardown can an encode still run on the thread pool: leave it its session.
  if (busy_) static_cast<void>(session_.release());
}

Napi::Value OpusEncoder::Encode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) return napi_kit::Rejected(env, Fault::Closed("OpusEncoder.encode: the encoder is closed"));
  napi_kit::Bytes data{};
  double pts = 0;
  try {
    data = napi_kit::ReadBytes(info[0], "OpusEncoder.encode: pcm");
    pts = napi_kit::ReadNumber(info[1], "OpusEncoder.encode: ptsUs", 0, napi_kit::kMaxSafeInteger);
    if (busy_) throw Fault::Named("BusyError", "OpusEncoder.encode: an encode is already in flight");
    if (data.length == 0 || data.length > kMaxPcmBytes)
      throw Fault::ArgValue("OpusEncoder.encode: pcm is empty or too large");
  } catch (const Fault& fault) {
    return napi_kit::Rejected(env, fault);
  }
  // Copied: PCM chunks are small, and the caller's buffer is a NATS message's.
  std::vector<uint8_t> pcm(data.data, data.data + data.length);
  busy_ = true;
  auto* worker = new OpusEncodeWorker(env, "OpusEncoder.encode", this, Value(), std::move(pcm),
                                      static_cast<int64_t>(std::llround(pts)), -1);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value OpusEncoder::Silence(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) return napi_kit::Rejected(env, Fault::Closed("OpusEncoder.silence: the encoder is closed"));
  int ms = 0;
  try {
    ms = static_cast<int>(napi_kit::ReadInteger(info[0], "OpusEncoder.silence: ms", 0, 1000));
    if (busy_) throw Fault::Named("BusyError", "OpusEncoder.silence: an encode is already in flight");
  } catch (const Fault& fault) {
    return napi_kit::Rejected(env, fault);
  }
  busy_ = true;
  auto* worker = new OpusEncodeWorker(env, "OpusEncoder.silence", this, Value(), {}, 0, ms);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value OpusEncoder::Channels(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), session_ ? session_->outChannels() : 0);
}

void OpusEncoder::Settled() {
  busy_ = false;
  if (closed_) session_.reset();
}

Napi::Value OpusEncoder::Close(const Napi::CallbackInfo& info) {
  if (!closed_) {
    closed_ = true;
    if (!busy_) session_.reset();
  }
  return info.Env().Undefined();
}
