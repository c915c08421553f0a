// @qemu-webrtc/frame-ring native addon: shared-memory mappings and row copies. Each concern lives
// in its own file; this one only registers the functions. C++ exceptions are enabled
// (NAPI_CPP_EXCEPTIONS): argument and system errors are thrown as napi_kit::Fault, which
// napi_kit::Guarded turns into the JS error.
#include <napi.h>
#include <qemu_webrtc/napi_kit.h>

#include "copy-rows.h"
#include "mapping.h"

namespace frame_ring {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("mapFile", Napi::Function::New<napi_kit::Guarded<MapFile>>(env, "mapFile"));
  exports.Set("mapFd", Napi::Function::New<napi_kit::Guarded<MapFd>>(env, "mapFd"));
  exports.Set("releaseMapping", Napi::Function::New<napi_kit::Guarded<ReleaseMapping>>(env, "releaseMapping"));
  exports.Set("closeFd", Napi::Function::New<napi_kit::Guarded<CloseFd>>(env, "closeFd"));
  exports.Set("copyRows", Napi::Function::New<napi_kit::Guarded<CopyRows>>(env, "copyRows"));
  return exports;
}

}  // namespace frame_ring

static Napi::Object InitFrameRing(Napi::Env env, Napi::Object exports) {
  return frame_ring::Init(env, exports);
}

NODE_API_MODULE(frame_ring, InitFrameRing)
