#include "opus-session.h"

#include "av-error.h"

extern "C" {
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
}

#include <algorithm>
#include <cmath>
#include <cstring>

namespace {

// Silent frames still encoded after sound (the decoder fades to silence), then none.
constexpr int kSilentFramesSent = 5;
// A chunk starting this much after the FIFO's end is a new sound: what is buffered is dropped.
constexpr int64_t kGapUs = 100000;
// Peak below this is silence (float samples in [-1, 1]).
constexpr float kSilencePeak = 1.0f / 32768.0f;

AVSampleFormat InputSampleFormat(const PcmFormat& f) {
  if (f.isFloat) return AV_SAMPLE_FMT_FLT;
  switch (f.bits) {
    case 8:
      return AV_SAMPLE_FMT_U8;  // signed 8-bit is flipped to unsigned first
    case 16:
      return AV_SAMPLE_FMT_S16;  // unsigned 16-bit is flipped to signed first
    default:
      return AV_SAMPLE_FMT_S32;
  }
}

}  // namespace

std::unique_ptr<OpusSession> OpusSession::Open(const PcmFormat& format, int bitrate, std::string* error) {
  if (!(format.bits == 8 || format.bits == 16 || format.bits == 32) || (format.isFloat && format.bits != 32) ||
      format.rate < 1000 || format.rate > 384000 || format.channels < 1 || format.channels > 8) {
    *error = "unsupported PCM format";
    return nullptr;
  }
  std::unique_ptr<OpusSession> s(new OpusSession());
  s->in_ = format;
  s->outChannels_ = format.channels >= 2 ? 2 : 1;
  const AVCodec* codec = avcodec_find_encoder_by_name("libopus");
  if (codec == nullptr) {
    *error = "libavcodec has no libopus encoder";
    return nullptr;
  }
  s->ctx_ = avcodec_alloc_context3(codec);
  s->frame_ = av_frame_alloc();
  s->packet_ = av_packet_alloc();
  if (s->ctx_ == nullptr || s->frame_ == nullptr || s->packet_ == nullptr) {
    *error = "out of memory";
    return nullptr;
  }
  AVCodecContext* c = s->ctx_;
  c->sample_rate = kRate;
  c->sample_fmt = AV_SAMPLE_FMT_FLT;
  av_channel_layout_default(&c->ch_layout, s->outChannels_);
  c->bit_rate = bitrate;
  c->time_base = AVRational{1, kRate};
  AVDictionary* opts = nullptr;
  av_dict_set(&opts, "frame_duration", "20", 0);
  av_dict_set(&opts, "application", "audio", 0);
  // Constrained VBR: unconstrained, a square wave (the PC speaker) takes twice the target.
  av_dict_set(&opts, "vbr", "constrained", 0);
  int rc = avcodec_open2(c, codec, &opts);
  av_dict_free(&opts);
  if (rc < 0) {
    *error = "libopus: " + AvErrorText(rc);
    return nullptr;
  }
  AVChannelLayout inLayout{};
  av_channel_layout_default(&inLayout, format.channels);
  rc = swr_alloc_set_opts2(&s->swr_, &c->ch_layout, AV_SAMPLE_FMT_FLT, kRate, &inLayout,
                           InputSampleFormat(format), format.rate, 0, nullptr);
  av_channel_layout_uninit(&inLayout);
  if (rc < 0 || (rc = swr_init(s->swr_)) < 0) {
    *error = "libswresample: " + AvErrorText(rc);
    return nullptr;
  }
  s->fifo_ = av_audio_fifo_alloc(AV_SAMPLE_FMT_FLT, s->outChannels_, kRate);
  if (s->fifo_ == nullptr) {
    *error = "out of memory";
    return nullptr;
  }
  return s;
}

OpusSession::~OpusSession() {
  av_packet_free(&packet_);
  av_frame_free(&frame_);
  av_audio_fifo_free(fifo_);
  swr_free(&swr_);
  avcodec_free_context(&ctx_);
}

// libswresample takes signed 16/32-bit, unsigned 8-bit and float, in host order: flip the sign bit
// of the others and swap big-endian bytes (bit operations on a copy, no arithmetic on samples).
bool OpusSession::Normalize(const uint8_t* data, size_t length, const uint8_t** planes) {
  const int bytes = in_.bits / 8;
  const bool flip = !in_.isFloat && (in_.bits == 8 ? in_.isSigned : !in_.isSigned);
  if (!flip && !in_.bigEndian) {
    planes[0] = data;
    return true;
  }
  normalized_.assign(data, data + length);
  for (size_t i = 0; i + bytes <= length; i += bytes) {
    uint8_t* s = normalized_.data() + i;
    if (in_.bigEndian) std::reverse(s, s + bytes);
    if (flip) s[bytes - 1] ^= 0x80;  // little-endian now: the most significant byte is last
  }
  planes[0] = normalized_.data();
  return true;
}

