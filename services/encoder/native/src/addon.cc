// The encoder service's native addon: H264Encoder, H264Decoder, OpusEncoder, FFmpeg log routing, versions.
#include <napi.h>

#include "ff-log.h"
#include "h264-decoder.h"
#include "h264-encoder.h"
#include "opus-encoder.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/avutil.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>
}

namespace {

std::string Version(unsigned v) {
  return std::to_string(AV_VERSION_MAJOR(v)) + "." + std::to_string(AV_VERSION_MINOR(v)) + "." +
         std::to_string(AV_VERSION_MICRO(v));
}

Napi::Value Versions(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("ffmpeg", av_version_info());
  o.Set("avcodec", Version(avcodec_version()));
  o.Set("avutil", Version(avutil_version()));
  o.Set("swscale", Version(swscale_version()));
  o.Set("swresample", Version(swresample_version()));
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  FfLog::Init(env, exports);
  H264Encoder::Init(env, exports);
  H264Decoder::Init(env, exports);
  OpusEncoder::Init(env, exports);
  exports.Set("versions", Napi::Function::New(env, Versions, "versions"));
  return exports;
}

}  // namespace

NODE_API_MODULE(encoder, Init)
