#include "promise-worker.h"

PromiseWorker::PromiseWorker(Napi::Env env, const char* resourceName, Napi::Object owner,
                             Napi::Value keepAlive)
    : Napi::AsyncWorker(env, resourceName), deferred_(Napi::Promise::Deferred::New(env)) {
  // Capturing an Error here is cheap (V8 formats the stack only if it is read, on failure).
  stack_ = Napi::Persistent(napi_kit::CaptureStack(env));
  owner_ = Napi::Persistent(owner);
  if (!keepAlive.IsEmpty() && !keepAlive.IsUndefined()) keepAlive_ = Napi::Persistent(keepAlive);
}

PromiseWorker::~PromiseWorker() = default;

void PromiseWorker::Fail(const std::string& name, const std::string& message) {
  fault_ = napi_kit::Fault::Named(name, message);
}

void PromiseWorker::OnOK() {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  Settle();
  if (fault_) {
    deferred_.Reject(fault_->ToJs(env, stack_.Value()).Value());
    return;
  }
  deferred_.Resolve(Result(env));
}

void PromiseWorker::OnError(const Napi::Error& error) {
  // Only reached if a C++ exception escapes Execute(); keep the captured stack anyway.
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  Settle();
  deferred_.Reject(napi_kit::Fault::Named("Error", error.Message()).ToJs(env, stack_.Value()).Value());
}
