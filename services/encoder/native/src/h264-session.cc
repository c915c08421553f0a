#include "h264-session.h"

#include "ff-log.h"
#include "av-error.h"

extern "C" {
#include <libavutil/hwcontext.h>
#include <libavutil/opt.h>
#include <libavutil/time.h>
#include <libswscale/swscale.h>
}

#include <cstring>

namespace {

// Time base of pts: microseconds (ptsUs goes through unchanged). Rate control assumes `fps`.
constexpr AVRational kTimeBase = {1, 1000000};

int X264ProfileIdc(const std::string& profile) {
  if (profile == "main") return FF_PROFILE_H264_MAIN;
  if (profile == "high") return FF_PROFILE_H264_HIGH;
  return FF_PROFILE_H264_CONSTRAINED_BASELINE;
}

const char* ProfileName(const std::string& profile) {
  if (profile == "main") return "main";
  if (profile == "high") return "high";
  return "baseline";  // x264's and NVENC's baseline is constrained baseline (no FMO/ASO/slice groups)
}

}  // namespace

EncodedUnit::EncodedUnit(EncodedUnit&& other) noexcept
    : packets(std::move(other.packets)), torn(other.torn), keyframe(other.keyframe), ptsUs(other.ptsUs) {
  other.packets.clear();
}

EncodedUnit& EncodedUnit::operator=(EncodedUnit&& other) noexcept {
  if (this != &other) {
    for (AVPacket*& p : packets) av_packet_free(&p);
    packets = std::move(other.packets);
    other.packets.clear();
    torn = other.torn;
    keyframe = other.keyframe;
    ptsUs = other.ptsUs;
  }
  return *this;
}

EncodedUnit::~EncodedUnit() {
  for (AVPacket*& p : packets) av_packet_free(&p);
}

size_t EncodedUnit::size() const {
  size_t n = 0;
  for (const AVPacket* p : packets) n += static_cast<size_t>(p->size);
  return n;
}

void EncodedUnit::CopyTo(uint8_t* out) const {
  for (const AVPacket* p : packets) {
    std::memcpy(out, p->data, static_cast<size_t>(p->size));
    out += p->size;
  }
}

H264Session::H264Session(const EncoderOptions& opts, Kind kind)
    : opts_(opts),
      kind_(kind),
      bitrate_(opts.bitrateBps),
      fps_(opts.fps),
      pendingBitrate_(opts.bitrateBps),
      pendingFps_(opts.fps) {}

H264Session::~H264Session() { CloseCodec(); }

const char* H264Session::CodecNameOf(Kind kind) {
  switch (kind) {
    case Kind::kVaapi:
      return "h264_vaapi";
    case Kind::kNvenc:
      return "h264_nvenc";
    case Kind::kLibx264:
      break;
  }
  return "libx264";
}

std::unique_ptr<H264Session> H264Session::Open(const EncoderOptions& opts, std::string* fallbackReason,
                                               std::string* error) {
  std::vector<Kind> order;
  switch (opts.codec) {
    case CodecChoice::kVaapi:
      order = {Kind::kVaapi, Kind::kLibx264};
      break;
    case CodecChoice::kNvenc:
      order = {Kind::kNvenc, Kind::kLibx264};
      break;
    case CodecChoice::kAuto:
      order = {Kind::kNvenc, Kind::kVaapi, Kind::kLibx264};
      break;
    case CodecChoice::kLibx264:
      order = {Kind::kLibx264};
      break;
  }
  std::string reasons;
  for (Kind kind : order) {
    std::unique_ptr<H264Session> session(new H264Session(opts, kind));
    std::string why;
    if (session->OpenCodec(&why)) {
      *fallbackReason = reasons;
      return session;
    }
    if (kind == Kind::kLibx264) {
      *error = why;
      return nullptr;
    }
    // Every reason starts with the codec's name.
    if (why.rfind(CodecNameOf(kind), 0) != 0) why = std::string(CodecNameOf(kind)) + ": " + why;
    reasons += (reasons.empty() ? "" : "; ") + why;
  }
  *error = "no H.264 encoder could be opened";
  return nullptr;
}

