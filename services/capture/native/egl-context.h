// An EGL display (surfaceless platform, or the EGL device of a DRM node) and a GLES context made
// current on the calling thread. Every method runs on the importer's GL thread only.
#pragma once

#include <EGL/egl.h>
#include <EGL/eglext.h>
#include <GLES2/gl2.h>
#include <GLES2/gl2ext.h>

#include <cstdint>
#include <string>
#include <vector>

struct DmabufModifier {
  uint64_t modifier;
  bool externalOnly;
};

struct DmabufFormatInfo {
  uint32_t fourcc;
  std::vector<DmabufModifier> modifiers;
};

struct EglInfo {
  std::string platform;  // "surfaceless" or "device"
  std::string device;    // the DRM node asked for, empty on the surfaceless platform
  std::string eglVendor;
  std::string eglVersion;
  std::string eglClientApis;
  std::vector<std::string> eglExtensions;
  std::string vendor;
  std::string renderer;
  std::string version;
  std::string shadingLanguageVersion;
  std::vector<std::string> extensions;
  int glesMajor = 0;
  bool readBgra = false;
  int maxTextureSize = 0;
  bool modifiersSupported = false;
  std::vector<DmabufFormatInfo> formats;
};

class EglContext {
 public:
  EglContext() = default;
  ~EglContext();
  EglContext(const EglContext&) = delete;
  EglContext& operator=(const EglContext&) = delete;

  // Opens the display and makes a GLES 3 (else 2) context current. Throws napi_kit::Fault (NativeError for EGL/GL failures).
  void Open(const std::string& device);
  // Releases the context and the display (the display is terminated with its last user). Safe twice.
  void Close();

  const EglInfo& info() const { return info_; }
  EGLDisplay display() const { return display_; }

  // Extension entry points, loaded by Open().
  PFNEGLCREATEIMAGEKHRPROC createImage = nullptr;
  PFNEGLDESTROYIMAGEKHRPROC destroyImage = nullptr;
  PFNGLEGLIMAGETARGETTEXTURE2DOESPROC imageTargetTexture2D = nullptr;
  PFNGLEGLIMAGETARGETRENDERBUFFERSTORAGEOESPROC imageTargetRenderbufferStorage = nullptr;

  // Throws NativeError::Egl for the current EGL error, with the last EGL_KHR_debug message.
  [[noreturn]] static void ThrowEglError(const std::string& call);
  // Clears the last EGL_KHR_debug message of this thread (call before an EGL call that may fail).
  static void ClearDebugMessage();

 private:
  EGLDisplay GetDeviceDisplay(const std::string& device);
  void CreateContext();
  void QueryFormats();

  EGLDisplay display_ = EGL_NO_DISPLAY;
  bool displayHeld_ = false;
  EGLContext context_ = EGL_NO_CONTEXT;
  EGLSurface surface_ = EGL_NO_SURFACE;
  EglInfo info_;
};
