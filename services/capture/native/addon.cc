// The capture service's native addon: socket pairs and memfds for talking to QEMU, and EGL
// DMA-BUF import for gl=on consoles. Native code never prints; errors go back as JS errors.
#include <napi.h>

#include "egl-importer.h"
#include "fd-functions.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  FdFunctions::Init(env, exports);
  EglImporter::Init(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(capture, Init)