std::string H264Session::Describe(const char* call, int code, const std::string& logText) const {
  std::string text = std::string(CodecNameOf(kind_)) + ": " + call + ": " + AvErrorText(code);
  if (!logText.empty()) text += ": " + logText;
  return text;
}

bool H264Session::OpenVaapiFrames(std::string* error) {
  const char* device = opts_.vaapiDevice.empty() ? nullptr : opts_.vaapiDevice.c_str();
  int ret = av_hwdevice_ctx_create(&hwDevice_, AV_HWDEVICE_TYPE_VAAPI, device, nullptr, 0);
  if (ret < 0) {
    *error = std::string("av_hwdevice_ctx_create(vaapi, ") + (device ? device : "default") +
             "): " + AvErrorText(ret);
    return false;
  }
  hwFrames_ = av_hwframe_ctx_alloc(hwDevice_);
  if (hwFrames_ == nullptr) {
    *error = "av_hwframe_ctx_alloc(vaapi) failed";
    return false;
  }
  auto* frames = reinterpret_cast<AVHWFramesContext*>(hwFrames_->data);
  frames->format = AV_PIX_FMT_VAAPI;
  frames->sw_format = AV_PIX_FMT_NV12;
  frames->width = opts_.CodedWidth();
  frames->height = opts_.CodedHeight();
  ret = av_hwframe_ctx_init(hwFrames_);
  if (ret < 0) {
    *error = "av_hwframe_ctx_init(vaapi NV12): " + AvErrorText(ret);
    return false;
  }
  return true;
}

bool H264Session::SetCodecOptions(std::string* error) {
  struct Option {
    const char* key;
    std::string value;
    bool required;
  };
  std::vector<Option> options;
  switch (kind_) {
    case Kind::kLibx264: {
      // zerolatency: no lookahead, no B-frames, sliced threads (frame latency 0), no mb-tree.
      // Constant-frame-rate rate control (zerolatency's default): x264's VFR mode would follow
      // the timestamps but holds every frame back until the next one arrives.
      // repeat-headers: SPS/PPS before every IDR (no global header); forced-idr: a forced key
      // frame is an IDR, not an open-GOP I frame.
      const std::string params = "repeat-headers=1:annexb=1:aud=0:sliced-threads=1:"
                                 "rc-lookahead=0:sync-lookahead=0:bframes=0:log=" +
                                 std::to_string(FfLog::X264Level());
      options = {{"preset", opts_.preset, true},
                 {"tune", "zerolatency", true},
                 {"profile", ProfileName(opts_.profile), true},
                 {"forced-idr", "1", true},
                 {"x264-params", params, true}};
      break;
    }
    case Kind::kNvenc:
      options = {{"preset", "p1", false},       {"tune", "ull", false},   {"zerolatency", "1", false},
                 {"delay", "0", false},         {"rc", "cbr", false},     {"forced-idr", "1", true},
                 {"profile", ProfileName(opts_.profile), true}};
      break;
    case Kind::kVaapi:
      options = {{"async_depth", "1", false}, {"aud", "0", false}};
      break;
  }
  for (const Option& o : options) {
    const int ret = av_opt_set(ctx_->priv_data, o.key, o.value.c_str(), 0);
    if (ret < 0 && o.required) {
      *error = std::string(CodecNameOf(kind_)) + ": setting option " + o.key + "=" + o.value + ": " +
               AvErrorText(ret);
      return false;
    }
  }
  return true;
}

void H264Session::ApplyRateControl() {
  ctx_->bit_rate = bitrate_;
  ctx_->rc_max_rate = bitrate_;
  ctx_->rc_buffer_size =
      static_cast<int>(EncoderOptions::VbvBufferBits(bitrate_, fps_, opts_.vbvBufferFrames));
}

