#include "ff-log.h"

#include <qemu_webrtc/napi_kit.h>

extern "C" {
#include <libavutil/log.h>
}

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <deque>
#include <mutex>

namespace {

struct Entry {
  int level;
  std::string message;
};

constexpr size_t kMaxQueued = 512;

std::atomic<int> g_level{AV_LOG_WARNING};
std::mutex g_mutex;
std::deque<Entry> g_queue;
size_t g_dropped = 0;
std::once_flag g_installed;

thread_local FfLog::Capture* t_capture = nullptr;
// av_log may deliver one line in several calls: the pieces are joined until the newline.
thread_local std::string t_partial;
thread_local int t_partial_level = AV_LOG_QUIET;
thread_local int t_print_prefix = 1;

const char* LevelName(int level) {
  if (level <= AV_LOG_FATAL) return "fatal";
  if (level <= AV_LOG_ERROR) return "error";
  if (level <= AV_LOG_WARNING) return "warning";
  if (level <= AV_LOG_INFO) return "info";
  if (level <= AV_LOG_VERBOSE) return "verbose";
  return "debug";
}

void Emit(int level, std::string line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r' || line.back() == ' ')) {
    line.pop_back();
  }
  if (line.empty()) return;
  if (t_capture != nullptr && level <= t_capture->maxLevel()) t_capture->Append(line);
  if (level > g_level.load(std::memory_order_relaxed)) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_queue.size() >= kMaxQueued) {
    g_queue.pop_front();
    g_dropped++;
  }
  g_queue.push_back(Entry{level, std::move(line)});
}

void Callback(void* avcl, int level, const char* fmt, va_list vl) {
  const bool keep = level <= g_level.load(std::memory_order_relaxed);
  const bool capture = t_capture != nullptr && level <= t_capture->maxLevel();
  if (!keep && !capture) return;
  char buf[1024];
  va_list copy;
  va_copy(copy, vl);
  av_log_format_line2(avcl, level, fmt, copy, buf, sizeof buf, &t_print_prefix);
  va_end(copy);
  if (t_partial.empty()) t_partial_level = level;
  t_partial += buf;
  if (!t_partial.empty() && t_partial.back() == '\n') {
    std::string line;
    line.swap(t_partial);
    Emit(t_partial_level, std::move(line));
  } else if (t_partial.size() > 4096) {
    std::string line;
    line.swap(t_partial);
    Emit(t_partial_level, std::move(line));
  }
}

int ParseLevel(const std::string& name) {
  if (name == "quiet") return AV_LOG_QUIET;
  if (name == "error") return AV_LOG_ERROR;
  if (name == "warning") return AV_LOG_WARNING;
  if (name == "info") return AV_LOG_INFO;
  if (name == "verbose") return AV_LOG_VERBOSE;
  if (name == "debug") return AV_LOG_DEBUG;
  return -1000;
}

}  // namespace

void FfLog::Install() {
  std::call_once(g_installed, [] {
    av_log_set_level(g_level.load());
    av_log_set_callback(Callback);
  });
}

int FfLog::Level() { return g_level.load(std::memory_order_relaxed); }

int FfLog::X264Level() {
  // X264_LOG_NONE -1, ERROR 0, WARNING 1, INFO 2, DEBUG 3 (x264.h, not installed here).
  // Never below warning: errors and warnings feed FfLog::Capture (error messages, fallback reasons).
  const int level = Level();
  if (level < AV_LOG_INFO) return 1;
  if (level < AV_LOG_DEBUG) return 2;
  return 3;
}

FfLog::Capture::Capture(int maxLevel) : maxLevel_(maxLevel), previous_(t_capture) { t_capture = this; }

FfLog::Capture::~Capture() { t_capture = previous_; }

void FfLog::Capture::Append(const std::string& line) {
  if (text_.size() > 2048) return;
  if (!text_.empty()) text_ += "; ";
  text_ += line;
}

std::string FfLog::Capture::Text() const { return text_; }

Napi::Value FfLog::TakeLogs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::deque<Entry> entries;
  size_t dropped = 0;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    entries.swap(g_queue);
    dropped = g_dropped;
    g_dropped = 0;
  }
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  if (dropped > 0) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("level", "warning");
    o.Set("message", std::to_string(dropped) + " FFmpeg log lines dropped (queue full)");
    out.Set(i++, o);
  }
  for (const Entry& e : entries) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("level", LevelName(e.level));
    o.Set("message", e.message);
    out.Set(i++, o);
  }
  return out;
}

Napi::Value FfLog::SetLogLevel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int level = info[0].IsString() ? ParseLevel(info[0].As<Napi::String>().Utf8Value()) : -1000;
  if (level == -1000) {
    napi_kit::Fault::ArgValue("setLogLevel: level must be quiet, error, warning, info, verbose or debug").ThrowJs(env);
  }
  g_level.store(level);
  av_log_set_level(level);
  return env.Undefined();
}

void FfLog::Init(Napi::Env env, Napi::Object exports) {
  Install();
  exports.Set("takeLogs", Napi::Function::New(env, TakeLogs, "takeLogs"));
  exports.Set("setLogLevel", Napi::Function::New(env, SetLogLevel, "setLogLevel"));
}
