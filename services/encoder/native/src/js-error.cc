#include "js-error.h"

extern "C" {
#include <libavutil/error.h>
}

Napi::Error JsError::Make(Napi::Env env, const std::string& name, const std::string& message) {
  if (name == "TypeError") return Napi::TypeError::New(env, message);
  if (name == "RangeError") return Napi::RangeError::New(env, message);
  Napi::Error error = Napi::Error::New(env, message);
  if (name != "Error") {
    error.Set("name", name);
    // The stack was formatted with the old name: rewrite its first line.
    Napi::Value stack = error.Get("stack");
    if (stack.IsString()) {
      std::string text = stack.As<Napi::String>().Utf8Value();
      const size_t nl = text.find('\n');
      error.Set("stack", name + ": " + message + (nl == std::string::npos ? "" : text.substr(nl)));
    }
  }
  return error;
}

Napi::Error JsError::WithStack(Napi::Env env, const std::string& name, const std::string& message,
                               const Napi::Object& captured) {
  Napi::Error error = Make(env, name, message);
  Napi::Value stack = captured.Get("stack");
  if (stack.IsString()) {
    std::string text = stack.As<Napi::String>().Utf8Value();
    const size_t nl = text.find('\n');
    error.Set("stack", name + ": " + message + (nl == std::string::npos ? "" : text.substr(nl)));
  }
  return error;
}

Napi::Promise JsError::Rejected(Napi::Env env, const std::string& name, const std::string& message) {
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  deferred.Reject(Make(env, name, message).Value());
  return deferred.Promise();
}

std::string JsError::AvError(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(code, buf, sizeof buf);
  return buf;
}
