// File-descriptor helpers for talking to QEMU: a socket pair for the D-Bus listener link,
// closeFd, and memfds (shared memory that QEMU-side test peers and EGL import tests use).
#pragma once

#include <napi.h>

class FdFunctions {
 public:
  static void Init(Napi::Env env, Napi::Object exports);

 private:
  // socketpair(): [number, number] — AF_UNIX SOCK_STREAM, SOCK_CLOEXEC on both ends.
  static Napi::Value SocketPair(const Napi::CallbackInfo& info);
  // closeFd(fd): void
  static Napi::Value CloseFd(const Napi::CallbackInfo& info);
  // createMemfd(name, size): number — MFD_CLOEXEC | MFD_ALLOW_SEALING, truncated to size.
  static Napi::Value CreateMemfd(const Napi::CallbackInfo& info);
};
