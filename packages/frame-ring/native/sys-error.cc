#include "sys-error.h"

#include <uv.h>

#include <cstring>

namespace frame_ring {

void ThrowSystemError(Napi::Env env, int err, const char* fn, const char* syscall,
                      const std::string& target, bool isPath) {
  const char* code = uv_err_name(uv_translate_sys_error(err));
  std::string message = std::string(fn) + ": " + syscall + " " +
                        (isPath ? "'" + target + "'" : target) + " failed: " + std::strerror(err) +
                        " (" + code + ")";
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  error.Set("errno", Napi::Number::New(env, -err));
  error.Set("syscall", Napi::String::New(env, syscall));
  if (isPath) error.Set("path", Napi::String::New(env, target));
  throw error;
}

}  // namespace frame_ring
