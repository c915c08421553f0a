// The capture addon's own failures, in the native kit's vocabulary (napi_kit::Fault: plain C++,
// safe on the GL thread, turned into a JS error on the JS thread): EGL and GL calls that failed,
// buffers that cannot be imported, missing extensions. Argument and system errors are the kit's.
#pragma once

#include <napi.h>
#include <qemu_webrtc/napi_kit.h>

#include <cstdint>
#include <string>

class NativeError : public napi_kit::Fault {
 public:
  using napi_kit::Fault::Fault;

  // An EGL call failed: name 'EglError', code the EGL error's name (EGL_BAD_MATCH ...).
  static NativeError Egl(const std::string& call, int32_t eglError, const std::string& detail = "");
  // A GL call failed: name 'GlError', code the GL error's name (GL_INVALID_OPERATION ...).
  static NativeError Gl(const std::string& call, uint32_t glError, const std::string& detail = "");
  // The buffer handed over cannot be imported as described (bad fd, too small ...).
  static NativeError Dmabuf(const std::string& message);
  // A needed extension is missing: code 'ERR_UNSUPPORTED'.
  static NativeError Unsupported(const std::string& name, const std::string& message);

  static std::string EglErrorName(int32_t code);
  static std::string GlErrorName(uint32_t code);
  static std::string Hex(uint64_t value);
};
