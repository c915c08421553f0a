#include "encode-worker.h"

#include "h264-encoder.h"

EncodeWorker::EncodeWorker(Napi::Env env, H264Encoder* encoder, Napi::Object encoderObject,
                           Napi::Value input, const EncodeJob& job)
    : PromiseWorker(env, "H264Encoder.encode", encoderObject, input),
      encoder_(encoder),
      session_(encoder->session()),
      job_(job) {}

void EncodeWorker::Execute() {
  std::string error;
  if (!session_->Encode(job_, &unit_, &timings_, &error)) Fail("EncoderError", error);
}

void EncodeWorker::Settle() { encoder_->EncodeSettled(!failed(), unit_, timings_); }

Napi::Value EncodeWorker::Result(Napi::Env env) {
  if (unit_.torn) {
    Napi::Object out = Napi::Object::New(env);
    out.Set("torn", true);
    return out;
  }
  if (unit_.packets.empty()) return env.Null();
  Napi::Buffer<uint8_t> data = Napi::Buffer<uint8_t>::New(env, unit_.size());
  unit_.CopyTo(data.Data());
  Napi::Object out = Napi::Object::New(env);
  out.Set("data", data);
  out.Set("keyframe", unit_.keyframe);
  out.Set("ptsUs", static_cast<double>(unit_.ptsUs));
  return out;
}
