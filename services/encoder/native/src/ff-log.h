// Routes FFmpeg's av_log (and x264's log, which libavcodec forwards to it) away from stderr:
// lines at or above the chosen level go to a bounded queue that JS drains with takeLogs(), and
// warnings/errors raised on a thread inside a FfLog::Capture scope are also kept for that scope,
// so an error or a fallback reason can carry FFmpeg's own explanation.
#pragma once

#include <napi.h>

#include <string>

class FfLog {
 public:
  // Installs the callback once per process (idempotent). Native code never prints.
  static void Install();
  // The av_log level (AV_LOG_*) at or below which lines are queued; AV_LOG_QUIET keeps none.
  static int Level();
  // x264's own log level matching Level() (X264_LOG_*), for the x264-params "log" key.
  static int X264Level();
  static void Init(Napi::Env env, Napi::Object exports);

  // Collects warning and error lines logged on this thread while it lives.
  class Capture {
   public:
    // Keeps lines at or below maxLevel (AV_LOG_*).
    explicit Capture(int maxLevel = 24 /* AV_LOG_WARNING */);
    ~Capture();
    Capture(const Capture&) = delete;
    Capture& operator=(const Capture&) = delete;
    // The captured lines joined with "; " (empty when none).
    std::string Text() const;
    void Append(const std::string& line);
    int maxLevel() const { return maxLevel_; }

   private:
    int maxLevel_;
    std::string text_;
    Capture* previous_;
  };

 private:
  static Napi::Value TakeLogs(const Napi::CallbackInfo& info);
  static Napi::Value SetLogLevel(const Napi::CallbackInfo& info);
};
