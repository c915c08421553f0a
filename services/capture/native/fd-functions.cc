#include "fd-functions.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include <qemu_webrtc/napi_kit.h>

using napi_kit::Fault;

void FdFunctions::Init(Napi::Env env, Napi::Object exports) {
  exports.Set("socketpair", Napi::Function::New<napi_kit::Guarded<SocketPair>>(env, "socketpair"));
  exports.Set("createMemfd", Napi::Function::New<napi_kit::Guarded<CreateMemfd>>(env, "createMemfd"));
  exports.Set("sharedFdInfo", Napi::Function::New<napi_kit::Guarded<SharedFdInfo>>(env, "sharedFdInfo"));
  exports.Set("addSeals", Napi::Function::New<napi_kit::Guarded<AddSeals>>(env, "addSeals"));
}

Napi::Value FdFunctions::SocketPair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) throw Fault::Sys("socketpair", "socketpair", errno, "");
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, fds[0]);
  result.Set(1u, fds[1]);
  return result;
}

Napi::Value FdFunctions::CreateMemfd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string name = napi_kit::ReadString(info[0], "createMemfd: name");
  const off_t size = static_cast<off_t>(napi_kit::ReadInteger(info[1], "createMemfd: size", 0, napi_kit::kMaxSafeInteger));
  napi_kit::FdGuard fd(memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (fd.get() < 0) throw Fault::Sys("createMemfd", "memfd_create", errno, name);
  if (ftruncate(fd.get(), size) != 0) throw Fault::Sys("createMemfd", "ftruncate", errno, name);
  return Napi::Number::New(env, fd.release());
}

Napi::Value FdFunctions::SharedFdInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = napi_kit::ReadFd(info[0], "sharedFdInfo: fd");
  const std::string what = "fd " + std::to_string(fd);
  struct stat st;
  if (fstat(fd, &st) != 0) throw Fault::Sys("sharedFdInfo", "fstat", errno, what);
  int seals = fcntl(fd, F_GET_SEALS);
  // EINVAL: a file that cannot carry seals (not a memfd or shmem file): nothing stops a truncation.
  if (seals < 0 && errno != EINVAL) throw Fault::Sys("sharedFdInfo", "fcntl(F_GET_SEALS)", errno, what);
  Napi::Object result = Napi::Object::New(env);
  result.Set("size", Napi::Number::New(env, static_cast<double>(st.st_size)));
  result.Set("seals", Napi::Number::New(env, seals < 0 ? 0 : seals));
  result.Set("sealable", Napi::Boolean::New(env, seals >= 0));
  return result;
}

Napi::Value FdFunctions::AddSeals(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = napi_kit::ReadFd(info[0], "addSeals: fd");
  const int seals = static_cast<int>(napi_kit::ReadInteger(info[1], "addSeals: seals", 0, 0xffff));
  if (fcntl(fd, F_ADD_SEALS, seals) != 0) throw Fault::Sys("addSeals", "fcntl(F_ADD_SEALS)", errno, "fd " + std::to_string(fd));
  return env.Undefined();
}
