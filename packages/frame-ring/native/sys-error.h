// System errors as JS Errors shaped like Node's own (message with the errno text and the path or
// fd, plus `code`, `errno`, `syscall` and `path` properties).
#pragma once

#include <napi.h>

#include <string>

namespace frame_ring {

// Throws Error "fn: syscall 'path' failed: strerror (CODE)". `target` is a path (quoted in the
// message and set as `path`) unless `isPath` is false (then it is e.g. "fd 5", message only).
[[noreturn]] void ThrowSystemError(Napi::Env env, int err, const char* fn, const char* syscall,
                                   const std::string& target, bool isPath = true);

}  // namespace frame_ring
