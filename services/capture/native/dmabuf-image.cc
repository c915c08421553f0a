#include "dmabuf-image.h"

#include <GLES3/gl3.h>
#include <drm_fourcc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "drm-format.h"
#include "native-error.h"

namespace {

const EGLint kPlaneFd[] = {EGL_DMA_BUF_PLANE0_FD_EXT, EGL_DMA_BUF_PLANE1_FD_EXT,
                           EGL_DMA_BUF_PLANE2_FD_EXT, EGL_DMA_BUF_PLANE3_FD_EXT};
const EGLint kPlaneOffset[] = {EGL_DMA_BUF_PLANE0_OFFSET_EXT, EGL_DMA_BUF_PLANE1_OFFSET_EXT,
                               EGL_DMA_BUF_PLANE2_OFFSET_EXT, EGL_DMA_BUF_PLANE3_OFFSET_EXT};
const EGLint kPlanePitch[] = {EGL_DMA_BUF_PLANE0_PITCH_EXT, EGL_DMA_BUF_PLANE1_PITCH_EXT,
                              EGL_DMA_BUF_PLANE2_PITCH_EXT, EGL_DMA_BUF_PLANE3_PITCH_EXT};
const EGLint kPlaneModifierLo[] = {
    EGL_DMA_BUF_PLANE0_MODIFIER_LO_EXT, EGL_DMA_BUF_PLANE1_MODIFIER_LO_EXT,
    EGL_DMA_BUF_PLANE2_MODIFIER_LO_EXT, EGL_DMA_BUF_PLANE3_MODIFIER_LO_EXT};
const EGLint kPlaneModifierHi[] = {
    EGL_DMA_BUF_PLANE0_MODIFIER_HI_EXT, EGL_DMA_BUF_PLANE1_MODIFIER_HI_EXT,
    EGL_DMA_BUF_PLANE2_MODIFIER_HI_EXT, EGL_DMA_BUF_PLANE3_MODIFIER_HI_EXT};

void CheckGl(const char* call) {
  GLenum error = glGetError();
  if (error != GL_NO_ERROR) {
    while (glGetError() != GL_NO_ERROR) {
    }
    throw NativeError::Gl(call, error);
  }
}

// The buffer's size: st_size for a memfd or file, lseek(SEEK_END) for a DMA-BUF.
int64_t BufferSize(int fd, size_t plane) {
  struct stat st;
  if (fstat(fd, &st) != 0) throw NativeError::Dmabuf("fds[" + std::to_string(plane) + "]: fstat failed: " + std::strerror(errno));
  if (S_ISREG(st.st_mode)) return st.st_size;
  off_t end = lseek(fd, 0, SEEK_END);
  if (end < 0) {
    throw NativeError::Dmabuf("fds[" + std::to_string(plane) +
                              "] is not a DMA-BUF or memfd (lseek: " + std::strerror(errno) + ")");
  }
  lseek(fd, 0, SEEK_SET);
  return end;
}

void SwapRedBlue(uint8_t* row, uint32_t pixels) {
  for (uint32_t i = 0; i < pixels; i++, row += 4) std::swap(row[0], row[2]);
}

}  // namespace

DmabufImage::DmabufImage(EglContext& context, DmabufDesc desc) : context_(context), desc_(std::move(desc)) {}

std::unique_ptr<DmabufImage> DmabufImage::Import(EglContext& context, DmabufDesc desc) {
  std::unique_ptr<DmabufImage> image(new DmabufImage(context, std::move(desc)));
  image->CheckPlanes();
  image->CreateImage();
  image->AttachToFramebuffer();
  return image;
}

DmabufImage::~DmabufImage() {
  if (framebuffer_ != 0) glDeleteFramebuffers(1, &framebuffer_);
  if (renderbuffer_ != 0) glDeleteRenderbuffers(1, &renderbuffer_);
  if (texture_ != 0) glDeleteTextures(1, &texture_);
  if (image_ != EGL_NO_IMAGE_KHR) context_.destroyImage(context_.display(), image_);
  while (glGetError() != GL_NO_ERROR) {
  }
  for (const DmabufPlane& plane : desc_.planes) napi_kit::CloseFd(plane.fd);
}

