// Base for asynchronous native calls: runs Execute() on libuv's thread pool (never touching JS),
// settles a promise on the JS thread, and rejects with the JS stack captured at call time.
#pragma once

#include <napi.h>
#include <qemu_webrtc/napi_kit.h>

#include <optional>
#include <string>

class PromiseWorker : public Napi::AsyncWorker {
 public:
  // `owner` (the JS object whose native state Execute() uses) and `keepAlive` (e.g. the input
  // buffer) stay referenced until the promise settles.
  PromiseWorker(Napi::Env env, const char* resourceName, Napi::Object owner, Napi::Value keepAlive);
  ~PromiseWorker() override;

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  // Called from Execute() on failure (never SetError: the error needs a name).
  void Fail(const std::string& name, const std::string& message);
  bool failed() const { return fault_.has_value(); }
  // JS thread, after Execute(): the resolved value.
  virtual Napi::Value Result(Napi::Env env) = 0;
  // JS thread, before settling (both outcomes): release the owner's busy state etc.
  virtual void Settle() {}

 private:
  void OnOK() override;
  void OnError(const Napi::Error& error) override;

  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference stack_;
  Napi::ObjectReference owner_;
  Napi::Reference<Napi::Value> keepAlive_;
  std::optional<napi_kit::Fault> fault_;
};
