#include "decode-worker.h"

#include "h264-decoder.h"

DecodeWorker::DecodeWorker(Napi::Env env, const char* name, H264Decoder* decoder,
                           Napi::Object decoderObject, AVPacket* packet)
    : PromiseWorker(env, name, decoderObject, Napi::Value()),
      decoder_(decoder),
      session_(decoder->session()),
      packet_(packet) {}

DecodeWorker::~DecodeWorker() { av_packet_free(&packet_); }

void DecodeWorker::Execute() {
  std::string error;
  if (!session_->Decode(packet_, &pictures_, &error)) Fail("DecoderError", error);
}

void DecodeWorker::Settle() { decoder_->Settled(); }

Napi::Value DecodeWorker::Result(Napi::Env env) {
  Napi::Array out = Napi::Array::New(env, pictures_.size());
  for (size_t i = 0; i < pictures_.size(); i++) {
    DecodedPicture& p = pictures_[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("width", p.width);
    o.Set("height", p.height);
    o.Set("keyframe", p.keyframe);
    o.Set("ptsUs", static_cast<double>(p.ptsUs));
    o.Set("colorSpace", p.colorSpace);
    o.Set("colorRange", p.colorRange);
    o.Set("colorPrimaries", p.colorPrimaries);
    o.Set("colorTransfer", p.colorTransfer);
    o.Set("data", Napi::Buffer<uint8_t>::New(env, p.pixels.release(), p.size,
                                             [](Napi::Env, uint8_t* data) { delete[] data; }));
    out.Set(static_cast<uint32_t>(i), o);
  }
  return out;
}
