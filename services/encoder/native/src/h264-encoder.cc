#include "h264-encoder.h"

#include "encode-worker.h"
#include "flush-worker.h"

#include <qemu_webrtc/napi_kit.h>

#include <cmath>

namespace {

using napi_kit::Fault;

enum GeometryField { kWidth, kHeight, kOutputWidth, kOutputHeight, kCodedWidth, kCodedHeight };

constexpr const char* kEncode = "H264Encoder.encode: ";

}  // namespace

void H264Encoder::Init(Napi::Env env, Napi::Object exports) {
  const auto ro = static_cast<napi_property_attributes>(napi_enumerable | napi_configurable);
  Napi::Function ctor = DefineClass(
      env, "H264Encoder",
      {
          InstanceMethod<&H264Encoder::Encode>("encode"),
          InstanceMethod<&H264Encoder::Flush>("flush"),
          InstanceMethod<&H264Encoder::SetBitrate>("setBitrate"),
          InstanceMethod<&H264Encoder::SetFps>("setFps"),
          InstanceMethod<&H264Encoder::RequestKeyframe>("requestKeyframe"),
          InstanceMethod<&H264Encoder::Close>("close"),
          InstanceMethod<&H264Encoder::Stats>("stats"),
          InstanceAccessor<&H264Encoder::CodecName>("codecName", ro),
          InstanceAccessor<&H264Encoder::FallbackReason>("fallbackReason", ro),
          InstanceAccessor("width", &H264Encoder::Geometry, nullptr, ro, reinterpret_cast<void*>(kWidth)),
          InstanceAccessor("height", &H264Encoder::Geometry, nullptr, ro, reinterpret_cast<void*>(kHeight)),
          InstanceAccessor("outputWidth", &H264Encoder::Geometry, nullptr, ro,
                           reinterpret_cast<void*>(kOutputWidth)),
          InstanceAccessor("outputHeight", &H264Encoder::Geometry, nullptr, ro,
                           reinterpret_cast<void*>(kOutputHeight)),
          InstanceAccessor("codedWidth", &H264Encoder::Geometry, nullptr, ro,
                           reinterpret_cast<void*>(kCodedWidth)),
          InstanceAccessor("codedHeight", &H264Encoder::Geometry, nullptr, ro,
                           reinterpret_cast<void*>(kCodedHeight)),
          InstanceAccessor<&H264Encoder::Busy>("busy", ro),
          InstanceAccessor<&H264Encoder::Closed>("closed", ro),
      });
  exports.Set("H264Encoder", ctor);
}

H264Encoder::H264Encoder(const Napi::CallbackInfo& info) : Napi::ObjectWrap<H264Encoder>(info) {
  Napi::Env env = info.Env();
  if (!info.IsConstructCall()) throw Fault::ArgType("H264Encoder must be called with new").ToJs(env);
  try {
    opts_ = EncoderOptions::FromJs(info[0]);
  } catch (const Fault& fault) {
    fault.ThrowJs(env);
  }
  std::string error;
  session_ = H264Session::Open(opts_, &fallbackReason_, &error);
  if (!session_) Fault::Named("EncoderError", "H264Encoder: " + error).ThrowJs(env);
  codecName_ = session_->codecName();
}

H264Encoder::~H264Encoder() {
  // Only at environment teardown can an encode still run on the thread pool: leave it its session.
  if (busy_) static_cast<void>(session_.release());
}

void H264Encoder::ThrowIfClosed(Napi::Env env, const char* method) const {
  if (closed_) {
    Fault::Closed(std::string("H264Encoder.") + method + ": the encoder is closed").ThrowJs(env);
  }
}

