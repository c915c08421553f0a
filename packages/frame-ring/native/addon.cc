// @qemu-webrtc/frame-ring native addon: shared-memory mappings and row copies. Each concern lives
// in its own file; this one only registers the functions. C++ exceptions are enabled
// (NAPI_CPP_EXCEPTIONS): argument and system errors are thrown as Napi::Error and reach JS.
#include <napi.h>

#include "copy-rows.h"
#include "mapping.h"

namespace frame_ring {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("mapFile", Napi::Function::New(env, MapFile, "mapFile"));
  exports.Set("mapFd", Napi::Function::New(env, MapFd, "mapFd"));
  exports.Set("releaseMapping", Napi::Function::New(env, ReleaseMapping, "releaseMapping"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
  exports.Set("copyRows", Napi::Function::New(env, CopyRows, "copyRows"));
  return exports;
}

}  // namespace frame_ring

static Napi::Object InitFrameRing(Napi::Env env, Napi::Object exports) {
  return frame_ring::Init(env, exports);
}

NODE_API_MODULE(frame_ring, InitFrameRing)
