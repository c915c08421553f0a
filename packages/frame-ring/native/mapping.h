// Shared memory mappings as external ArrayBuffers. A mapping lives exactly as long as its
// ArrayBuffer: the buffer's finalizer munmaps it, so no view can outlive the memory under it.
#pragma once

#include <napi.h>

namespace frame_ring {

// mapFile(path, length, { create, writable }): ArrayBuffer
//   create: open with O_CREAT (mode 0600), size the file to `length` (ftruncate, then
//   posix_fallocate so a full tmpfs fails here with ENOSPC instead of SIGBUS on a later write).
//   Without create, `length` 0 maps the whole file and a `length` beyond the file throws.
//   The fd is closed before returning.
Napi::Value MapFile(const Napi::CallbackInfo& info);

// mapFd(fd, offset, length, writable): ArrayBuffer
//   Maps `length` bytes of a regular file or memfd from any byte `offset` (mapped from the page
//   boundary below it). Checks with fstat that offset + length fits the file. Leaves fd open.
Napi::Value MapFd(const Napi::CallbackInfo& info);

// releaseMapping(buffer): void
//   Lets go of the file under a buffer made by mapFile/mapFd now, instead of when the buffer is
//   garbage collected: its pages are replaced in place by private zero pages (mmap MAP_FIXED), so
//   every view stays valid and reads zeros (writes of a writable mapping land in private memory).
//   The file no longer appears in /proc/self/maps and its memory can be freed. Safe twice.
Napi::Value ReleaseMapping(const Napi::CallbackInfo& info);

// closeFd(fd): void
Napi::Value CloseFd(const Napi::CallbackInfo& info);

}  // namespace frame_ring
