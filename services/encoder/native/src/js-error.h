// Errors handed to JS: a `name` (TypeError, BusyError, ClosedError, EncoderError, DecoderError),
// and, for asynchronous calls, the JS stack captured when the call was made.
#pragma once

#include <napi.h>

#include <string>

class JsError {
 public:
  // An Error (or TypeError when name is "TypeError") with `name` set.
  static Napi::Error Make(Napi::Env env, const std::string& name, const std::string& message);
  // The same, with the stack of `captured` (an Error made at call time) under the new message.
  static Napi::Error WithStack(Napi::Env env, const std::string& name, const std::string& message,
                               const Napi::Object& captured);
  // A promise already rejected with Make(name, message).
  static Napi::Promise Rejected(Napi::Env env, const std::string& name, const std::string& message);
  // FFmpeg's text for an AVERROR code.
  static std::string AvError(int code);
};
