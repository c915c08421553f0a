{
  "targets": [
    {
      "target_name": "encoder",
      "sources": [
        "src/addon.cc",
        "src/av-error.cc",
        "src/decode-worker.cc",
        "src/encode-worker.cc",
        "src/encoder-options.cc",
        "src/ff-log.cc",
        "src/flush-worker.cc",
        "src/h264-decode-session.cc",
        "src/h264-decoder.cc",
        "src/h264-encoder.cc",
        "src/h264-session.cc",
        "src/opus-encode-worker.cc",
        "src/opus-encoder.cc",
        "src/opus-session.cc",
        "src/promise-worker.cc",
        "src/odd-edges.cc",
        "src/sws-converter.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!(node -p \"require('@qemu-webrtc/native-kit/include')\")"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags": ["<!@(pkg-config --cflags libavcodec libavutil libswresample libswscale)"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-O2"],
      "libraries": ["<!@(pkg-config --libs libavcodec libavutil libswresample libswscale)"],
      "xcode_settings": { "GCC_ENABLE_CPP_EXCEPTIONS": "YES" }
    }
  ]
}