// src/native.ts checks the input first with clear messages; what stays here guards memory: the
// picture must match the session's buffers and lie inside input.data, the seqlock inside its buffer.
Napi::Value H264Encoder::Encode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) return napi_kit::Rejected(env, Fault::Closed("H264Encoder.encode: the encoder is closed"));
  const std::string what = std::string(kEncode) + "input";
  EncodeJob job;
  Napi::Value dataValue;
  Napi::Value seqlockBuffer = env.Undefined();
  try {
    Napi::Object in = napi_kit::ReadObject(info[0], what);
    dataValue = in.Get("data");
    const napi_kit::Bytes data = napi_kit::ReadBytes(dataValue, what + ".data");
    const double width = napi_kit::ReadInteger(in.Get("width"), what + ".width", 1, 65535);
    const double height = napi_kit::ReadInteger(in.Get("height"), what + ".height", 1, 65535);
    const double stride = napi_kit::ReadInteger(in.Get("stride"), what + ".stride", 1, 1 << 30);
    const Napi::Value offsetValue = in.Get("offset");
    const double offset = offsetValue.IsUndefined()
                              ? 0
                              : napi_kit::ReadInteger(offsetValue, what + ".offset", 0, napi_kit::kMaxSafeInteger);
    const double ptsUs =
        napi_kit::ReadNumber(in.Get("ptsUs"), what + ".ptsUs", -napi_kit::kMaxSafeInteger, napi_kit::kMaxSafeInteger);
    const std::string format = napi_kit::ReadString(in.Get("format"), what + ".format");
    if (format != "bgrx" && format != "bgra") throw Fault::ArgValue(what + ".format must be 'bgrx' or 'bgra'");
    const bool forceKeyframe = napi_kit::ReadBool(in.Get("forceKeyframe"), what + ".forceKeyframe", true);
    if (static_cast<int>(width) != opts_.width || static_cast<int>(height) != opts_.height) {
      throw Fault::ArgValue(what + " is " + std::to_string(static_cast<int>(width)) + "x" +
                            std::to_string(static_cast<int>(height)) + " but the encoder takes " +
                            std::to_string(opts_.width) + "x" + std::to_string(opts_.height) +
                            " (create a new encoder on resize)");
    }
    // A picture that does not fit the bytes it comes with is a bad input (TypeError), like a
    // wrong size: the description and its data disagree.
    if (stride < width * 4) throw Fault::ArgValue(what + ".stride is smaller than width * 4");
    const double needed = offset + stride * (height - 1) + width * 4;
    if (needed > static_cast<double>(data.length)) {
      throw Fault::ArgValue(what + ".data holds " + std::to_string(data.length) + " bytes, the picture needs " +
                            std::to_string(static_cast<int64_t>(needed)));
    }
    // Optional seqlock: { buffer: ArrayBuffer, byteOffset, expected: bigint } (see EncodeJob).
    Napi::Value seqlock = in.Get("seqlock");
    if (!seqlock.IsUndefined()) {
      const std::string bad = what + ".seqlock must be { buffer: ArrayBuffer, byteOffset: a multiple of 8 "
                                    "within it, expected: bigint }";
      if (!seqlock.IsObject()) throw Fault::ArgType(bad);
      Napi::Object lock = seqlock.As<Napi::Object>();
      seqlockBuffer = lock.Get("buffer");
      Napi::Value expected = lock.Get("expected");
      if (!seqlockBuffer.IsArrayBuffer() || !expected.IsBigInt()) throw Fault::ArgType(bad);
      Napi::ArrayBuffer ab = seqlockBuffer.As<Napi::ArrayBuffer>();
      const double at = napi_kit::ReadInteger(lock.Get("byteOffset"), what + ".seqlock.byteOffset", 0,
                                              static_cast<double>(ab.ByteLength()) - 8);
      bool lossless = false;
      job.expectedSequence = expected.As<Napi::BigInt>().Uint64Value(&lossless);
      if (!lossless || static_cast<uint64_t>(at) % 8 != 0) throw Fault::ArgValue(bad);
      job.sequence =
          reinterpret_cast<const uint64_t*>(static_cast<const uint8_t*>(ab.Data()) + static_cast<size_t>(at));
    }
    if (busy_) throw Fault::Named("BusyError", std::string(kEncode) + "an encode or flush is already in flight");
    job.data = data.data + static_cast<size_t>(offset);
    job.stride = static_cast<int>(stride);
    job.ptsUs = static_cast<int64_t>(std::llround(ptsUs));
    job.forceKeyframe = forceKeyframe;
  } catch (const Fault& fault) {
    return napi_kit::Rejected(env, fault);
  }
  busy_ = true;
  framesIn_++;
  // The pixels and the seqlock's buffer stay referenced until the promise settles.
  Napi::Array keepAlive = Napi::Array::New(env, 2);
  keepAlive.Set(uint32_t{0}, dataValue);
  keepAlive.Set(uint32_t{1}, seqlockBuffer);
  auto* worker = new EncodeWorker(env, this, Value(), keepAlive, job);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

