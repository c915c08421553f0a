#include "h264-encoder.h"

#include "encode-worker.h"
#include "flush-worker.h"
#include "js-bytes.h"
#include "js-error.h"

#include <cmath>

namespace {

enum GeometryField { kWidth, kHeight, kOutputWidth, kOutputHeight, kCodedWidth, kCodedHeight };

// Reads an optional/required number field of the encode() input; returns an error text or "".
std::string ReadNumber(const Napi::Object& o, const char* key, bool required, double min, double max,
                       bool integer, double* out) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() && !required) return "";
  if (!v.IsNumber()) return std::string("H264Encoder.encode: input.") + key + " must be a number";
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d < min || d > max || (integer && std::floor(d) != d)) {
    return std::string("H264Encoder.encode: input.") + key + " is out of range (" +
           v.ToString().Utf8Value() + ")";
  }
  *out = d;
  return "";
}

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
  if (!info.IsConstructCall()) throw Napi::TypeError::New(env, "H264Encoder must be called with new");
  opts_ = EncoderOptions::FromJs(env, info[0]);
  std::string error;
  session_ = H264Session::Open(opts_, &fallbackReason_, &error);
  if (!session_) throw JsError::Make(env, "EncoderError", "H264Encoder: " + error);
  codecName_ = session_->codecName();
}

H264Encoder::~H264Encoder() {
  // Only at environment teardown can an encode still run on the thread pool: leave it its session.
  if (busy_) static_cast<void>(session_.release());
}

void H264Encoder::ThrowIfClosed(Napi::Env env, const char* method) const {
  if (closed_) {
    throw JsError::Make(env, "ClosedError", std::string("H264Encoder.") + method + ": the encoder is closed");
  }
}

