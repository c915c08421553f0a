// Argument conversion for the addon's functions: JS values to plain C++ values, or a thrown
// TypeError naming the function and the argument.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace frame_ring {

// A byte range inside an ArrayBuffer (for a view: from its byteOffset, byteLength long).
struct ByteRange {
  uint8_t* data;
  size_t length;
};

// Largest integer a JS number holds exactly (2^53 - 1).
constexpr uint64_t kMaxSafeInteger = 9007199254740991ULL;

// A non-negative integer number not above `max`; anything else throws TypeError.
uint64_t ToIndex(const Napi::Value& value, const char* fn, const char* name,
                 uint64_t max = kMaxSafeInteger);

// A file descriptor: an integer in [0, INT32_MAX].
int ToFd(const Napi::Value& value, const char* fn, const char* name);

// A boolean (undefined is false only when `optional`).
bool ToBool(const Napi::Value& value, const char* fn, const char* name, bool optional = false);

// A non-empty string without NUL bytes.
std::string ToPath(const Napi::Value& value, const char* fn, const char* name);

// An ArrayBuffer, a typed array, a Buffer or a DataView.
ByteRange ToBytes(const Napi::Value& value, const char* fn, const char* name);

// An object (or undefined/null when `optional`, then an empty object is returned).
Napi::Object ToOptions(const Napi::Value& value, const char* fn, const char* name, bool optional);

// Throws a TypeError "fn: message".
[[noreturn]] void ThrowTypeError(Napi::Env env, const char* fn, const std::string& message);

// Throws a RangeError "fn: message".
[[noreturn]] void ThrowRangeError(Napi::Env env, const char* fn, const std::string& message);

}  // namespace frame_ring
