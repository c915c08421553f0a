#include "encoder-options.h"

#include <qemu_webrtc/napi_kit.h>

#include <algorithm>
#include <cmath>
#include <thread>

namespace {

using napi_kit::Fault;

constexpr int kMaxDimension = 8192;
constexpr int kMaxAutoThreads = 4;

bool Has(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  return !v.IsUndefined() && !v.IsNull();
}

std::string What(const char* key) { return std::string("H264Encoder: ") + key; }

int Int(const Napi::Object& o, const char* key, double min, double max) {
  return static_cast<int>(napi_kit::ReadInteger(o.Get(key), What(key), min, max));
}

std::string OneOf(const Napi::Object& o, const char* key, std::initializer_list<const char*> allowed) {
  const std::string s = napi_kit::ReadString(o.Get(key), What(key));
  std::string list;
  for (const char* a : allowed) {
    if (s == a) return s;
    list += (list.empty() ? "" : ", ") + std::string(a);
  }
  throw Fault::ArgValue(What(key) + " must be one of " + list + " (got '" + s + "')");
}

}  // namespace

// src/native.ts checks the options first with clear messages; these reads keep the sizes the
// session allocates for within bounds, and turn names into enums.
EncoderOptions EncoderOptions::FromJs(const Napi::Value& value) {
  const Napi::Object o = napi_kit::ReadObject(value, "H264Encoder: options");
  EncoderOptions opts;
  opts.width = Int(o, "width", 1, kMaxDimension);
  opts.height = Int(o, "height", 1, kMaxDimension);
  opts.outputWidth = Has(o, "outputWidth") ? Int(o, "outputWidth", 1, kMaxDimension) : opts.width;
  opts.outputHeight = Has(o, "outputHeight") ? Int(o, "outputHeight", 1, kMaxDimension) : opts.height;
  opts.fps = napi_kit::ReadNumber(o.Get("fps"), What("fps"), 1, 240);
  // x264 takes kbit/s in an int; 10 kbit/s is already useless, 1 Gbit/s absurd.
  opts.bitrateBps = static_cast<int64_t>(napi_kit::ReadInteger(o.Get("bitrateBps"), What("bitrateBps"), 10000, 1e9));
  if (Has(o, "codec")) {
    const std::string codec = OneOf(o, "codec", {"libx264", "h264_vaapi", "h264_nvenc", "auto"});
    opts.codec = codec == "h264_vaapi"   ? CodecChoice::kVaapi
                 : codec == "h264_nvenc" ? CodecChoice::kNvenc
                 : codec == "auto"       ? CodecChoice::kAuto
                                         : CodecChoice::kLibx264;
  }
  if (Has(o, "profile")) opts.profile = OneOf(o, "profile", {"constrained_baseline", "main", "high"});
  opts.keyintMax = Has(o, "keyintMax") ? Int(o, "keyintMax", 1, 100000) : static_cast<int>(std::lround(opts.fps * 10));
  if (Has(o, "threads")) opts.threads = Int(o, "threads", 0, 16);
  if (Has(o, "preset")) {
    opts.preset = OneOf(o, "preset",
                        {"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"});
  }
  if (Has(o, "vaapiDevice")) opts.vaapiDevice = napi_kit::ReadString(o.Get("vaapiDevice"), What("vaapiDevice"));
  if (Has(o, "vbvBufferFrames")) {
    opts.vbvBufferFrames = napi_kit::ReadNumber(o.Get("vbvBufferFrames"), What("vbvBufferFrames"), 0.5, 60);
  }
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