Napi::Value H264Encoder::Encode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) return JsError::Rejected(env, "ClosedError", "H264Encoder.encode: the encoder is closed");
  if (!info[0].IsObject()) {
    return JsError::Rejected(env, "TypeError", "H264Encoder.encode: input must be an object");
  }
  Napi::Object in = info[0].As<Napi::Object>();

  Napi::Value dataValue = in.Get("data");
  const uint8_t* base = nullptr;
  size_t length = 0;
  if (!JsBytes::Get(dataValue, &base, &length)) {
    return JsError::Rejected(env, "TypeError",
                             "H264Encoder.encode: input.data must be an ArrayBuffer or a Uint8Array");
  }

  double width = 0, height = 0, stride = 0, offset = 0, ptsUs = 0;
  for (const std::string& e :
       {ReadNumber(in, "width", true, 1, 65535, true, &width),
        ReadNumber(in, "height", true, 1, 65535, true, &height),
        ReadNumber(in, "stride", true, 1, 1 << 30, true, &stride),
        ReadNumber(in, "offset", false, 0, 9007199254740991.0, true, &offset),
        ReadNumber(in, "ptsUs", true, -9007199254740991.0, 9007199254740991.0, false, &ptsUs)}) {
    if (!e.empty()) return JsError::Rejected(env, "TypeError", e);
  }
  Napi::Value format = in.Get("format");
  const std::string formatName = format.IsString() ? format.As<Napi::String>().Utf8Value() : "";
  if (formatName != "bgrx" && formatName != "bgra") {
    return JsError::Rejected(env, "TypeError", "H264Encoder.encode: input.format must be 'bgrx' or 'bgra'");
  }
  Napi::Value force = in.Get("forceKeyframe");
  if (!force.IsUndefined() && !force.IsBoolean()) {
    return JsError::Rejected(env, "TypeError", "H264Encoder.encode: input.forceKeyframe must be a boolean");
  }
  if (static_cast<int>(width) != opts_.width || static_cast<int>(height) != opts_.height) {
    return JsError::Rejected(env, "TypeError",
                             "H264Encoder.encode: input is " + std::to_string(static_cast<int>(width)) + "x" +
                                 std::to_string(static_cast<int>(height)) + " but the encoder takes " +
                                 std::to_string(opts_.width) + "x" + std::to_string(opts_.height) +
                                 " (create a new encoder on resize)");
  }
  if (stride < width * 4) {
    return JsError::Rejected(env, "TypeError", "H264Encoder.encode: input.stride is smaller than width * 4");
  }
  const double needed = offset + stride * (height - 1) + width * 4;
  if (needed > static_cast<double>(length)) {
    return JsError::Rejected(env, "TypeError",
                             "H264Encoder.encode: input.data holds " + std::to_string(length) +
                                 " bytes, the picture needs " + std::to_string(static_cast<int64_t>(needed)));
  }
  // Optional seqlock: { buffer: ArrayBuffer, byteOffset, expected: bigint } (see EncodeJob).
  Napi::Value seqlock = in.Get("seqlock");
  const uint64_t* sequence = nullptr;
  uint64_t expectedSequence = 0;
  Napi::Value seqlockBuffer = env.Undefined();
  if (!seqlock.IsUndefined()) {
    const char* bad =
        "H264Encoder.encode: input.seqlock must be { buffer: ArrayBuffer, byteOffset: a multiple of 8 "
        "within it, expected: bigint }";
    if (!seqlock.IsObject()) return JsError::Rejected(env, "TypeError", bad);
    Napi::Object lock = seqlock.As<Napi::Object>();
    seqlockBuffer = lock.Get("buffer");
    Napi::Value at = lock.Get("byteOffset");
    Napi::Value expected = lock.Get("expected");
    if (!seqlockBuffer.IsArrayBuffer() || !at.IsNumber() || !expected.IsBigInt()) {
      return JsError::Rejected(env, "TypeError", bad);
    }
    Napi::ArrayBuffer ab = seqlockBuffer.As<Napi::ArrayBuffer>();
    const double offsetAt = at.As<Napi::Number>().DoubleValue();
    bool lossless = false;
    expectedSequence = expected.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless || !std::isfinite(offsetAt) || offsetAt < 0 || std::floor(offsetAt) != offsetAt ||
        static_cast<uint64_t>(offsetAt) % 8 != 0 || offsetAt + 8 > static_cast<double>(ab.ByteLength())) {
      return JsError::Rejected(env, "TypeError", bad);
    }
    sequence = reinterpret_cast<const uint64_t*>(static_cast<const uint8_t*>(ab.Data()) +
                                                 static_cast<size_t>(offsetAt));
  }
  if (busy_) {
    return JsError::Rejected(env, "BusyError", "H264Encoder.encode: an encode or flush is already in flight");
  }

  EncodeJob job;
  job.sequence = sequence;
  job.expectedSequence = expectedSequence;
  job.data = base + static_cast<size_t>(offset);
  job.stride = static_cast<int>(stride);
  job.ptsUs = static_cast<int64_t>(std::llround(ptsUs));
  job.forceKeyframe = force.IsBoolean() && force.As<Napi::Boolean>().Value();
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
  if (closed_) return JsError::Rejected(env, "ClosedError", "H264Encoder.flush: the encoder is closed");
  if (busy_) {
    return JsError::Rejected(env, "BusyError", "H264Encoder.flush: an encode or flush is already in flight");
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
  const double bps = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : NAN;
  if (!std::isfinite(bps) || bps < 10000 || bps > 1e9 || std::floor(bps) != bps) {
    throw Napi::TypeError::New(env, "H264Encoder.setBitrate: bps must be an integer in [10000, 1e9]");
  }
  return Napi::Boolean::New(env, session_->SetBitrate(static_cast<int64_t>(bps)));
}

Napi::Value H264Encoder::SetFps(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ThrowIfClosed(env, "setFps");
  const double fps = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : NAN;
  if (!std::isfinite(fps) || fps < 1 || fps > 240) {
    throw Napi::TypeError::New(env, "H264Encoder.setFps: fps must be a number in [1, 240]");
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
