#include "promise-worker.h"

#include "js-error.h"

PromiseWorker::PromiseWorker(Napi::Env env, const char* resourceName, Napi::Object owner,
                             Napi::Value keepAlive)
    : Napi::AsyncWorker(env, resourceName), deferred_(Napi::Promise::Deferred::New(env)) {
  // Capturing an Error here is cheap (V8 formats the stack only if it is read, on failure).
  stack_ = Napi::Persistent(Napi::Error::New(env, "").Value());
  owner_ = Napi::Persistent(owner);
  if (!keepAlive.IsEmpty() && !keepAlive.IsUndefined()) keepAlive_ = Napi::Persistent(keepAlive);
}

PromiseWorker::~PromiseWorker() = default;

void PromiseWorker::Fail(const std::string& name, const std::string& message) {
  failed_ = true;
  errorName_ = name;
  errorMessage_ = message;
}

void PromiseWorker::OnOK() {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  Settle();
  if (failed_) {
    deferred_.Reject(JsError::WithStack(env, errorName_, errorMessage_, stack_.Value()).Value());
    return;
  }
  deferred_.Resolve(Result(env));
}

void PromiseWorker::OnError(const Napi::Error& error) {
  // Only reached if a C++ exception escapes Execute(); keep the captured stack anyway.
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  Settle();
  deferred_.Reject(JsError::WithStack(env, "Error", error.Message(), stack_.Value()).Value());
}
