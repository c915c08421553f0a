// The FFmpeg side of OpusEncoder, free of JS: converts QEMU's PCM (any format AudioOutListener.Init
// announces) to 48 kHz float with libswresample, cuts 20 ms frames (AVAudioFifo) and encodes them
// with libavcodec's libopus. Digital silence after a few frames is not encoded at all (FFmpeg 5.1's
// libopus wrapper has no DTX option): silence costs nothing on the wire.
#pragma once

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/audio_fifo.h>
#include <libswresample/swresample.h>
}

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct PcmFormat {
  int bits = 16;  // 8, 16 or 32
  bool isSigned = true;
  bool isFloat = false;
  int rate = 44100;
  int channels = 2;
  bool bigEndian = false;
};

struct OpusPacketOut {
  std::vector<uint8_t> data;
  int64_t ptsUs = 0;  // the packet's first sample, on the caller's clock
  int samples = 0;    // per channel, at 48 kHz
};

class OpusSession {
 public:
  static constexpr int kRate = 48000;
  static constexpr int kFrame = 960;  // 20 ms

  // Returns null (and *error) when the format is not one we take or libopus cannot be opened.
  static std::unique_ptr<OpusSession> Open(const PcmFormat& format, int bitrate, std::string* error);
  ~OpusSession();
  OpusSession(const OpusSession&) = delete;
  OpusSession& operator=(const OpusSession&) = delete;

  int outChannels() const { return outChannels_; }

  // Worker thread. `data` holds whole frames of the input format, its first frame at `ptsUs`.
  bool Encode(const uint8_t* data, size_t length, int64_t ptsUs, std::vector<OpusPacketOut>* out,
              std::string* error);
  // Worker thread. The sound stopped: pads what is buffered with silence to whole frames and adds
  // `ms` of silence, so receivers decode silence rather than concealing a loss.
  bool Silence(int ms, std::vector<OpusPacketOut>* out, std::string* error);

 private:
  OpusSession() = default;
  bool Normalize(const uint8_t* data, size_t length, const uint8_t** planes);
  bool Drain(std::vector<OpusPacketOut>* out, std::string* error);

  PcmFormat in_;
  int outChannels_ = 2;
  AVCodecContext* ctx_ = nullptr;
  SwrContext* swr_ = nullptr;
  AVAudioFifo* fifo_ = nullptr;
  AVFrame* frame_ = nullptr;
  AVPacket* packet_ = nullptr;
  std::vector<uint8_t> normalized_;  // input made signed and native-endian when it was not
  std::vector<float> converted_;
  // The timeline of a sound: its first sample's time (caller's clock, us), and the 48 kHz samples
  // taken out of the FIFO since (the next frame's first sample is anchorUs_ + that much).
  int64_t anchorUs_ = 0;
  int64_t headSamples_ = 0;
  int64_t UsAt(int64_t samples) const { return anchorUs_ + samples * 1000 / (kRate / 1000); }
  bool started_ = false;
  int silentRun_ = 0;  // consecutive silent frames
};
