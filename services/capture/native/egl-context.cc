#include "egl-context.h"

#include <GLES3/gl3.h>
#include <limits.h>
#include <stdlib.h>

#include <map>
#include <mutex>
#include <sstream>

#include "drm-format.h"
#include "native-error.h"

namespace {

// The last EGL_KHR_debug message of this thread ("eglCreateImageKHR: invalid fd").
thread_local std::string lastDebugMessage;

void EGLAPIENTRY OnEglDebug(EGLenum, const char* command, EGLint, EGLLabelKHR, EGLLabelKHR,
                            const char* message) {
  lastDebugMessage.clear();
  if (command != nullptr) lastDebugMessage += command;
  if (message != nullptr && *message != '\0') {
    if (!lastDebugMessage.empty()) lastDebugMessage += ": ";
    lastDebugMessage += message;
  }
}

// eglGetPlatformDisplay returns one EGLDisplay per platform and device for the whole process, and
// eglTerminate ends it for every thread: count the importers using each display.
std::mutex displaysMutex;
std::map<EGLDisplay, int> displayUsers;

std::vector<std::string> SplitWords(const char* text) {
  std::vector<std::string> words;
  if (text == nullptr) return words;
  std::istringstream stream(text);
  std::string word;
  while (stream >> word) words.push_back(word);
  return words;
}

bool Contains(const std::vector<std::string>& list, const char* word) {
  for (const std::string& item : list) {
    if (item == word) return true;
  }
  return false;
}

std::string GlString(GLenum name) {
  const GLubyte* value = glGetString(name);
  return value != nullptr ? reinterpret_cast<const char*>(value) : "";
}

template <typename T>
T Proc(const char* name) {
  return reinterpret_cast<T>(eglGetProcAddress(name));
}

std::string RealPath(const std::string& path) {
  char resolved[PATH_MAX];
  return realpath(path.c_str(), resolved) != nullptr ? resolved : path;
}

void InstallDebugCallback(const std::vector<std::string>& clientExtensions) {
  static std::once_flag once;
  if (!Contains(clientExtensions, "EGL_KHR_debug")) return;
  std::call_once(once, [] {
    auto control = Proc<PFNEGLDEBUGMESSAGECONTROLKHRPROC>("eglDebugMessageControlKHR");
    if (control == nullptr) return;
    const EGLAttrib attribs[] = {EGL_DEBUG_MSG_CRITICAL_KHR, EGL_TRUE, EGL_DEBUG_MSG_ERROR_KHR,
                                 EGL_TRUE, EGL_NONE};
    control(OnEglDebug, attribs);
  });
}

}  // namespace

EglContext::~EglContext() { Close(); }

void EglContext::ClearDebugMessage() { lastDebugMessage.clear(); }

void EglContext::ThrowEglError(const std::string& call) {
  EGLint error = eglGetError();
  std::string detail = lastDebugMessage;
  lastDebugMessage.clear();
  throw NativeError::Egl(call, error, detail);
}

