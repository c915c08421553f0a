#include "importer-core.h"

#include <unistd.h>

#include <utility>

ImporterCore::ImporterCore(std::string device) : device_(std::move(device)) {}

ImporterCore::~ImporterCore() { Close(); }

void ImporterCore::Open() {
  try {
    context_.Open(device_);
  } catch (const napi_kit::Fault& error) {
    openError_ = error;
    context_.Close();
  }
}

void ImporterCore::CheckOpen() const {
  if (closed_) throw napi_kit::Fault::Closed("EglImporter is closed");
  if (openError_) throw *openError_;
}

void ImporterCore::Import(uint32_t handle, DmabufDesc desc) {
  try {
    CheckOpen();
  } catch (...) {
    for (const DmabufPlane& plane : desc.planes) napi_kit::CloseFd(plane.fd);
    throw;
  }
  images_[handle] = DmabufImage::Import(context_, std::move(desc));
}

void ImporterCore::Read(uint32_t handle, const ReadRequest& request) {
  CheckOpen();
  auto found = images_.find(handle);
  if (found == images_.end()) throw napi_kit::Fault::OutOfBounds("unknown handle " + std::to_string(handle));
  DmabufImage& image = *found->second;
  if (static_cast<uint64_t>(request.x) + request.width > image.width() ||
      static_cast<uint64_t>(request.y) + request.height > image.height()) {
    throw napi_kit::Fault::OutOfBounds("rectangle outside the " + std::to_string(image.width()) + "x" +
                             std::to_string(image.height()) + " image");
  }
  image.ReadPixels(request, scratch_);
}

void ImporterCore::Release(uint32_t handle) { images_.erase(handle); }

EglInfo ImporterCore::Info() {
  CheckOpen();
  return context_.info();
}

void ImporterCore::Close() {
  if (closed_) return;
  closed_ = true;
  images_.clear();
  scratch_.clear();
  scratch_.shrink_to_fit();
  context_.Close();
}