void DmabufImage::CheckPlanes() const {
  const EglInfo& info = context_.info();
  if (desc_.width > static_cast<uint32_t>(info.maxTextureSize) ||
      desc_.height > static_cast<uint32_t>(info.maxTextureSize)) {
    throw napi_kit::Fault::OutOfBounds(std::to_string(desc_.width) + "x" + std::to_string(desc_.height) +
                                       " exceeds GL_MAX_TEXTURE_SIZE " + std::to_string(info.maxTextureSize));
  }
  bool linear = desc_.modifier == DRM_FORMAT_MOD_LINEAR || desc_.modifier == DRM_FORMAT_MOD_INVALID;
  if (desc_.modifier != DRM_FORMAT_MOD_INVALID && desc_.modifier != DRM_FORMAT_MOD_LINEAR &&
      !info.modifiersSupported) {
    throw NativeError::Dmabuf("modifier " + DrmFormat::ModifierName(desc_.modifier) +
                              " needs EGL_EXT_image_dma_buf_import_modifiers, which this display lacks");
  }
  if (desc_.planes.size() > 3 && !info.modifiersSupported) {
    throw NativeError::Dmabuf("4 planes need EGL_EXT_image_dma_buf_import_modifiers");
  }
  for (size_t i = 0; i < desc_.planes.size(); i++) {
    const DmabufPlane& plane = desc_.planes[i];
    int64_t size = BufferSize(plane.fd, i);
    int64_t needed = static_cast<int64_t>(plane.offset) + 1;
    // Only the first plane of a linear layout has a size we can know (later planes of tiled
    // modifiers hold compression metadata).
    if (i == 0 && linear) {
      const DrmFormat* format = DrmFormat::Find(desc_.fourcc);
      uint64_t rowBytes = static_cast<uint64_t>(desc_.width) * (format != nullptr ? format->bytesPerPixel : 4);
      if (plane.stride < rowBytes) {
        throw NativeError::Dmabuf("strides[0] " + std::to_string(plane.stride) + " is less than width * " +
                                  std::to_string(rowBytes / desc_.width) + " = " + std::to_string(rowBytes));
      }
      needed = static_cast<int64_t>(plane.offset) +
               static_cast<int64_t>(plane.stride) * (desc_.height - 1) + static_cast<int64_t>(rowBytes);
    }
    if (size < needed) {
      throw NativeError::Dmabuf("fds[" + std::to_string(i) + "] holds " + std::to_string(size) +
                                " bytes; " + std::to_string(desc_.width) + "x" + std::to_string(desc_.height) +
                                " " + DrmFormat::FourccName(desc_.fourcc) + " at offset " +
                                std::to_string(plane.offset) + ", stride " + std::to_string(plane.stride) +
                                " needs " + std::to_string(needed));
    }
  }
}

void DmabufImage::CreateImage() {
  std::vector<EGLint> attribs = {EGL_WIDTH, static_cast<EGLint>(desc_.width),
                                 EGL_HEIGHT, static_cast<EGLint>(desc_.height),
                                 EGL_LINUX_DRM_FOURCC_EXT, static_cast<EGLint>(desc_.fourcc)};
  bool withModifier = desc_.modifier != DRM_FORMAT_MOD_INVALID && context_.info().modifiersSupported;
  for (size_t i = 0; i < desc_.planes.size(); i++) {
    const DmabufPlane& plane = desc_.planes[i];
    attribs.insert(attribs.end(), {kPlaneFd[i], plane.fd, kPlaneOffset[i], static_cast<EGLint>(plane.offset),
                                   kPlanePitch[i], static_cast<EGLint>(plane.stride)});
    if (withModifier) {
      attribs.insert(attribs.end(), {kPlaneModifierLo[i], static_cast<EGLint>(desc_.modifier & 0xffffffff),
                                     kPlaneModifierHi[i], static_cast<EGLint>(desc_.modifier >> 32)});
    }
  }
  attribs.push_back(EGL_NONE);
  EglContext::ClearDebugMessage();
  image_ = context_.createImage(context_.display(), EGL_NO_CONTEXT, EGL_LINUX_DMA_BUF_EXT, nullptr,
                                attribs.data());
  if (image_ == EGL_NO_IMAGE_KHR) {
    try {
      EglContext::ThrowEglError("eglCreateImageKHR(EGL_LINUX_DMA_BUF_EXT)");
    } catch (const napi_kit::Fault& error) {
      throw NativeError(error.kind(), error.name(),
                        error.message() + " [" + std::to_string(desc_.width) + "x" +
                            std::to_string(desc_.height) + " " + DrmFormat::Describe(desc_.fourcc) +
                            ", modifier " + DrmFormat::ModifierName(desc_.modifier) + ", " +
                            std::to_string(desc_.planes.size()) + " plane(s)]",
                        error.code());
    }
  }
}

