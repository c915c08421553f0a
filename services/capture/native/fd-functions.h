// File-descriptor helpers for talking to QEMU: a socket pair for the D-Bus listener link and
// memfds (closeFd is frame-ring's: one in the workspace) (shared memory that QEMU-side test peers and EGL import tests use).
#pragma once

#include <napi.h>

class FdFunctions {
 public:
  static void Init(Napi::Env env, Napi::Object exports);

 private:
  // socketpair(): [number, number] — AF_UNIX SOCK_STREAM, SOCK_CLOEXEC on both ends.
  static Napi::Value SocketPair(const Napi::CallbackInfo& info);
  // createMemfd(name, size): number — MFD_CLOEXEC | MFD_ALLOW_SEALING, truncated to size.
  static Napi::Value CreateMemfd(const Napi::CallbackInfo& info);
  // sharedFdInfo(fd): {size, seals, sealable} — fstat's size and F_GET_SEALS (sealable false, seals
  // 0 for a file that cannot carry seals).
  static Napi::Value SharedFdInfo(const Napi::CallbackInfo& info);
  // addSeals(fd, seals): void — F_ADD_SEALS (for test peers that play QEMU's side).
  static Napi::Value AddSeals(const Napi::CallbackInfo& info);
};
