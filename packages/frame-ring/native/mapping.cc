#include "mapping.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include <qemu_webrtc/napi_kit.h>

namespace frame_ring {
namespace {

using napi_kit::Fault;

// Node 20 caps a Buffer/ArrayBuffer at 4 GiB; larger mappings could not be handed to JS.
constexpr uint64_t kMaxMapping = 4294967296ULL;

// What munmap needs: the page-aligned base and length actually mapped.
struct Mapping {
  void* base;
  size_t length;
  bool writable;
  // releaseMapping() replaced the file's pages with anonymous zero pages.
  bool released;
};

// Live mappings by their ArrayBuffer's data pointer: releaseMapping() acts only on these.
std::mutex registryMutex;
std::unordered_map<void*, Mapping*> registry;

void FinalizeMapping(Napi::Env env, void* data, Mapping* mapping) {
  {
    std::lock_guard<std::mutex> lock(registryMutex);
    registry.erase(data);
  }
  munmap(mapping->base, mapping->length);
  if (!mapping->released) {
    int64_t ignored = 0;
    napi_adjust_external_memory(env, -static_cast<int64_t>(mapping->length), &ignored);
  }
  delete mapping;
}

// Wraps [base + delta, base + delta + length) of a mapping of `mapped` bytes at `base`.
Napi::ArrayBuffer Wrap(Napi::Env env, void* base, size_t mapped, size_t delta, size_t length,
                       bool writable) {
  auto* mapping = new Mapping{base, mapped, writable, false};
  void* data = static_cast<uint8_t*>(base) + delta;
  Napi::ArrayBuffer buffer;
  try {
    buffer = Napi::ArrayBuffer::New(env, data, length, FinalizeMapping, mapping);
  } catch (...) {
    munmap(base, mapped);
    delete mapping;
    throw;
  }
  {
    std::lock_guard<std::mutex> lock(registryMutex);
    registry[data] = mapping;
  }
  int64_t ignored = 0;
  napi_adjust_external_memory(env, static_cast<int64_t>(mapped), &ignored);
  return buffer;
}

}  // namespace

// Arguments arrive checked by src/native.ts; what stays here guards memory: types, sizes, and
// that a mapping fits its file.
Napi::Value MapFile(const Napi::CallbackInfo& info) {
  const std::string fn = "mapFile";
  const std::string path = napi_kit::ReadString(info[0], fn + ": path", true);
  const uint64_t length = static_cast<uint64_t>(napi_kit::ReadInteger(info[1], fn + ": length", 0, kMaxMapping));
  Napi::Object opts = napi_kit::ReadObject(info[2], fn + ": opts");
  const bool create = napi_kit::ReadBool(opts.Get("create"), fn + ": opts.create");
  const bool writable = napi_kit::ReadBool(opts.Get("writable"), fn + ": opts.writable");
  if (create && !writable) throw Fault::ArgValue(fn + ": opts.create requires opts.writable");
  if (create && length == 0) throw Fault::ArgValue(fn + ": length must be > 0 when creating");

  int flags = (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOCTTY;
  if (create) flags |= O_CREAT;
  const int fd = open(path.c_str(), flags, 0600);
  if (fd < 0) throw Fault::Sys(fn, "open", errno, path, true);
  napi_kit::FdGuard closer(fd);

  uint64_t size = length;
  if (create) {
    if (ftruncate(fd, static_cast<off_t>(length)) != 0) throw Fault::Sys(fn, "ftruncate", errno, path, true);
    const int err = posix_fallocate(fd, 0, static_cast<off_t>(length));
    if (err != 0 && err != EOPNOTSUPP && err != EINVAL) throw Fault::Sys(fn, "posix_fallocate", err, path, true);
  } else {
    struct stat st;
    if (fstat(fd, &st) != 0) throw Fault::Sys(fn, "fstat", errno, path, true);
    if (!S_ISREG(st.st_mode)) throw Fault::ArgValue(fn + ": '" + path + "' is not a regular file");
    const uint64_t fileSize = static_cast<uint64_t>(st.st_size);
    if (length == 0) {
      if (fileSize == 0) throw Fault::Named("Error", fn + ": '" + path + "' is empty");
      if (fileSize > kMaxMapping) throw Fault::OutOfBounds(fn + ": '" + path + "' is larger than 4 GiB");
      size = fileSize;
    } else if (length > fileSize) {
      throw Fault::OutOfBounds(fn + ": length " + std::to_string(length) + " is beyond the end of '" + path +
                               "' (" + std::to_string(fileSize) + " bytes)");
    }
  }

  void* base = mmap(nullptr, size, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) throw Fault::Sys(fn, "mmap", errno, path, true);
  return Wrap(info.Env(), base, size, 0, size, writable);
}

Napi::Value MapFd(const Napi::CallbackInfo& info) {
  const std::string fn = "mapFd";
  const int fd = napi_kit::ReadFd(info[0], fn + ": fd");
  const uint64_t offset =
      static_cast<uint64_t>(napi_kit::ReadInteger(info[1], fn + ": offset", 0, napi_kit::kMaxSafeInteger));
  const uint64_t length = static_cast<uint64_t>(napi_kit::ReadInteger(info[2], fn + ": length", 1, kMaxMapping));
  const bool writable = napi_kit::ReadBool(info[3], fn + ": writable");
  const std::string what = "fd " + std::to_string(fd);

  struct stat st;
  if (fstat(fd, &st) != 0) throw Fault::Sys(fn, "fstat", errno, what);
  if (!S_ISREG(st.st_mode)) throw Fault::ArgValue(fn + ": " + what + " is not a regular file or memfd");
  const uint64_t fileSize = static_cast<uint64_t>(st.st_size);
  if (offset > fileSize || length > fileSize - offset) {
    throw Fault::OutOfBounds(fn + ": offset " + std::to_string(offset) + " + length " + std::to_string(length) +
                             " is beyond the end of " + what + " (" + std::to_string(fileSize) + " bytes)");
  }

  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const uint64_t aligned = offset - offset % page;
  const uint64_t delta = offset - aligned;
  const size_t mapped = static_cast<size_t>(length + delta);
  void* base = mmap(nullptr, mapped, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd,
                    static_cast<off_t>(aligned));
  if (base == MAP_FAILED) throw Fault::Sys(fn, "mmap", errno, what);
  return Wrap(info.Env(), base, mapped, static_cast<size_t>(delta), static_cast<size_t>(length), writable);
}

Napi::Value ReleaseMapping(const Napi::CallbackInfo& info) {
  const std::string fn = "releaseMapping";
  Napi::Env env = info.Env();
  if (!info[0].IsArrayBuffer()) throw Fault::ArgType(fn + ": buffer must be an ArrayBuffer");
  void* data = info[0].As<Napi::ArrayBuffer>().Data();
  std::lock_guard<std::mutex> lock(registryMutex);
  auto it = registry.find(data);
  if (it == registry.end()) throw Fault::ArgValue(fn + ": buffer is not a mapping made by mapFile or mapFd");
  Mapping* mapping = it->second;
  if (mapping->released) return env.Undefined();
  // One atomic step: the file's pages go, zero pages take their place. A view read at the same
  // moment on another thread sees the file or zeros, never a hole.
  const int prot = PROT_READ | (mapping->writable ? PROT_WRITE : 0);
  void* again = mmap(mapping->base, mapping->length, prot,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
  if (again == MAP_FAILED) throw Fault::Sys(fn, "mmap", errno, "the mapping");
  mapping->released = true;
  int64_t ignored = 0;
  napi_adjust_external_memory(env, -static_cast<int64_t>(mapping->length), &ignored);
  return env.Undefined();
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  const int fd = napi_kit::ReadFd(info[0], "closeFd: fd");
  if (const int err = napi_kit::CloseFd(fd)) throw Fault::Sys("closeFd", "close", err, "fd " + std::to_string(fd));
  return info.Env().Undefined();
}

}  // namespace frame_ring
