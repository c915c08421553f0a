// An error raised while validating arguments or on the GL thread, carried as plain C++ (safe on
// any thread) and turned into a JS error on the JS thread.
#pragma once

#include <napi.h>

#include <cstdint>
#include <exception>
#include <string>

class NativeError : public std::exception {
 public:
  enum class Kind { kError, kTypeError, kRangeError };

  // name: the JS error's `name` (empty keeps the constructor's); code: its `code` (empty: none).
  NativeError(Kind kind, std::string name, std::string message, std::string code = "");

  // An EGL call failed: name 'EglError', code the EGL error's name (EGL_BAD_MATCH ...).
  static NativeError Egl(const std::string& call, int32_t eglError, const std::string& detail = "");
  // A GL call failed: name 'GlError', code the GL error's name (GL_INVALID_OPERATION ...).
  static NativeError Gl(const std::string& call, uint32_t glError, const std::string& detail = "");
  // The buffer handed over cannot be imported as described (bad fd, too small ...).
  static NativeError Dmabuf(const std::string& message);
  // A system call failed: code the errno name (EBADF ...).
  static NativeError Sys(const std::string& call, int err);
  // A needed extension is missing: code 'ERR_UNSUPPORTED'.
  static NativeError Unsupported(const std::string& name, const std::string& message);
  static NativeError Type(const std::string& message);
  static NativeError Range(const std::string& message);
  // A call on an object that was closed: name 'ClosedError'.
  static NativeError Closed(const std::string& what);

  static std::string EglErrorName(int32_t code);
  static std::string GlErrorName(uint32_t code);
  static std::string Hex(uint64_t value);

  const char* what() const noexcept override { return message_.c_str(); }
  Kind kind() const { return kind_; }
  const std::string& name() const { return name_; }
  const std::string& message() const { return message_; }
  const std::string& code() const { return code_; }

  // JS thread. `captured` is an Error created when the call was made (or undefined): its stack
  // replaces the new error's, so the error points at the caller's JS code.
  Napi::Error ToJs(Napi::Env env, Napi::Value captured = Napi::Value()) const;
  [[noreturn]] void ThrowJs(Napi::Env env) const;

 private:
  Kind kind_;
  std::string name_;
  std::string message_;
  std::string code_;
};