void H264Encoder::EncodeSettled(bool ok, const EncodedUnit& unit, const EncodeTimings& timings) {
  busy_ = false;
  if (ok) {
    lastConvertUs_ = static_cast<double>(timings.convertUs);
    lastEncodeUs_ = static_cast<double>(timings.encodeUs);
    if (unit.torn) tornIn_++;
    if (!unit.packets.empty()) {
      framesOut_++;
      bytesOut_ += static_cast<double>(unit.size());
      if (unit.keyframe) keyframesOut_++;
    }
  }
  if (closed_) session_.reset();
}

Napi::Value H264Encoder::Flush(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) return napi_kit::Rejected(env, Fault::Closed("H264Encoder.flush: the encoder is closed"));
  if (busy_) {
    return napi_kit::Rejected(env, Fault::Named("BusyError", "H264Encoder.flush: an encode or flush is already in flight"));
  }
  busy_ = true;
  auto* worker = new FlushWorker(env, this, Value());
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

void H264Encoder::FlushSettled() {
  busy_ = false;
  if (closed_) session_.reset();
}

Napi::Value H264Encoder::SetBitrate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ThrowIfClosed(env, "setBitrate");
  double bps = 0;
  try {
    bps = napi_kit::ReadInteger(info[0], "H264Encoder.setBitrate: bps", 10000, 1e9);
  } catch (const Fault& fault) {
    fault.ThrowJs(env);
  }
  return Napi::Boolean::New(env, session_->SetBitrate(static_cast<int64_t>(bps)));
}

Napi::Value H264Encoder::SetFps(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ThrowIfClosed(env, "setFps");
  double fps = 0;
  try {
    fps = napi_kit::ReadNumber(info[0], "H264Encoder.setFps: fps", 1, 240);
  } catch (const Fault& fault) {
    fault.ThrowJs(env);
  }
  return Napi::Boolean::New(env, session_->SetFps(fps));
}

Napi::Value H264Encoder::RequestKeyframe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ThrowIfClosed(env, "requestKeyframe");
  session_->RequestKeyframe();
  return env.Undefined();
}

Napi::Value H264Encoder::Close(const Napi::CallbackInfo& info) {
  if (!closed_) {
    closed_ = true;
    // An encode in flight still uses the session: it is freed when that call settles.
    if (!busy_) session_.reset();
  }
  return info.Env().Undefined();
}

Napi::Value H264Encoder::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ThrowIfClosed(env, "stats");
  Napi::Object o = Napi::Object::New(env);
  o.Set("framesIn", framesIn_);
  o.Set("framesOut", framesOut_);
  o.Set("keyframesOut", keyframesOut_);
  o.Set("tornIn", tornIn_);
  o.Set("bytesOut", bytesOut_);
  o.Set("lastConvertUs", lastConvertUs_);
  o.Set("lastEncodeUs", lastEncodeUs_);
  o.Set("reopens", session_->reopens());
  return o;
}

Napi::Value H264Encoder::CodecName(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), codecName_);
}

Napi::Value H264Encoder::FallbackReason(const Napi::CallbackInfo& info) {
  if (fallbackReason_.empty()) return info.Env().Null();
  return Napi::String::New(info.Env(), fallbackReason_);
}

Napi::Value H264Encoder::Geometry(const Napi::CallbackInfo& info) {
  int value = 0;
  switch (static_cast<GeometryField>(reinterpret_cast<intptr_t>(info.Data()))) {
    case kWidth:
      value = opts_.width;
      break;
    case kHeight:
      value = opts_.height;
      break;
    case kOutputWidth:
      value = opts_.outputWidth;
      break;
    case kOutputHeight:
      value = opts_.outputHeight;
      break;
    case kCodedWidth:
      value = opts_.CodedWidth();
      break;
    case kCodedHeight:
      value = opts_.CodedHeight();
      break;
  }
  return Napi::Number::New(info.Env(), value);
}

Napi::Value H264Encoder::Busy(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), busy_);
}

Napi::Value H264Encoder::Closed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), closed_);
}
