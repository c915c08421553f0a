#include "encoder-options.h"

#include <algorithm>
#include <cmath>
#include <thread>

namespace {

constexpr int kMaxDimension = 8192;
constexpr int kMaxAutoThreads = 4;

bool Has(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  return !v.IsUndefined() && !v.IsNull();
}

double Number(Napi::Env env, const Napi::Object& o, const char* key, double min, double max,
              bool integer) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) {
    throw Napi::TypeError::New(env, std::string("H264Encoder: ") + key + " must be a number");
  }
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d < min || d > max || (integer && std::floor(d) != d)) {
    throw Napi::TypeError::New(env, std::string("H264Encoder: ") + key + " must be " +
                                        (integer ? "an integer" : "a number") + " in [" +
                                        std::to_string(static_cast<int64_t>(min)) + ", " +
                                        std::to_string(static_cast<int64_t>(max)) + "], got " +
                                        v.ToString().Utf8Value());
  }
  return d;
}

std::string OneOf(Napi::Env env, const Napi::Object& o, const char* key,
                  std::initializer_list<const char*> allowed) {
  Napi::Value v = o.Get(key);
  std::string list;
  for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
  if (v.IsString()) {
    const std::string s = v.As<Napi::String>().Utf8Value();
    for (const char* a : allowed) {
      if (s == a) return s;
    }
  }
  throw Napi::TypeError::New(env, std::string("H264Encoder: ") + key + " must be one of " + list +
                                      ", got " + v.ToString().Utf8Value());
}

}  // namespace

EncoderOptions EncoderOptions::FromJs(Napi::Env env, const Napi::Value& value) {
  if (!value.IsObject()) throw Napi::TypeError::New(env, "H264Encoder: options must be an object");
  const Napi::Object o = value.As<Napi::Object>();
  EncoderOptions opts;
  opts.width = static_cast<int>(Number(env, o, "width", 1, kMaxDimension, true));
  opts.height = static_cast<int>(Number(env, o, "height", 1, kMaxDimension, true));
  opts.outputWidth = Has(o, "outputWidth")
                         ? static_cast<int>(Number(env, o, "outputWidth", 1, kMaxDimension, true))
                         : opts.width;
  opts.outputHeight = Has(o, "outputHeight")
                          ? static_cast<int>(Number(env, o, "outputHeight", 1, kMaxDimension, true))
                          : opts.height;
  opts.fps = Number(env, o, "fps", 1, 240, false);
  // x264 takes kbit/s in an int; 10 kbit/s is already useless, 1 Gbit/s absurd.
  opts.bitrateBps = static_cast<int64_t>(Number(env, o, "bitrateBps", 10000, 1e9, true));
  if (Has(o, "codec")) {
    const std::string codec = OneOf(env, o, "codec", {"libx264", "h264_vaapi", "h264_nvenc", "auto"});
    opts.codec = codec == "h264_vaapi"   ? CodecChoice::kVaapi
                 : codec == "h264_nvenc" ? CodecChoice::kNvenc
                 : codec == "auto"       ? CodecChoice::kAuto
                                         : CodecChoice::kLibx264;
  }
  if (Has(o, "profile")) opts.profile = OneOf(env, o, "profile", {"constrained_baseline", "main", "high"});
  opts.keyintMax = Has(o, "keyintMax") ? static_cast<int>(Number(env, o, "keyintMax", 1, 100000, true))
                                       : static_cast<int>(std::lround(opts.fps * 10));
  if (Has(o, "threads")) opts.threads = static_cast<int>(Number(env, o, "threads", 0, 16, true));
  if (Has(o, "preset")) {
    opts.preset = OneOf(env, o, "preset",
                        {"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                         "slower", "veryslow"});
  }
  if (Has(o, "vaapiDevice")) {
    Napi::Value v = o.Get("vaapiDevice");
    if (!v.IsString()) throw Napi::TypeError::New(env, "H264Encoder: vaapiDevice must be a string");
    opts.vaapiDevice = v.As<Napi::String>().Utf8Value();
  }
  if (Has(o, "vbvBufferFrames")) opts.vbvBufferFrames = Number(env, o, "vbvBufferFrames", 0.5, 60, false);
  return opts;
}

int EncoderOptions::ResolvedThreads() const {
  if (threads > 0) return threads;
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  return std::clamp(cores, 1, kMaxAutoThreads);
}

int64_t EncoderOptions::VbvBufferBits(int64_t bitrateBps, double fps, double frames) {
  return static_cast<int64_t>(std::llround(static_cast<double>(bitrateBps) / fps * frames));
}
