// The bytes behind a JS ArrayBuffer or typed array (also one on a SharedArrayBuffer), without
// copying. The caller keeps the JS value referenced while it uses the pointer.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>

class JsBytes {
 public:
  // False when `value` is neither an ArrayBuffer nor a typed array.
  static bool Get(const Napi::Value& value, const uint8_t** data, size_t* length);
};
