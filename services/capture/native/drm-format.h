// The DRM fourccs the importer accepts: single-plane RGB formats (what QEMU's gl=on scanouts
// carry). Extra planes of the same fourcc (compression metadata of tiled modifiers) pass through.
#pragma once

#include <cstdint>
#include <string>

class DrmFormat {
 public:
  // nullptr when the fourcc is not supported.
  static const DrmFormat* Find(uint32_t fourcc);
  // "XR24", or the hex value when the code is not printable.
  static std::string FourccName(uint32_t fourcc);
  // "XR24 (0x34325258)"
  static std::string Describe(uint32_t fourcc);
  // "XR24, AR24, ..."
  static std::string SupportedList();
  static std::string ModifierName(uint64_t modifier);

  uint32_t fourcc;
  uint32_t bytesPerPixel;
  const char* drmName;
};
