// The libavcodec side of H264Decoder, free of JS: decodes Annex B access units and hands each
// picture out as packed BGRA (converted with the matrix and range the stream signals, BT.601 when
// unsignalled) or as the decoded I420 planes themselves.
#pragma once

#include "sws-converter.h"

extern "C" {
#include <libavcodec/avcodec.h>
}

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct DecodedPicture {
  int width = 0;
  int height = 0;
  bool keyframe = false;
  int64_t ptsUs = 0;
  std::string colorSpace;
  std::string colorRange;
  std::string colorPrimaries;
  std::string colorTransfer;
  // BGRA: width * 4 bytes per row. I420: Y (width x height), then U and V (each
  // ceil(width/2) x ceil(height/2)), rows packed.
  std::unique_ptr<uint8_t[]> pixels;
  size_t size = 0;
};

class H264DecodeSession {
 public:
  // Returns null (and *error) when the decoder cannot be opened.
  static std::unique_ptr<H264DecodeSession> Open(int threads, bool i420, std::string* error);
  ~H264DecodeSession();
  H264DecodeSession(const H264DecodeSession&) = delete;
  H264DecodeSession& operator=(const H264DecodeSession&) = delete;

  // Worker thread. `packet` null drains the decoder (and makes it ready for a new stream).
  bool Decode(AVPacket* packet, std::vector<DecodedPicture>* out, std::string* error);

 private:
  H264DecodeSession() = default;
  bool Receive(std::vector<DecodedPicture>* out, std::string* error);
  bool ToBgra(DecodedPicture* picture, std::string* error);
  bool ToI420(DecodedPicture* picture, std::string* error);

  AVCodecContext* ctx_ = nullptr;
  AVFrame* frame_ = nullptr;
  bool i420_ = false;
  SwsConverter sws_;
};
