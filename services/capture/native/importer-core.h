// The GL-thread side of an EglImporter: the EGL context and the imported images by handle.
// Every method runs on the importer's GL thread and throws napi_kit::Fault.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "dmabuf-image.h"
#include "egl-context.h"
#include "native-error.h"

class ImporterCore {
 public:
  explicit ImporterCore(std::string device);
  ~ImporterCore();

  // Opens the context; a failure is kept and thrown again by every later call.
  void Open();
  void Import(uint32_t handle, DmabufDesc desc);
  void Read(uint32_t handle, const ReadRequest& request);
  // Unknown handles are ignored.
  void Release(uint32_t handle);
  EglInfo Info();
  // Destroys every image and the context. Safe twice.
  void Close();

 private:
  void CheckOpen() const;

  std::string device_;
  EglContext context_;
  std::optional<napi_kit::Fault> openError_;
  bool closed_ = false;
  std::unordered_map<uint32_t, std::unique_ptr<DmabufImage>> images_;
  std::vector<uint8_t> scratch_;
};