bool H264Session::OpenCodec(std::string* error) {
  FfLog::Capture capture(AV_LOG_VERBOSE);  // hardware probes explain themselves at verbose level
  const char* name = CodecNameOf(kind_);
  const AVCodec* codec = avcodec_find_encoder_by_name(name);
  if (codec == nullptr) {
    *error = std::string(name) + ": not in this FFmpeg build";
    return false;
  }
  if (kind_ == Kind::kVaapi && !OpenVaapiFrames(error)) {
    if (!capture.Text().empty()) *error += ": " + capture.Text();
    *error = std::string(name) + ": " + *error;
    CloseCodec();
    return false;
  }
  ctx_ = avcodec_alloc_context3(codec);
  if (ctx_ == nullptr) {
    *error = std::string(name) + ": avcodec_alloc_context3 failed";
    return false;
  }
  ctx_->width = opts_.CodedWidth();
  ctx_->height = opts_.CodedHeight();
  ctx_->time_base = kTimeBase;
  ctx_->framerate = av_d2q(fps_, 1001000);
  ctx_->sample_aspect_ratio = AVRational{1, 1};
  ctx_->pix_fmt = kind_ == Kind::kVaapi ? AV_PIX_FMT_VAAPI : AV_PIX_FMT_YUV420P;
  ApplyRateControl();
  ctx_->gop_size = opts_.keyintMax;
  ctx_->max_b_frames = 0;
  ctx_->profile = X264ProfileIdc(opts_.profile);
  ctx_->color_primaries = AVCOL_PRI_BT709;
  ctx_->color_trc = AVCOL_TRC_BT709;
  ctx_->colorspace = AVCOL_SPC_BT709;
  ctx_->color_range = AVCOL_RANGE_MPEG;
  ctx_->thread_count = opts_.ResolvedThreads();
  ctx_->thread_type = FF_THREAD_SLICE;
  ctx_->flags &= ~AV_CODEC_FLAG_GLOBAL_HEADER;
  if (hwFrames_ != nullptr) ctx_->hw_frames_ctx = av_buffer_ref(hwFrames_);
  if (!SetCodecOptions(error)) {
    CloseCodec();
    return false;
  }
  int ret = avcodec_open2(ctx_, codec, nullptr);
  if (ret < 0) {
    *error = Describe("avcodec_open2", ret, capture.Text());
    CloseCodec();
    return false;
  }
  // libavcodec only warns about x264-params it cannot parse; for us that is a bug to report.
  if (capture.Text().find("Error parsing option") != std::string::npos) {
    *error = std::string(name) + ": " + capture.Text();
    CloseCodec();
    return false;
  }
  swFrame_ = av_frame_alloc();
  hwFrame_ = av_frame_alloc();
  if (swFrame_ == nullptr || hwFrame_ == nullptr) {
    *error = std::string(name) + ": av_frame_alloc failed";
    CloseCodec();
    return false;
  }
  swFrame_->format = kind_ == Kind::kVaapi ? AV_PIX_FMT_NV12 : AV_PIX_FMT_YUV420P;
  swFrame_->width = opts_.CodedWidth();
  swFrame_->height = opts_.CodedHeight();
  ret = av_frame_get_buffer(swFrame_, 0);
  if (ret < 0) {
    *error = Describe("av_frame_get_buffer", ret, capture.Text());
    CloseCodec();
    return false;
  }
  SwsSetup setup;
  setup.srcWidth = opts_.width;
  setup.srcHeight = opts_.height;
  // BGRX and BGRA alike: swscale has SIMD input code for BGRA (not BGR0) and drops alpha when
  // the output has none.
  setup.srcFormat = AV_PIX_FMT_BGRA;
  setup.dstWidth = opts_.outputWidth;
  setup.dstHeight = opts_.outputHeight;
  setup.dstFormat = static_cast<AVPixelFormat>(swFrame_->format);
  // Same size: only chroma is subsampled (2x1 average, then rows picked), the fastest path.
  // Scaled renditions: bilinear (swscale widens the filter when downscaling).
  const bool sameSize = opts_.width == opts_.outputWidth && opts_.height == opts_.outputHeight;
  setup.flags = sameSize ? SWS_POINT : SWS_BILINEAR;
  setup.yuvColorspace = SWS_CS_ITU709;
  setup.yuvFullRange = false;
  if (!sws_.Configure(setup, error)) {
    CloseCodec();
    return false;
  }
  codecName_ = name;
  return true;
}

