// JS class EglImporter: imports DMA-BUFs with EGL and reads them back as BGRA. All GL work runs
// on one native thread per importer (GlThread); results come back as Promises through a
// thread-safe function. Arguments are checked and converted to plain C++ on the JS thread.
#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>
#include <unordered_map>

#include "gl-thread.h"
#include "importer-core.h"
#include "native-error.h"

class EglImporter : public Napi::ObjectWrap<EglImporter> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);

  explicit EglImporter(const Napi::CallbackInfo& info);
  ~EglImporter() override;

 private:
  class Job;
  class ImportJob;
  class ReadJob;
  class InfoJob;
  class CloseJob;
  struct Size {
    uint32_t width;
    uint32_t height;
  };

  static void OnJobDone(Napi::Env env, Napi::Function unused, EglImporter* self, Job* job);
  using Tsfn = Napi::TypedThreadSafeFunction<EglImporter, Job, &EglImporter::OnJobDone>;

  Napi::Value ImportDmabuf(const Napi::CallbackInfo& info);
  Napi::Value ReadPixels(const Napi::CallbackInfo& info);
  Napi::Value Release(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetClosed(const Napi::CallbackInfo& info);

  // Queues a job on the GL thread; keeps this object and the event loop alive until it settles.
  Napi::Value Queue(Napi::Env env, Job* job);
  // JS thread, after the close job ran: joins the GL thread and releases the thread-safe function.
  void FinishClose();
  // Synchronous teardown for the finalizer and for environment cleanup. Safe twice.
  void Shutdown();
  static void OnEnvCleanup(void* self);

  napi_env env_;
  std::unique_ptr<ImporterCore> core_;  // used on the GL thread only
  std::unique_ptr<GlThread> thread_;
  Tsfn tsfn_;
  bool closing_ = false;   // close() was called: every later call fails with ClosedError
  bool shutDown_ = false;  // GL thread joined, thread-safe function released
  bool cleanupHook_ = false;
  uint32_t pending_ = 0;
  uint32_t nextHandle_ = 1;
  std::unordered_map<uint32_t, Size> sizes_;  // the live handles, as the JS thread sees them
  Napi::ObjectReference closePromise_;
};
