#include "native-error.h"

#include <EGL/egl.h>
#include <EGL/eglext.h>
#include <GLES3/gl3.h>

#include <cstdio>

std::string NativeError::Hex(uint64_t value) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(value));
  return buf;
}

std::string NativeError::EglErrorName(int32_t code) {
  switch (code) {
    case EGL_SUCCESS: return "EGL_SUCCESS";
    case EGL_NOT_INITIALIZED: return "EGL_NOT_INITIALIZED";
    case EGL_BAD_ACCESS: return "EGL_BAD_ACCESS";
    case EGL_BAD_ALLOC: return "EGL_BAD_ALLOC";
    case EGL_BAD_ATTRIBUTE: return "EGL_BAD_ATTRIBUTE";
    case EGL_BAD_CONFIG: return "EGL_BAD_CONFIG";
    case EGL_BAD_CONTEXT: return "EGL_BAD_CONTEXT";
    case EGL_BAD_CURRENT_SURFACE: return "EGL_BAD_CURRENT_SURFACE";
    case EGL_BAD_DISPLAY: return "EGL_BAD_DISPLAY";
    case EGL_BAD_MATCH: return "EGL_BAD_MATCH";
    case EGL_BAD_NATIVE_PIXMAP: return "EGL_BAD_NATIVE_PIXMAP";
    case EGL_BAD_NATIVE_WINDOW: return "EGL_BAD_NATIVE_WINDOW";
    case EGL_BAD_PARAMETER: return "EGL_BAD_PARAMETER";
    case EGL_BAD_SURFACE: return "EGL_BAD_SURFACE";
    case EGL_CONTEXT_LOST: return "EGL_CONTEXT_LOST";
    case EGL_BAD_DEVICE_EXT: return "EGL_BAD_DEVICE_EXT";
    default: return "EGL_ERROR_" + Hex(static_cast<uint32_t>(code));
  }
}

std::string NativeError::GlErrorName(uint32_t code) {
  switch (code) {
    case GL_NO_ERROR: return "GL_NO_ERROR";
    case GL_INVALID_ENUM: return "GL_INVALID_ENUM";
    case GL_INVALID_VALUE: return "GL_INVALID_VALUE";
    case GL_INVALID_OPERATION: return "GL_INVALID_OPERATION";
    case GL_OUT_OF_MEMORY: return "GL_OUT_OF_MEMORY";
    case GL_INVALID_FRAMEBUFFER_OPERATION: return "GL_INVALID_FRAMEBUFFER_OPERATION";
    case 0x0503: return "GL_STACK_OVERFLOW";
    case 0x0504: return "GL_STACK_UNDERFLOW";
    case 0x0507: return "GL_CONTEXT_LOST";
    case GL_FRAMEBUFFER_INCOMPLETE_ATTACHMENT: return "GL_FRAMEBUFFER_INCOMPLETE_ATTACHMENT";
    case GL_FRAMEBUFFER_INCOMPLETE_MISSING_ATTACHMENT:
      return "GL_FRAMEBUFFER_INCOMPLETE_MISSING_ATTACHMENT";
    case GL_FRAMEBUFFER_INCOMPLETE_DIMENSIONS: return "GL_FRAMEBUFFER_INCOMPLETE_DIMENSIONS";
    case GL_FRAMEBUFFER_UNSUPPORTED: return "GL_FRAMEBUFFER_UNSUPPORTED";
    case GL_FRAMEBUFFER_INCOMPLETE_MULTISAMPLE: return "GL_FRAMEBUFFER_INCOMPLETE_MULTISAMPLE";
    default: return "GL_ERROR_" + Hex(code);
  }
}

NativeError NativeError::Egl(const std::string& call, int32_t eglError, const std::string& detail) {
  std::string name = EglErrorName(eglError);
  std::string message = call + " failed: " + name + " (" + Hex(static_cast<uint32_t>(eglError)) + ")";
  if (!detail.empty()) message += ": " + detail;
  return NativeError(Kind::kError, "EglError", message, name);
}

NativeError NativeError::Gl(const std::string& call, uint32_t glError, const std::string& detail) {
  std::string name = GlErrorName(glError);
  std::string message = call + " failed: " + name + " (" + Hex(glError) + ")";
  if (!detail.empty()) message += ": " + detail;
  return NativeError(Kind::kError, "GlError", message, name);
}

NativeError NativeError::Dmabuf(const std::string& message) {
  return NativeError(Kind::kError, "DmabufError", message, "");
}

NativeError NativeError::Unsupported(const std::string& name, const std::string& message) {
  return NativeError(Kind::kError, name, message, "ERR_UNSUPPORTED");
}