void H264Session::CloseCodec() {
  avcodec_free_context(&ctx_);
  av_frame_free(&swFrame_);
  av_frame_free(&hwFrame_);
  av_buffer_unref(&hwFrames_);
  av_buffer_unref(&hwDevice_);
}

bool H264Session::SetBitrate(int64_t bitrateBps) {
  pendingBitrate_.store(bitrateBps);
  return ReconfiguresInPlace();
}

bool H264Session::SetFps(double fps) {
  // No encoder here changes its frame rate in place (x264_encoder_reconfig keeps fps, and
  // libavcodec does not pass it on): the next Encode() reopens the codec, starting with an IDR.
  pendingFps_.store(fps);
  return false;
}

bool H264Session::ApplyPending(std::string* error) {
  const int64_t bitrate = pendingBitrate_.load();
  const double fps = pendingFps_.load();
  if (bitrate == bitrate_ && fps == fps_) return true;
  const bool fpsChanged = fps != fps_;
  bitrate_ = bitrate;
  fps_ = fps;
  if (ctx_ == nullptr) return true;  // the next open uses them
  if (!fpsChanged && ReconfiguresInPlace()) {
    // libx264 (x264_encoder_reconfig) and nvenc pick these up before their next frame.
    ApplyRateControl();
    return true;
  }
  CloseCodec();
  reopens_++;
  return OpenCodec(error);
}

bool H264Session::Convert(const EncodeJob& job, AVFrame** input, std::string* error) {
  int ret = av_frame_make_writable(swFrame_);
  if (ret < 0) {
    *error = Describe("av_frame_make_writable", ret, "");
    return false;
  }
  const uint8_t* src[4] = {job.data, nullptr, nullptr, nullptr};
  const int srcStride[4] = {job.stride, 0, 0, 0};
  sws_.Convert(src, srcStride, swFrame_->data, swFrame_->linesize);

  // Odd sizes: the coded picture is one column/row larger; repeat the edge so that the padding
  // neither bleeds into the visible picture nor costs bits. Chroma already covers it (swscale
  // writes ceil(w/2) x ceil(h/2) chroma samples).
  const int w = opts_.outputWidth;
  const int h = opts_.outputHeight;
  uint8_t* y = swFrame_->data[0];
  const int ys = swFrame_->linesize[0];
  if (opts_.CodedWidth() != w) {
    for (int row = 0; row < h; row++) y[row * ys + w] = y[row * ys + w - 1];
  }
  if (opts_.CodedHeight() != h) std::memcpy(y + h * ys, y + (h - 1) * ys, opts_.CodedWidth());

  *input = swFrame_;
  if (kind_ == Kind::kVaapi) {
    av_frame_unref(hwFrame_);
    ret = av_hwframe_get_buffer(hwFrames_, hwFrame_, 0);
    if (ret < 0) {
      *error = Describe("av_hwframe_get_buffer", ret, "");
      return false;
    }
    ret = av_hwframe_transfer_data(hwFrame_, swFrame_, 0);
    if (ret < 0) {
      *error = Describe("av_hwframe_transfer_data", ret, "");
      return false;
    }
    *input = hwFrame_;
  }
  return true;
}