void DmabufImage::AttachToFramebuffer() {
  while (glGetError() != GL_NO_ERROR) {
  }
  glGenFramebuffers(1, &framebuffer_);
  glGenTextures(1, &texture_);
  glBindTexture(GL_TEXTURE_2D, texture_);
  context_.imageTargetTexture2D(GL_TEXTURE_2D, image_);
  GLenum textureError = glGetError();
  glBindTexture(GL_TEXTURE_2D, 0);
  glBindFramebuffer(GL_FRAMEBUFFER, framebuffer_);
  if (textureError == GL_NO_ERROR) {
    glFramebufferTexture2D(GL_FRAMEBUFFER, GL_COLOR_ATTACHMENT0, GL_TEXTURE_2D, texture_, 0);
  } else {
    // Some drivers only sample some layouts as external textures; a renderbuffer still reads back.
    glDeleteTextures(1, &texture_);
    texture_ = 0;
    glGenRenderbuffers(1, &renderbuffer_);
    glBindRenderbuffer(GL_RENDERBUFFER, renderbuffer_);
    context_.imageTargetRenderbufferStorage(GL_RENDERBUFFER, image_);
    GLenum renderbufferError = glGetError();
    glBindRenderbuffer(GL_RENDERBUFFER, 0);
    if (renderbufferError != GL_NO_ERROR) {
      glBindFramebuffer(GL_FRAMEBUFFER, 0);
      throw NativeError::Gl("glEGLImageTargetTexture2DOES", textureError,
                            "and glEGLImageTargetRenderbufferStorageOES: " +
                                NativeError::GlErrorName(renderbufferError) +
                                " (the layout may be external-only)");
    }
    glFramebufferRenderbuffer(GL_FRAMEBUFFER, GL_COLOR_ATTACHMENT0, GL_RENDERBUFFER, renderbuffer_);
  }
  GLenum status = glCheckFramebufferStatus(GL_FRAMEBUFFER);
  glBindFramebuffer(GL_FRAMEBUFFER, 0);
  if (status != GL_FRAMEBUFFER_COMPLETE) {
    throw NativeError::Gl("glCheckFramebufferStatus", status, "the imported image cannot be read back");
  }
  CheckGl("glFramebufferTexture2D");
}

void DmabufImage::ReadPixels(const ReadRequest& request, std::vector<uint8_t>& scratch) {
  const EglInfo& info = context_.info();
  const uint32_t w = request.width;
  const uint32_t h = request.height;
  const size_t rowBytes = static_cast<size_t>(w) * 4;
  const GLint glY = static_cast<GLint>(request.yFlip ? desc_.height - request.y - h : request.y);
  const GLenum format = info.readBgra ? GL_BGRA_EXT : GL_RGBA;
  // Straight into the target when GL can write its layout; else through a packed scratch buffer.
  const bool direct = !request.yFlip && request.targetStride % 4 == 0 &&
                      (request.targetStride == rowBytes || info.glesMajor >= 3);

  glBindFramebuffer(GL_FRAMEBUFFER, framebuffer_);
  glPixelStorei(GL_PACK_ALIGNMENT, 4);
  if (direct) {
    if (info.glesMajor >= 3) {
      glPixelStorei(GL_PACK_ROW_LENGTH, static_cast<GLint>(request.targetStride / 4));
    }
    glReadPixels(static_cast<GLint>(request.x), glY, static_cast<GLsizei>(w), static_cast<GLsizei>(h),
                 format, GL_UNSIGNED_BYTE, request.target);
    if (info.glesMajor >= 3) glPixelStorei(GL_PACK_ROW_LENGTH, 0);
  } else {
    if (info.glesMajor >= 3) glPixelStorei(GL_PACK_ROW_LENGTH, 0);
    scratch.resize(rowBytes * h);
    glReadPixels(static_cast<GLint>(request.x), glY, static_cast<GLsizei>(w), static_cast<GLsizei>(h),
                 format, GL_UNSIGNED_BYTE, scratch.data());
  }
  glBindFramebuffer(GL_FRAMEBUFFER, 0);
  CheckGl(info.readBgra ? "glReadPixels(GL_BGRA_EXT)" : "glReadPixels(GL_RGBA)");

  if (direct && info.readBgra) return;
  for (uint32_t row = 0; row < h; row++) {
    uint8_t* out = request.target + row * request.targetStride;
    if (!direct) {
      const uint32_t from = request.yFlip ? h - 1 - row : row;
      std::memcpy(out, scratch.data() + from * rowBytes, rowBytes);
    }
    if (!info.readBgra) SwapRedBlue(out, w);
  }
}
