#include "h264-decode-session.h"

#include "ff-log.h"
#include "av-error.h"

#include <cstring>

extern "C" {
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

namespace {

std::string NameOr(const char* name, const char* fallback) { return name != nullptr ? name : fallback; }

}  // namespace

std::unique_ptr<H264DecodeSession> H264DecodeSession::Open(int threads, bool i420, std::string* error) {
  FfLog::Capture capture;
  std::unique_ptr<H264DecodeSession> session(new H264DecodeSession());
  session->i420_ = i420;
  const AVCodec* codec = avcodec_find_decoder(AV_CODEC_ID_H264);
  if (codec == nullptr) {
    *error = "no H.264 decoder in this FFmpeg build";
    return nullptr;
  }
  session->ctx_ = avcodec_alloc_context3(codec);
  session->frame_ = av_frame_alloc();
  if (session->ctx_ == nullptr || session->frame_ == nullptr) {
    *error = "out of memory";
    return nullptr;
  }
  session->ctx_->thread_count = threads;
  session->ctx_->thread_type = FF_THREAD_SLICE;  // no frame-threading delay
  session->ctx_->flags |= AV_CODEC_FLAG_LOW_DELAY;
  const int ret = avcodec_open2(session->ctx_, codec, nullptr);
  if (ret < 0) {
    *error = "avcodec_open2(h264 decoder): " + AvErrorText(ret);
    if (!capture.Text().empty()) *error += ": " + capture.Text();
    return nullptr;
  }
  return session;
}

H264DecodeSession::~H264DecodeSession() {
  avcodec_free_context(&ctx_);
  av_frame_free(&frame_);
}

bool H264DecodeSession::Decode(AVPacket* packet, std::vector<DecodedPicture>* out, std::string* error) {
  FfLog::Capture capture;
  const int ret = avcodec_send_packet(ctx_, packet);
  if (ret < 0 && !(packet == nullptr && ret == AVERROR_EOF)) {
    *error = "avcodec_send_packet: " + AvErrorText(ret);
    if (!capture.Text().empty()) *error += ": " + capture.Text();
    return false;
  }
  if (!Receive(out, error)) {
    if (!capture.Text().empty()) *error += ": " + capture.Text();
    return false;
  }
  if (packet == nullptr) avcodec_flush_buffers(ctx_);
  return true;
}

bool H264DecodeSession::Receive(std::vector<DecodedPicture>* out, std::string* error) {
  for (;;) {
    const int ret = avcodec_receive_frame(ctx_, frame_);
    if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return true;
    if (ret < 0) {
      *error = "avcodec_receive_frame: " + AvErrorText(ret);
      return false;
    }
    DecodedPicture picture;
    picture.width = frame_->width;
    picture.height = frame_->height;
    picture.keyframe = frame_->key_frame != 0;
    picture.ptsUs = frame_->pts == AV_NOPTS_VALUE ? frame_->best_effort_timestamp : frame_->pts;
    picture.colorSpace = NameOr(av_color_space_name(frame_->colorspace), "unknown");
    picture.colorRange = NameOr(av_color_range_name(frame_->color_range), "unknown");
    picture.colorPrimaries = NameOr(av_color_primaries_name(frame_->color_primaries), "unknown");
    picture.colorTransfer = NameOr(av_color_transfer_name(frame_->color_trc), "unknown");

    const bool ok = i420_ ? ToI420(&picture, error) : ToBgra(&picture, error);
    av_frame_unref(frame_);
    if (!ok) return false;
    out->push_back(std::move(picture));
  }
}

bool H264DecodeSession::ToBgra(DecodedPicture* picture, std::string* error) {
  SwsSetup setup;
  setup.srcWidth = frame_->width;
  setup.srcHeight = frame_->height;
  setup.srcFormat = static_cast<AVPixelFormat>(frame_->format);
  setup.dstWidth = frame_->width;
  setup.dstHeight = frame_->height;
  setup.dstFormat = AV_PIX_FMT_BGRA;
  setup.flags = SWS_BILINEAR | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT;
  setup.yuvColorspace = frame_->colorspace == AVCOL_SPC_BT709 ? SWS_CS_ITU709 : SWS_CS_DEFAULT;
  setup.yuvFullRange = frame_->color_range == AVCOL_RANGE_JPEG;
  if (!sws_.Configure(setup, error)) return false;
  const size_t stride = static_cast<size_t>(frame_->width) * 4;
  picture->size = stride * static_cast<size_t>(frame_->height);
  picture->pixels.reset(new uint8_t[picture->size]);
  uint8_t* dst[4] = {picture->pixels.get(), nullptr, nullptr, nullptr};
  const int dstStride[4] = {static_cast<int>(stride), 0, 0, 0};
  sws_.Convert(frame_->data, frame_->linesize, dst, dstStride);
  return true;
}

bool H264DecodeSession::ToI420(DecodedPicture* picture, std::string* error) {
  if (frame_->format != AV_PIX_FMT_YUV420P && frame_->format != AV_PIX_FMT_YUVJ420P) {
    *error = std::string("decoded picture is ") +
             NameOr(av_get_pix_fmt_name(static_cast<AVPixelFormat>(frame_->format)), "?") + ", not yuv420p";
    return false;
  }
  const size_t w = static_cast<size_t>(frame_->width);
  const size_t h = static_cast<size_t>(frame_->height);
  const size_t cw = (w + 1) / 2;
  const size_t ch = (h + 1) / 2;
  picture->size = w * h + 2 * cw * ch;
  picture->pixels.reset(new uint8_t[picture->size]);
  uint8_t* out = picture->pixels.get();
  const size_t widths[3] = {w, cw, cw};
  const size_t heights[3] = {h, ch, ch};
  for (int plane = 0; plane < 3; plane++) {
    for (size_t row = 0; row < heights[plane]; row++) {
      const uint8_t* in = frame_->data[plane] + row * static_cast<size_t>(frame_->linesize[plane]);
      std::memcpy(out, in, widths[plane]);
      out += widths[plane];
    }
  }
  return true;
}