bool H264Session::Receive(EncodedUnit* unit, std::string* error) {
  for (;;) {
    AVPacket* packet = av_packet_alloc();
    if (packet == nullptr) {
      *error = "av_packet_alloc failed";
      return false;
    }
    const int ret = avcodec_receive_packet(ctx_, packet);
    if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) {
      av_packet_free(&packet);
      return true;
    }
    if (ret < 0) {
      av_packet_free(&packet);
      *error = Describe("avcodec_receive_packet", ret, "");
      return false;
    }
    if (unit->packets.empty()) {
      unit->keyframe = (packet->flags & AV_PKT_FLAG_KEY) != 0;
      unit->ptsUs = packet->pts;
    }
    unit->packets.push_back(packet);
  }
}

bool H264Session::Encode(const EncodeJob& job, EncodedUnit* unit, EncodeTimings* timings,
                         std::string* error) {
  FfLog::Capture capture;
  bool forceKeyframe = job.forceKeyframe || keyframeRequested_.exchange(false);
  if (!ApplyPending(error)) return false;
  if (ctx_ == nullptr) {  // after Flush(), or a failed reopen
    reopens_++;
    if (!OpenCodec(error)) return false;
  }
  const int64_t t0 = av_gettime_relative();
  AVFrame* input = nullptr;
  if (!Convert(job, &input, error)) return false;
  const int64_t t1 = av_gettime_relative();
  if (job.sequence != nullptr) {
    // Seqlock: every pixel load of the conversion happens before this load of the sequence.
    std::atomic_thread_fence(std::memory_order_acquire);
    if (__atomic_load_n(job.sequence, __ATOMIC_RELAXED) != job.expectedSequence) {
      if (input == hwFrame_) av_frame_unref(hwFrame_);
      if (forceKeyframe) keyframeRequested_.store(true);
      unit->torn = true;
      timings->convertUs = t1 - t0;
      timings->encodeUs = 0;
      return true;
    }
  }

  // Timestamps must increase strictly (x264 rate control divides by their differences).
  const int64_t pts = job.ptsUs > lastPts_ ? job.ptsUs : lastPts_ + 1;
  lastPts_ = pts;
  input->pts = pts;
  input->pict_type = forceKeyframe ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
  int ret = avcodec_send_frame(ctx_, input);
  if (input == hwFrame_) av_frame_unref(hwFrame_);
  if (ret < 0) {
    if (forceKeyframe) keyframeRequested_.store(true);
    *error = Describe("avcodec_send_frame", ret, capture.Text());
    return false;
  }
  if (!Receive(unit, error)) {
    if (!capture.Text().empty()) *error += ": " + capture.Text();
    return false;
  }
  const int64_t t2 = av_gettime_relative();
  timings->convertUs = t1 - t0;
  timings->encodeUs = t2 - t1;
  return true;
}

bool H264Session::Flush(std::vector<EncodedUnit>* units, std::string* error) {
  FfLog::Capture capture;
  if (ctx_ == nullptr) return true;
  int ret = avcodec_send_frame(ctx_, nullptr);
  if (ret < 0 && ret != AVERROR_EOF) {
    *error = Describe("avcodec_send_frame(flush)", ret, capture.Text());
    return false;
  }
  for (;;) {
    AVPacket* packet = av_packet_alloc();
    ret = avcodec_receive_packet(ctx_, packet);
    if (ret < 0) {
      av_packet_free(&packet);
      if (ret == AVERROR_EOF || ret == AVERROR(EAGAIN)) break;
      *error = Describe("avcodec_receive_packet(flush)", ret, capture.Text());
      return false;
    }
    EncodedUnit unit;
    unit.keyframe = (packet->flags & AV_PKT_FLAG_KEY) != 0;
    unit.ptsUs = packet->pts;
    unit.packets.push_back(packet);
    units->push_back(std::move(unit));
  }
  // libx264 cannot be reused after draining (no AV_CODEC_CAP_ENCODER_FLUSH): reopen lazily.
  CloseCodec();
  return true;
}
