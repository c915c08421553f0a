// The N-API helpers the three addons share (frame-ring, capture, encoder): one error vocabulary,
// argument reads, fd helpers and the caller's-stack helper. Header-only; each addon's binding.gyp
// adds this folder's parent to include_dirs and includes <qemu_webrtc/napi_kit.h>.
//
// Vocabulary (the same in TS: @qemu-webrtc/native-kit's native-errors.ts):
//   TypeError  ERR_INVALID_ARG_TYPE   an argument of the wrong JS type
//   TypeError  ERR_INVALID_ARG_VALUE  the right type, a value the call does not take (range, enum)
//   RangeError ERR_OUT_OF_BOUNDS      valid arguments naming bytes outside a buffer, file or image
//   Error      errno name (EBADF ...) a system call failed (also errno, syscall, path)
//   Error      ERR_CLOSED             used after close(), name 'ClosedError'
// The TS wrappers validate arguments first, with clear messages; the reads here are the backstop
// that keeps memory safe, and throw Fault: plain C++, so safe to build on any thread.
#pragma once

#include <napi.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <utility>

namespace napi_kit {

constexpr double kMaxSafeInteger = 9007199254740991.0;  // 2^53 - 1

constexpr const char* kErrInvalidArgType = "ERR_INVALID_ARG_TYPE";
constexpr const char* kErrInvalidArgValue = "ERR_INVALID_ARG_VALUE";
constexpr const char* kErrOutOfBounds = "ERR_OUT_OF_BOUNDS";
constexpr const char* kErrClosed = "ERR_CLOSED";

// Replaces `error`'s stack by `captured`'s frames (an Error made when the call was made), under
// `error`'s own "name: message" line: an asynchronous failure then points at the caller's JS code.
inline void TakeStackOf(Napi::Object error, const std::string& name, const std::string& message,
                        const Napi::Value& captured) {
  if (captured.IsEmpty() || !captured.IsObject()) return;
  Napi::Value stack = captured.As<Napi::Object>().Get("stack");
  if (!stack.IsString()) return;
  std::string frames = stack.As<Napi::String>().Utf8Value();
  const size_t newline = frames.find('\n');
  error.Set("stack", name + ": " + message + (newline == std::string::npos ? "" : frames.substr(newline)));
}

// An Error made now, for TakeStackOf later (V8 formats its stack only when it is read).
inline Napi::Object CaptureStack(Napi::Env env) { return Napi::Error::New(env, "").Value(); }

// An error as plain C++ data: thrown by the reads below and by native code on any thread, turned
// into a JS error on the JS thread with ToJs().
class Fault : public std::exception {
 public:
  enum class Kind { kError, kTypeError, kRangeError };

  // name: the JS `name` (empty keeps the constructor's); code: the JS `code` (empty: none).
  Fault(Kind kind, std::string name, std::string message, std::string code = "")
      : kind_(kind), name_(std::move(name)), message_(std::move(message)), code_(std::move(code)) {}

  static Fault ArgType(const std::string& message) {
    return Fault(Kind::kTypeError, "", message, kErrInvalidArgType);
  }
  static Fault ArgValue(const std::string& message) {
    return Fault(Kind::kTypeError, "", message, kErrInvalidArgValue);
  }
  static Fault OutOfBounds(const std::string& message) {
    return Fault(Kind::kRangeError, "", message, kErrOutOfBounds);
  }
  // "fn: what is closed", name 'ClosedError'.
  static Fault Closed(const std::string& message) { return Fault(Kind::kError, "ClosedError", message, kErrClosed); }
  // An Error named `name` (BusyError, EncoderError ...) without a code.
  static Fault Named(const std::string& name, const std::string& message) {
    return Fault(Kind::kError, name == "Error" ? "" : name, message);
  }
  // "fn: syscall target failed: strerror (CODE)", shaped like Node's own system errors: code the
  // errno name, errno negative, syscall, and path when `target` is a path (quoted in the message).
  static Fault Sys(const std::string& fn, const std::string& syscall, int err, const std::string& target,
                   bool isPath = false) {
    const char* name = strerrorname_np(err);
    const std::string code = name != nullptr ? name : "E" + std::to_string(err);
    std::string message = fn + ": " + syscall + (target.empty() ? "" : " " + (isPath ? "'" + target + "'" : target)) +
                          " failed: " + std::strerror(err) + " (" + code + ")";
    Fault fault(Kind::kError, "", std::move(message), code);
    fault.errno_ = err;
    fault.syscall_ = syscall;
    if (isPath) fault.path_ = target;
    return fault;
  }

