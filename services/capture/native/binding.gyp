{
  "targets": [
    {
      "target_name": "capture",
      "sources": [
        "addon.cc",
        "fd-functions.cc",
        "native-error.cc",
        "drm-format.cc",
        "gl-thread.cc",
        "egl-context.cc",
        "dmabuf-image.cc",
        "importer-core.cc",
        "egl-importer.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!(node -p \"require('@qemu-webrtc/native-kit/include')\")"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "EGL_NO_X11",
        "MESA_EGL_NO_X11_HEADERS"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": [
        "-std=c++17",
        "-Wall",
        "-Wextra",
        "-O2",
        "<!@(pkg-config --cflags egl glesv2 libdrm)"
      ],
      "libraries": ["<!@(pkg-config --libs egl glesv2)"]
    }
  ]
}
