#include "args.h"

#include <cmath>
#include <climits>

namespace frame_ring {

void ThrowTypeError(Napi::Env env, const char* fn, const std::string& message) {
  throw Napi::TypeError::New(env, std::string(fn) + ": " + message);
}

void ThrowRangeError(Napi::Env env, const char* fn, const std::string& message) {
  throw Napi::RangeError::New(env, std::string(fn) + ": " + message);
}

uint64_t ToIndex(const Napi::Value& value, const char* fn, const char* name, uint64_t max) {
  if (!value.IsNumber()) {
    ThrowTypeError(value.Env(), fn, std::string(name) + " must be a number");
  }
  const double d = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d < 0 || std::floor(d) != d || d > static_cast<double>(max)) {
    ThrowTypeError(value.Env(), fn,
                   std::string(name) + " must be an integer in [0, " + std::to_string(max) +
                       "], got " + value.ToString().Utf8Value());
  }
  return static_cast<uint64_t>(d);
}

int ToFd(const Napi::Value& value, const char* fn, const char* name) {
  return static_cast<int>(ToIndex(value, fn, name, INT_MAX));
}

bool ToBool(const Napi::Value& value, const char* fn, const char* name, bool optional) {
  if (optional && value.IsUndefined()) return false;
  if (!value.IsBoolean()) {
    ThrowTypeError(value.Env(), fn, std::string(name) + " must be a boolean");
  }
  return value.As<Napi::Boolean>().Value();
}

std::string ToPath(const Napi::Value& value, const char* fn, const char* name) {
  if (!value.IsString()) {
    ThrowTypeError(value.Env(), fn, std::string(name) + " must be a string");
  }
  std::string s = value.As<Napi::String>().Utf8Value();
  if (s.empty() || s.find('\0') != std::string::npos) {
    ThrowTypeError(value.Env(), fn, std::string(name) + " must be a non-empty string without NUL");
  }
  return s;
}

ByteRange ToBytes(const Napi::Value& value, const char* fn, const char* name) {
  if (value.IsArrayBuffer()) {
    auto ab = value.As<Napi::ArrayBuffer>();
    return {static_cast<uint8_t*>(ab.Data()), ab.ByteLength()};
  }
  if (value.IsTypedArray()) {
    auto ta = value.As<Napi::TypedArray>();
    auto* base = static_cast<uint8_t*>(ta.ArrayBuffer().Data());
    return {base == nullptr ? nullptr : base + ta.ByteOffset(), ta.ByteLength()};
  }
  if (value.IsDataView()) {
    auto dv = value.As<Napi::DataView>();
    auto* base = static_cast<uint8_t*>(dv.ArrayBuffer().Data());
    return {base == nullptr ? nullptr : base + dv.ByteOffset(), dv.ByteLength()};
  }
  ThrowTypeError(value.Env(), fn, std::string(name) + " must be an ArrayBuffer or an ArrayBufferView");
}

Napi::Object ToOptions(const Napi::Value& value, const char* fn, const char* name, bool optional) {
  if (optional && (value.IsUndefined() || value.IsNull())) return Napi::Object::New(value.Env());
  if (!value.IsObject()) {
    ThrowTypeError(value.Env(), fn, std::string(name) + " must be an object");
  }
  return value.As<Napi::Object>();
}

}  // namespace frame_ring