  const char* what() const noexcept override { return message_.c_str(); }
  Kind kind() const { return kind_; }
  const std::string& name() const { return name_; }
  const std::string& message() const { return message_; }
  const std::string& code() const { return code_; }

  // JS thread. `captured` (from CaptureStack, or empty) gives the error the caller's stack.
  Napi::Error ToJs(Napi::Env env, const Napi::Value& captured = Napi::Value()) const {
    Napi::Error error = kind_ == Kind::kTypeError    ? Napi::TypeError::New(env, message_)
                        : kind_ == Kind::kRangeError ? Napi::RangeError::New(env, message_)
                                                     : Napi::Error::New(env, message_);
    Napi::Object object = error.Value();
    std::string name = name_;
    if (name.empty()) {
      name = kind_ == Kind::kTypeError ? "TypeError" : kind_ == Kind::kRangeError ? "RangeError" : "Error";
    } else {
      object.Set("name", name);
    }
    if (!code_.empty()) object.Set("code", code_);
    if (errno_ != 0) {
      object.Set("errno", -errno_);
      object.Set("syscall", syscall_);
      if (!path_.empty()) object.Set("path", path_);
    }
    // The stack was formatted under the constructor's name: rewrite its first line (or take the
    // caller's frames).
    TakeStackOf(object, name, message_, captured.IsEmpty() ? object.Get("stack") : captured);
    return error;
  }
  [[noreturn]] void ThrowJs(Napi::Env env) const { throw ToJs(env); }

 private:
  Kind kind_;
  std::string name_;
  std::string message_;
  std::string code_;
  int errno_ = 0;
  std::string syscall_;
  std::string path_;
};

// A promise already rejected with `fault`.
inline Napi::Promise Rejected(Napi::Env env, const Fault& fault) {
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  deferred.Reject(fault.ToJs(env).Value());
  return deferred.Promise();
}

// A JS function calling F, with a Fault thrown by F turned into its JS error.
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value Guarded(const Napi::CallbackInfo& info) {
  try {
    return F(info);
  } catch (const Fault& fault) {
    fault.ThrowJs(info.Env());
  }
}

// ---- Argument reads: Fault::ArgType for the wrong type, Fault::ArgValue for a value outside. ----

// The one integer parser: an integer number in [min, max] (both within ±2^53).
inline double ReadInteger(const Napi::Value& value, const std::string& what, double min, double max) {
  if (!value.IsNumber()) throw Fault::ArgType(what + " must be a number");
  const double number = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number) || std::trunc(number) != number || number < min || number > max) {
    char range[96];
    std::snprintf(range, sizeof range, "an integer in %.0f..%.0f", min, max);
    throw Fault::ArgValue(what + " must be " + range + " (got " + value.ToString().Utf8Value() + ")");
  }
  return number;
}

// A number (not necessarily an integer) in [min, max].
inline double ReadNumber(const Napi::Value& value, const std::string& what, double min, double max) {
  if (!value.IsNumber()) throw Fault::ArgType(what + " must be a number");
  const double number = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number) || number < min || number > max) {
    char range[96];
    std::snprintf(range, sizeof range, "a number in %g..%g", min, max);
    throw Fault::ArgValue(what + " must be " + range + " (got " + value.ToString().Utf8Value() + ")");
  }
  return number;
}

