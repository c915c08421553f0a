#include "flush-worker.h"

#include "h264-encoder.h"

FlushWorker::FlushWorker(Napi::Env env, H264Encoder* encoder, Napi::Object encoderObject)
    : PromiseWorker(env, "H264Encoder.flush", encoderObject, Napi::Value()),
      encoder_(encoder),
      session_(encoder->session()) {}

void FlushWorker::Execute() {
  std::string error;
  if (!session_->Flush(&units_, &error)) Fail("EncoderError", error);
}

void FlushWorker::Settle() { encoder_->FlushSettled(); }

Napi::Value FlushWorker::Result(Napi::Env env) {
  Napi::Array out = Napi::Array::New(env, units_.size());
  for (size_t i = 0; i < units_.size(); i++) {
    const EncodedUnit& unit = units_[i];
    Napi::Buffer<uint8_t> data = Napi::Buffer<uint8_t>::New(env, unit.size());
    unit.CopyTo(data.Data());
    Napi::Object o = Napi::Object::New(env);
    o.Set("data", data);
    o.Set("keyframe", unit.keyframe);
    o.Set("ptsUs", static_cast<double>(unit.ptsUs));
    out.Set(static_cast<uint32_t>(i), o);
  }
  return out;
}
