#include "js-bytes.h"

bool JsBytes::Get(const Napi::Value& value, const uint8_t** data, size_t* length) {
  if (value.IsArrayBuffer()) {
    Napi::ArrayBuffer ab = value.As<Napi::ArrayBuffer>();
    *data = static_cast<const uint8_t*>(ab.Data());
    *length = ab.ByteLength();
    return true;
  }
  if (value.IsTypedArray()) {
    // napi_get_typedarray_info's data pointer already includes byteOffset, and unlike
    // napi_get_arraybuffer_info it works for views on a SharedArrayBuffer.
    napi_typedarray_type type;
    size_t elements = 0;
    void* raw = nullptr;
    if (napi_get_typedarray_info(value.Env(), value, &type, &elements, &raw, nullptr, nullptr) != napi_ok) {
      return false;
    }
    *data = static_cast<const uint8_t*>(raw);
    *length = value.As<Napi::TypedArray>().ByteLength();
    return true;
  }
  return false;
}