bool OpusSession::Encode(const uint8_t* data, size_t length, int64_t ptsUs, std::vector<OpusPacketOut>* out,
                         std::string* error) {
  const int frameBytes = (in_.bits / 8) * in_.channels;
  const int inSamples = static_cast<int>(length / frameBytes);
  if (inSamples <= 0) return true;
  const int64_t expectedUs = UsAt(headSamples_ + av_audio_fifo_size(fifo_));
  if (!started_ || ptsUs > expectedUs + kGapUs || ptsUs + kGapUs < expectedUs) {
    // A new sound (or a drift or clock jump past kGapUs): start the timeline here. Between, the
    // timeline follows the samples (the caller's receive times jitter).
    av_audio_fifo_reset(fifo_);
    started_ = true;
    anchorUs_ = ptsUs;
    headSamples_ = 0;
  }
  const uint8_t* planes[1] = {nullptr};
  Normalize(data, length, planes);
  const int maxOut = swr_get_out_samples(swr_, inSamples);
  if (maxOut < 0) {
    *error = "libswresample: " + AvErrorText(maxOut);
    return false;
  }
  converted_.resize(static_cast<size_t>(maxOut) * outChannels_);
  uint8_t* outPlanes[1] = {reinterpret_cast<uint8_t*>(converted_.data())};
  const int got = swr_convert(swr_, outPlanes, maxOut, planes, inSamples);
  if (got < 0) {
    *error = "libswresample: " + AvErrorText(got);
    return false;
  }
  if (got > 0 && av_audio_fifo_write(fifo_, reinterpret_cast<void**>(outPlanes), got) < got) {
    *error = "out of memory";
    return false;
  }
  return Drain(out, error);
}

bool OpusSession::Silence(int ms, std::vector<OpusPacketOut>* out, std::string* error) {
  if (!started_) return true;
  const int buffered = av_audio_fifo_size(fifo_);
  int pad = (kFrame - buffered % kFrame) % kFrame + ms * (kRate / 1000);
  converted_.assign(static_cast<size_t>(pad) * outChannels_, 0.0f);
  uint8_t* planes[1] = {reinterpret_cast<uint8_t*>(converted_.data())};
  if (pad > 0 && av_audio_fifo_write(fifo_, reinterpret_cast<void**>(planes), pad) < pad) {
    *error = "out of memory";
    return false;
  }
  if (!Drain(out, error)) return false;
  started_ = false;  // the next sound starts its own timeline
  return true;
}

bool OpusSession::Drain(std::vector<OpusPacketOut>* out, std::string* error) {
  while (av_audio_fifo_size(fifo_) >= kFrame) {
    const int64_t headUs = UsAt(headSamples_);
    headSamples_ += kFrame;
    av_frame_unref(frame_);
    frame_->nb_samples = kFrame;
    frame_->format = AV_SAMPLE_FMT_FLT;
    frame_->sample_rate = kRate;
    int rc = av_channel_layout_copy(&frame_->ch_layout, &ctx_->ch_layout);
    if (rc >= 0) rc = av_frame_get_buffer(frame_, 0);
    if (rc < 0) {
      *error = "frame: " + AvErrorText(rc);
      return false;
    }
    if (av_audio_fifo_read(fifo_, reinterpret_cast<void**>(frame_->data), kFrame) < kFrame) {
      *error = "audio FIFO read failed";
      return false;
    }
    const float* samples = reinterpret_cast<const float*>(frame_->data[0]);
    float peak = 0;
    for (int i = 0; i < kFrame * outChannels_; i++) peak = std::max(peak, std::fabs(samples[i]));
    silentRun_ = peak < kSilencePeak ? silentRun_ + 1 : 0;
    if (silentRun_ > kSilentFramesSent) continue;  // silence costs nothing
    frame_->pts = headUs / 1000 * (kRate / 1000) + (headUs % 1000) * (kRate / 1000) / 1000;  // no overflow
    rc = avcodec_send_frame(ctx_, frame_);
    if (rc < 0) {
      *error = "libopus: " + AvErrorText(rc);
      return false;
    }
    for (;;) {
      rc = avcodec_receive_packet(ctx_, packet_);
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) break;
      if (rc < 0) {
        *error = "libopus: " + AvErrorText(rc);
        return false;
      }
      OpusPacketOut p;
      p.data.assign(packet_->data, packet_->data + packet_->size);
      p.samples = packet_->duration > 0 ? static_cast<int>(packet_->duration) : kFrame;
      // The packet's pts is its frame's minus libopus's look-ahead (pre-skip): use the frame's, so
      // the RTP timestamp stays on the caller's clock.
      const int64_t samples = packet_->pts + ctx_->initial_padding;
      p.ptsUs = samples / (kRate / 1000) * 1000 + samples % (kRate / 1000) * 1000 / (kRate / 1000);
      out->push_back(std::move(p));
      av_packet_unref(packet_);
    }
  }
  return true;
}