void EglContext::Open(const std::string& device) {
  std::vector<std::string> clientExtensions =
      SplitWords(eglQueryString(EGL_NO_DISPLAY, EGL_EXTENSIONS));
  InstallDebugCallback(clientExtensions);
  if (!Contains(clientExtensions, "EGL_EXT_platform_base")) {
    throw NativeError::Unsupported("EglError", "the EGL client lacks EGL_EXT_platform_base");
  }
  auto getPlatformDisplay = Proc<PFNEGLGETPLATFORMDISPLAYEXTPROC>("eglGetPlatformDisplayEXT");
  ClearDebugMessage();
  if (device.empty()) {
    if (!Contains(clientExtensions, "EGL_MESA_platform_surfaceless")) {
      throw NativeError::Unsupported("EglError", "the EGL client lacks EGL_MESA_platform_surfaceless");
    }
    info_.platform = "surfaceless";
    display_ = getPlatformDisplay(EGL_PLATFORM_SURFACELESS_MESA, EGL_DEFAULT_DISPLAY, nullptr);
    if (display_ == EGL_NO_DISPLAY) ThrowEglError("eglGetPlatformDisplayEXT(EGL_PLATFORM_SURFACELESS_MESA)");
  } else {
    if (!Contains(clientExtensions, "EGL_EXT_platform_device") ||
        !Contains(clientExtensions, "EGL_EXT_device_enumeration")) {
      throw NativeError::Unsupported(
          "EglError", "the EGL client lacks EGL_EXT_platform_device or EGL_EXT_device_enumeration");
    }
    info_.platform = "device";
    info_.device = device;
    display_ = GetDeviceDisplay(device);
  }

  {
    std::lock_guard<std::mutex> lock(displaysMutex);
    EGLint major = 0;
    EGLint minor = 0;
    ClearDebugMessage();
    if (!eglInitialize(display_, &major, &minor)) ThrowEglError("eglInitialize");
    displayUsers[display_]++;
    displayHeld_ = true;
  }

  info_.eglVendor = eglQueryString(display_, EGL_VENDOR);
  info_.eglVersion = eglQueryString(display_, EGL_VERSION);
  const char* apis = eglQueryString(display_, EGL_CLIENT_APIS);
  info_.eglClientApis = apis != nullptr ? apis : "";
  info_.eglExtensions = SplitWords(eglQueryString(display_, EGL_EXTENSIONS));
  for (const char* required : {"EGL_KHR_image_base", "EGL_EXT_image_dma_buf_import"}) {
    if (!Contains(info_.eglExtensions, required)) {
      throw NativeError::Unsupported("EglError", std::string("the EGL display lacks ") + required +
                                                     " (" + info_.eglVendor + " " + info_.eglVersion + ")");
    }
  }
  info_.modifiersSupported = Contains(info_.eglExtensions, "EGL_EXT_image_dma_buf_import_modifiers");

  CreateContext();

  createImage = Proc<PFNEGLCREATEIMAGEKHRPROC>("eglCreateImageKHR");
  destroyImage = Proc<PFNEGLDESTROYIMAGEKHRPROC>("eglDestroyImageKHR");
  imageTargetTexture2D = Proc<PFNGLEGLIMAGETARGETTEXTURE2DOESPROC>("glEGLImageTargetTexture2DOES");
  imageTargetRenderbufferStorage =
      Proc<PFNGLEGLIMAGETARGETRENDERBUFFERSTORAGEOESPROC>("glEGLImageTargetRenderbufferStorageOES");

  info_.vendor = GlString(GL_VENDOR);
  info_.renderer = GlString(GL_RENDERER);
  info_.version = GlString(GL_VERSION);
  info_.shadingLanguageVersion = GlString(GL_SHADING_LANGUAGE_VERSION);
  info_.extensions = SplitWords(reinterpret_cast<const char*>(glGetString(GL_EXTENSIONS)));
  info_.readBgra = Contains(info_.extensions, "GL_EXT_read_format_bgra");
  GLint maxTextureSize = 0;
  glGetIntegerv(GL_MAX_TEXTURE_SIZE, &maxTextureSize);
  info_.maxTextureSize = maxTextureSize;
  if (!Contains(info_.extensions, "GL_OES_EGL_image") || createImage == nullptr ||
      destroyImage == nullptr || imageTargetTexture2D == nullptr) {
    throw NativeError::Unsupported("GlError", "the GLES context lacks GL_OES_EGL_image (" + info_.renderer + ")");
  }
  QueryFormats();
  while (glGetError() != GL_NO_ERROR) {
  }
}

EGLDisplay EglContext::GetDeviceDisplay(const std::string& device) {
  auto queryDevices = Proc<PFNEGLQUERYDEVICESEXTPROC>("eglQueryDevicesEXT");
  auto queryDeviceString = Proc<PFNEGLQUERYDEVICESTRINGEXTPROC>("eglQueryDeviceStringEXT");
  auto getPlatformDisplay = Proc<PFNEGLGETPLATFORMDISPLAYEXTPROC>("eglGetPlatformDisplayEXT");
  EGLint count = 0;
  ClearDebugMessage();
  if (!queryDevices(0, nullptr, &count)) ThrowEglError("eglQueryDevicesEXT");
  std::vector<EGLDeviceEXT> devices(count);
  if (count > 0 && !queryDevices(count, devices.data(), &count)) ThrowEglError("eglQueryDevicesEXT");
  devices.resize(count);

  std::string wanted = RealPath(device);
  std::string seen;
  for (EGLDeviceEXT candidate : devices) {
    std::vector<std::string> extensions = SplitWords(queryDeviceString(candidate, EGL_EXTENSIONS));
    std::vector<EGLint> names;
    if (Contains(extensions, "EGL_EXT_device_drm_render_node")) names.push_back(EGL_DRM_RENDER_NODE_FILE_EXT);
    if (Contains(extensions, "EGL_EXT_device_drm")) names.push_back(EGL_DRM_DEVICE_FILE_EXT);
    for (EGLint name : names) {
      const char* file = queryDeviceString(candidate, name);
      if (file == nullptr) continue;
      if (seen.find(file) == std::string::npos) seen += std::string(seen.empty() ? "" : ", ") + file;
      if (file == device || RealPath(file) == wanted) {
        EGLDisplay display = getPlatformDisplay(EGL_PLATFORM_DEVICE_EXT, candidate, nullptr);
        if (display == EGL_NO_DISPLAY) ThrowEglError("eglGetPlatformDisplayEXT(EGL_PLATFORM_DEVICE_EXT)");
        return display;
      }
    }
  }
  throw NativeError::Egl("eglQueryDevicesEXT", EGL_BAD_DEVICE_EXT,
                         "no EGL device for " + device + " (EGL devices with DRM nodes: " +
                             (seen.empty() ? "none" : seen) + ")");
}