// A file descriptor number (validity is the system call's to report).
inline int ReadFd(const Napi::Value& value, const std::string& what) {
  return static_cast<int>(ReadInteger(value, what, 0, INT_MAX));
}

// A boolean; undefined is `fallback` when `optional`.
inline bool ReadBool(const Napi::Value& value, const std::string& what, bool optional = false,
                     bool fallback = false) {
  if (optional && value.IsUndefined()) return fallback;
  if (!value.IsBoolean()) throw Fault::ArgType(what + " must be a boolean");
  return value.As<Napi::Boolean>().Value();
}

// A string; `nonEmpty` also refuses "" and strings holding NUL (paths, names).
inline std::string ReadString(const Napi::Value& value, const std::string& what, bool nonEmpty = false) {
  if (!value.IsString()) throw Fault::ArgType(what + " must be a string");
  std::string s = value.As<Napi::String>().Utf8Value();
  if (nonEmpty && (s.empty() || s.find('\0') != std::string::npos)) {
    throw Fault::ArgValue(what + " must be a non-empty string without NUL");
  }
  return s;
}

// An object; undefined or null is an empty object when `optional`.
inline Napi::Object ReadObject(const Napi::Value& value, const std::string& what, bool optional = false) {
  if (optional && (value.IsUndefined() || value.IsNull())) return Napi::Object::New(value.Env());
  if (!value.IsObject()) throw Fault::ArgType(what + " must be an object");
  return value.As<Napi::Object>();
}

// An array.
inline Napi::Array ReadArray(const Napi::Value& value, const std::string& what) {
  if (!value.IsArray()) throw Fault::ArgType(what + " must be an array");
  return value.As<Napi::Array>();
}

// The bytes behind an ArrayBuffer, a typed array or Buffer, or a DataView (views honour their
// byteOffset/byteLength; views on a SharedArrayBuffer work too). The caller keeps the JS value
// referenced while it uses the pointer. data is null for a detached or empty buffer.
struct Bytes {
  uint8_t* data;
  size_t length;
};

inline Bytes ReadBytes(const Napi::Value& value, const std::string& what) {
  napi_env env = value.Env();
  if (value.IsArrayBuffer()) {
    Napi::ArrayBuffer ab = value.As<Napi::ArrayBuffer>();
    return {static_cast<uint8_t*>(ab.Data()), ab.ByteLength()};
  }
  if (value.IsTypedArray()) {
    // napi_get_typedarray_info's pointer already includes byteOffset, and unlike
    // napi_get_arraybuffer_info it works for views on a SharedArrayBuffer.
    napi_typedarray_type type;
    size_t elements = 0;
    void* data = nullptr;
    if (napi_get_typedarray_info(env, value, &type, &elements, &data, nullptr, nullptr) == napi_ok) {
      return {static_cast<uint8_t*>(data), value.As<Napi::TypedArray>().ByteLength()};
    }
  } else if (value.IsDataView()) {
    size_t length = 0;
    void* data = nullptr;
    if (napi_get_dataview_info(env, value, &length, &data, nullptr, nullptr) == napi_ok) {
      return {static_cast<uint8_t*>(data), length};
    }
  }
  throw Fault::ArgType(what + " must be an ArrayBuffer or an ArrayBufferView");
}

// ---- File descriptors. ----

// close(2) that never retries: on Linux the fd is released even when close reports EINTR.
// Returns 0 or the errno of a real failure (EBADF, EIO).
inline int CloseFd(int fd) {
  if (close(fd) == 0 || errno == EINTR) return 0;
  return errno;
}

// Closes an owned fd when the scope ends (unless release()d).
class FdGuard {
 public:
  explicit FdGuard(int fd) : fd_(fd) {}
  ~FdGuard() {
    if (fd_ >= 0) CloseFd(fd_);
  }
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

}  // namespace napi_kit
