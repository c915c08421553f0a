#include "fd-functions.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cmath>
#include <string>

#include "native-error.h"

namespace {

[[noreturn]] void ThrowSys(Napi::Env env, const std::string& call, int err) {
  Napi::Error error = NativeError::Sys(call, err).ToJs(env);
  error.Value().Set("errno", -err);
  error.Value().Set("syscall", call);
  throw error;
}

double IntegerArgument(Napi::Env env, const Napi::Value& value, const char* what, double max) {
  if (!value.IsNumber()) NativeError::Type(std::string(what) + " must be a number").ThrowJs(env);
  double number = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number) || std::trunc(number) != number || number < 0 || number > max) {
    NativeError::Range(std::string(what) + " must be a non-negative integer (got " +
                       value.ToString().Utf8Value() + ")")
        .ThrowJs(env);
  }
  return number;
}

}  // namespace

void FdFunctions::Init(Napi::Env env, Napi::Object exports) {
  exports.Set("socketpair", Napi::Function::New<SocketPair>(env, "socketpair"));
  exports.Set("closeFd", Napi::Function::New<CloseFd>(env, "closeFd"));
  exports.Set("createMemfd", Napi::Function::New<CreateMemfd>(env, "createMemfd"));
  exports.Set("sharedFdInfo", Napi::Function::New<SharedFdInfo>(env, "sharedFdInfo"));
  exports.Set("addSeals", Napi::Function::New<AddSeals>(env, "addSeals"));
}

Napi::Value FdFunctions::SocketPair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) ThrowSys(env, "socketpair", errno);
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, fds[0]);
  result.Set(1u, fds[1]);
  return result;
}

Napi::Value FdFunctions::CloseFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = static_cast<int>(IntegerArgument(env, info[0], "fd", INT_MAX));
  // close() releases the fd even when it fails with EINTR: never retry.
  if (close(fd) != 0 && errno != EINTR) ThrowSys(env, "close", errno);
  return env.Undefined();
}

Napi::Value FdFunctions::CreateMemfd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) NativeError::Type("name must be a string").ThrowJs(env);
  std::string name = info[0].As<Napi::String>().Utf8Value();
  off_t size = static_cast<off_t>(IntegerArgument(env, info[1], "size", 9007199254740991.0));
  int fd = memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) ThrowSys(env, "memfd_create", errno);
  if (ftruncate(fd, size) != 0) {
    int err = errno;
    close(fd);
    ThrowSys(env, "ftruncate", err);
  }
  return Napi::Number::New(env, fd);
}

Napi::Value FdFunctions::SharedFdInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = static_cast<int>(IntegerArgument(env, info[0], "fd", INT_MAX));
  struct stat st;
  if (fstat(fd, &st) != 0) ThrowSys(env, "fstat", errno);
  int seals = fcntl(fd, F_GET_SEALS);
  // EINVAL: a file that cannot carry seals (not a memfd or shmem file): nothing stops a truncation.
  if (seals < 0 && errno != EINVAL) ThrowSys(env, "fcntl(F_GET_SEALS)", errno);
  Napi::Object result = Napi::Object::New(env);
  result.Set("size", Napi::Number::New(env, static_cast<double>(st.st_size)));
  result.Set("seals", Napi::Number::New(env, seals < 0 ? 0 : seals));
  result.Set("sealable", Napi::Boolean::New(env, seals >= 0));
  return result;
}

Napi::Value FdFunctions::AddSeals(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = static_cast<int>(IntegerArgument(env, info[0], "fd", INT_MAX));
  int seals = static_cast<int>(IntegerArgument(env, info[1], "seals", 0xffff));
  if (fcntl(fd, F_ADD_SEALS, seals) != 0) ThrowSys(env, "fcntl(F_ADD_SEALS)", errno);
  return env.Undefined();
}
