#include "opus-encode-worker.h"

#include "opus-encoder.h"

OpusEncodeWorker::OpusEncodeWorker(Napi::Env env, const char* name, OpusEncoder* encoder,
                                   Napi::Object encoderObject, std::vector<uint8_t> pcm, int64_t ptsUs,
                                   int silenceMs)
    : PromiseWorker(env, name, encoderObject, Napi::Value()),
      encoder_(encoder),
      session_(encoder->session()),
      pcm_(std::move(pcm)),
      ptsUs_(ptsUs),
      silenceMs_(silenceMs) {}

void OpusEncodeWorker::Execute() {
  std::string error;
  const bool ok = silenceMs_ >= 0 ? session_->Silence(silenceMs_, &packets_, &error)
                                  : session_->Encode(pcm_.data(), pcm_.size(), ptsUs_, &packets_, &error);
  if (!ok) Fail("EncoderError", error);
}

void OpusEncodeWorker::Settle() { encoder_->Settled(); }

Napi::Value OpusEncodeWorker::Result(Napi::Env env) {
  Napi::Array out = Napi::Array::New(env, packets_.size());
  for (size_t i = 0; i < packets_.size(); i++) {
    const OpusPacketOut& p = packets_[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("data", Napi::Buffer<uint8_t>::Copy(env, p.data.data(), p.data.size()));
    o.Set("ptsUs", static_cast<double>(p.ptsUs));
    o.Set("samples", p.samples);
    out.Set(static_cast<uint32_t>(i), o);
  }
  return out;
}