void EglContext::CreateContext() {
  ClearDebugMessage();
  if (!eglBindAPI(EGL_OPENGL_ES_API)) ThrowEglError("eglBindAPI(EGL_OPENGL_ES_API)");
  bool noConfig = Contains(info_.eglExtensions, "EGL_KHR_no_config_context");
  bool surfaceless = Contains(info_.eglExtensions, "EGL_KHR_surfaceless_context");
  EGLConfig config = EGL_NO_CONFIG_KHR;
  if (!noConfig || !surfaceless) {
    const EGLint configAttribs[] = {EGL_RENDERABLE_TYPE, EGL_OPENGL_ES2_BIT, EGL_SURFACE_TYPE,
                                    surfaceless ? 0 : EGL_PBUFFER_BIT, EGL_NONE};
    EGLint count = 0;
    if (!eglChooseConfig(display_, configAttribs, &config, 1, &count)) ThrowEglError("eglChooseConfig");
    if (count == 0) throw NativeError::Egl("eglChooseConfig", EGL_BAD_CONFIG, "no GLES config");
  }
  const EGLint es3[] = {EGL_CONTEXT_MAJOR_VERSION, 3, EGL_NONE};
  const EGLint es2[] = {EGL_CONTEXT_CLIENT_VERSION, 2, EGL_NONE};
  context_ = eglCreateContext(display_, config, EGL_NO_CONTEXT, es3);
  info_.glesMajor = 3;
  if (context_ == EGL_NO_CONTEXT) {
    ClearDebugMessage();
    context_ = eglCreateContext(display_, config, EGL_NO_CONTEXT, es2);
    info_.glesMajor = 2;
    if (context_ == EGL_NO_CONTEXT) ThrowEglError("eglCreateContext(GLES 2)");
  }
  if (!surfaceless) {
    const EGLint pbufferAttribs[] = {EGL_WIDTH, 1, EGL_HEIGHT, 1, EGL_NONE};
    surface_ = eglCreatePbufferSurface(display_, config, pbufferAttribs);
    if (surface_ == EGL_NO_SURFACE) ThrowEglError("eglCreatePbufferSurface");
  }
  if (!eglMakeCurrent(display_, surface_, surface_, context_)) ThrowEglError("eglMakeCurrent");
}

void EglContext::QueryFormats() {
  if (!info_.modifiersSupported) return;
  auto queryFormats = Proc<PFNEGLQUERYDMABUFFORMATSEXTPROC>("eglQueryDmaBufFormatsEXT");
  auto queryModifiers = Proc<PFNEGLQUERYDMABUFMODIFIERSEXTPROC>("eglQueryDmaBufModifiersEXT");
  if (queryFormats == nullptr || queryModifiers == nullptr) return;
  EGLint count = 0;
  if (!queryFormats(display_, 0, nullptr, &count) || count <= 0) return;
  std::vector<EGLint> fourccs(count);
  if (!queryFormats(display_, count, fourccs.data(), &count)) return;
  fourccs.resize(count);
  for (EGLint fourcc : fourccs) {
    DmabufFormatInfo format{static_cast<uint32_t>(fourcc), {}};
    EGLint modifierCount = 0;
    if (queryModifiers(display_, fourcc, 0, nullptr, nullptr, &modifierCount) && modifierCount > 0) {
      std::vector<EGLuint64KHR> modifiers(modifierCount);
      std::vector<EGLBoolean> externalOnly(modifierCount);
      if (queryModifiers(display_, fourcc, modifierCount, modifiers.data(), externalOnly.data(),
                         &modifierCount)) {
        for (EGLint i = 0; i < modifierCount; i++) {
          format.modifiers.push_back({modifiers[i], externalOnly[i] == EGL_TRUE});
        }
      }
    }
    info_.formats.push_back(std::move(format));
  }
  ClearDebugMessage();
  eglGetError();
}

void EglContext::Close() {
  if (display_ == EGL_NO_DISPLAY) return;
  eglMakeCurrent(display_, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT);
  if (surface_ != EGL_NO_SURFACE) eglDestroySurface(display_, surface_);
  if (context_ != EGL_NO_CONTEXT) eglDestroyContext(display_, context_);
  surface_ = EGL_NO_SURFACE;
  context_ = EGL_NO_CONTEXT;
  if (displayHeld_) {
    std::lock_guard<std::mutex> lock(displaysMutex);
    if (--displayUsers[display_] == 0) {
      displayUsers.erase(display_);
      eglTerminate(display_);
    }
    displayHeld_ = false;
  }
  display_ = EGL_NO_DISPLAY;
  eglReleaseThread();
  ClearDebugMessage();
}
