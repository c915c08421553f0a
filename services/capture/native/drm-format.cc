#include "drm-format.h"

#include <drm_fourcc.h>

#include "native-error.h"

namespace {

const DrmFormat kFormats[] = {
    {DRM_FORMAT_XRGB8888, 4, "DRM_FORMAT_XRGB8888"},
    {DRM_FORMAT_ARGB8888, 4, "DRM_FORMAT_ARGB8888"},
    {DRM_FORMAT_XBGR8888, 4, "DRM_FORMAT_XBGR8888"},
    {DRM_FORMAT_ABGR8888, 4, "DRM_FORMAT_ABGR8888"},
    {DRM_FORMAT_RGBX8888, 4, "DRM_FORMAT_RGBX8888"},
    {DRM_FORMAT_RGBA8888, 4, "DRM_FORMAT_RGBA8888"},
    {DRM_FORMAT_BGRX8888, 4, "DRM_FORMAT_BGRX8888"},
    {DRM_FORMAT_BGRA8888, 4, "DRM_FORMAT_BGRA8888"},
    {DRM_FORMAT_XRGB2101010, 4, "DRM_FORMAT_XRGB2101010"},
    {DRM_FORMAT_ARGB2101010, 4, "DRM_FORMAT_ARGB2101010"},
    {DRM_FORMAT_XBGR2101010, 4, "DRM_FORMAT_XBGR2101010"},
    {DRM_FORMAT_ABGR2101010, 4, "DRM_FORMAT_ABGR2101010"},
    {DRM_FORMAT_RGB565, 2, "DRM_FORMAT_RGB565"},
};

}  // namespace

const DrmFormat* DrmFormat::Find(uint32_t fourcc) {
  for (const DrmFormat& format : kFormats) {
    if (format.fourcc == fourcc) return &format;
  }
  return nullptr;
}

std::string DrmFormat::FourccName(uint32_t fourcc) {
  std::string name;
  for (int i = 0; i < 4; i++) {
    char c = static_cast<char>((fourcc >> (8 * i)) & 0xff);
    if (c < 0x20 || c > 0x7e) return NativeError::Hex(fourcc);
    name += c;
  }
  return name;
}

std::string DrmFormat::Describe(uint32_t fourcc) {
  return "'" + FourccName(fourcc) + "' (" + NativeError::Hex(fourcc) + ")";
}

std::string DrmFormat::SupportedList() {
  std::string list;
  for (const DrmFormat& format : kFormats) {
    if (!list.empty()) list += ", ";
    list += FourccName(format.fourcc);
  }
  return list;
}

std::string DrmFormat::ModifierName(uint64_t modifier) {
  if (modifier == DRM_FORMAT_MOD_LINEAR) return "LINEAR";
  if (modifier == DRM_FORMAT_MOD_INVALID) return "INVALID";
  return NativeError::Hex(modifier);
}
