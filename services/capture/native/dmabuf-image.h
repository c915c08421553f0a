// One imported DMA-BUF: an EGLImage bound to a texture (or renderbuffer) attached to a
// framebuffer, so glReadPixels can read it back. GL thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "egl-context.h"

struct DmabufPlane {
  int fd;  // owned: the importer's own dup()
  uint32_t offset;
  uint32_t stride;
};

struct DmabufDesc {
  uint32_t width = 0;
  uint32_t height = 0;
  uint32_t fourcc = 0;
  uint64_t modifier = 0;
  std::vector<DmabufPlane> planes;
};

struct ReadRequest {
  uint32_t x = 0;  // top-down coordinates of the final image
  uint32_t y = 0;
  uint32_t width = 0;
  uint32_t height = 0;
  uint8_t* target = nullptr;  // first byte of the first output row
  size_t targetStride = 0;
  bool yFlip = false;  // the buffer's row 0 is the bottom of the image
};

class DmabufImage {
 public:
  // Imports the buffer; takes ownership of the planes' fds (closed on failure too). Throws napi_kit::Fault (NativeError for EGL/GL failures).
  static std::unique_ptr<DmabufImage> Import(EglContext& context, DmabufDesc desc);
  ~DmabufImage();
  DmabufImage(const DmabufImage&) = delete;
  DmabufImage& operator=(const DmabufImage&) = delete;

  // Writes the rectangle as top-down BGRA rows. The caller checked every bound. Throws napi_kit::Fault (NativeError for EGL/GL failures).
  void ReadPixels(const ReadRequest& request, std::vector<uint8_t>& scratch);

  uint32_t width() const { return desc_.width; }
  uint32_t height() const { return desc_.height; }

 private:
  DmabufImage(EglContext& context, DmabufDesc desc);
  void CheckPlanes() const;
  void CreateImage();
  void AttachToFramebuffer();

  EglContext& context_;
  DmabufDesc desc_;
  EGLImageKHR image_ = EGL_NO_IMAGE_KHR;
  GLuint texture_ = 0;
  GLuint renderbuffer_ = 0;
  GLuint framebuffer_ = 0;
};
