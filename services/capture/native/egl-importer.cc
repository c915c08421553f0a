#include "egl-importer.h"

#include <drm_fourcc.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "drm-format.h"

namespace {

using napi_kit::Fault;

// Larger than any GL_MAX_TEXTURE_SIZE; the context's own limit is checked on the GL thread.
constexpr uint32_t kMaxDimension = 32768;

// src/native.ts checks arguments first with clear messages. The reads here keep types and the
// descriptions' own limits (TypeError); a rectangle or an offset is checked against the image and
// the target it names (RangeError), so those are read as any integer first.
uint32_t Uint32(const Napi::Value& value, const std::string& what, uint32_t min, uint32_t max) {
  return static_cast<uint32_t>(napi_kit::ReadInteger(value, what, min, max));
}

double AnyInteger(const Napi::Value& value, const std::string& what) {
  if (!value.IsNumber()) throw Fault::ArgType(what + " must be a number");
  const double number = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number) || std::trunc(number) != number) {
    throw Fault::ArgValue(what + " must be an integer (got " + value.ToString().Utf8Value() + ")");
  }
  return number;
}

Napi::Array StringArray(Napi::Env env, const std::vector<std::string>& items) {
  Napi::Array array = Napi::Array::New(env, items.size());
  for (size_t i = 0; i < items.size(); i++) array.Set(static_cast<uint32_t>(i), items[i]);
  return array;
}

}  // namespace

// A request for the GL thread: Execute() there (plain C++, never JS), then Settle() on the JS
// thread. The Error captured at the call gives failures the caller's stack.
class EglImporter::Job {
 public:
  explicit Job(Napi::Env env)
      : deferred_(Napi::Promise::Deferred::New(env)),
        captured_(Napi::Persistent(napi_kit::CaptureStack(env))) {}
  virtual ~Job() = default;

  virtual void Execute(ImporterCore& core) = 0;
  virtual Napi::Value Result(Napi::Env env, EglImporter&) { return env.Undefined(); }
  virtual bool Closes() const { return false; }

  void Run(ImporterCore& core) {
    try {
      Execute(core);
    } catch (const napi_kit::Fault& error) {
      error_ = error;
    } catch (const std::exception& error) {
      error_ = napi_kit::Fault::Named("Error", error.what());
    }
  }

  void Settle(Napi::Env env, EglImporter& importer) {
    if (error_) {
      deferred_.Reject(error_->ToJs(env, captured_.Value()).Value());
      return;
    }
    try {
      deferred_.Resolve(Result(env, importer));
    } catch (const Napi::Error& error) {
      deferred_.Reject(error.Value());
    }
  }

  Napi::Promise promise() const { return deferred_.Promise(); }

  // The environment is going away: JS references cannot be freed any more.
  virtual void Abandon() { captured_.SuppressDestruct(); }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference captured_;
  std::optional<napi_kit::Fault> error_;
};

class EglImporter::ImportJob : public Job {
 public:
  ImportJob(Napi::Env env, uint32_t handle, DmabufDesc desc)
      : Job(env), handle_(handle), width_(desc.width), height_(desc.height), desc_(std::move(desc)) {}
  ~ImportJob() override {
    if (!consumed_) {
      for (const DmabufPlane& plane : desc_.planes) napi_kit::CloseFd(plane.fd);
    }
  }

  void Execute(ImporterCore& core) override {
    consumed_ = true;
    core.Import(handle_, std::move(desc_));
  }

  Napi::Value Result(Napi::Env env, EglImporter& importer) override {
    importer.sizes_[handle_] = {width_, height_};
    return Napi::Number::New(env, handle_);
  }

 private:
  uint32_t handle_;
  uint32_t width_;
  uint32_t height_;
  DmabufDesc desc_;
  bool consumed_ = false;
};

class EglImporter::ReadJob : public Job {
 public:
  ReadJob(Napi::Env env, uint32_t handle, ReadRequest request, Napi::Object target)
      : Job(env), handle_(handle), request_(request), target_(Napi::Persistent(target)) {}

  void Execute(ImporterCore& core) override { core.Read(handle_, request_); }
  void Abandon() override {
    Job::Abandon();
    target_.SuppressDestruct();
  }

 private:
  uint32_t handle_;
  ReadRequest request_;
  Napi::ObjectReference target_;  // keeps the target's memory alive while the GL thread writes
};

class EglImporter::InfoJob : public Job {
 public:
  using Job::Job;

  void Execute(ImporterCore& core) override { info_ = core.Info(); }

  Napi::Value Result(Napi::Env env, EglImporter&) override {
    Napi::Object result = Napi::Object::New(env);
    result.Set("platform", info_.platform);
    result.Set("device", info_.device.empty() ? env.Null() : Napi::String::New(env, info_.device));
    result.Set("eglVendor", info_.eglVendor);
    result.Set("eglVersion", info_.eglVersion);
    result.Set("eglClientApis", info_.eglClientApis);
    result.Set("eglExtensions", StringArray(env, info_.eglExtensions));
    result.Set("vendor", info_.vendor);
    result.Set("renderer", info_.renderer);
    result.Set("version", info_.version);
    result.Set("shadingLanguageVersion", info_.shadingLanguageVersion);
    result.Set("extensions", StringArray(env, info_.extensions));
    result.Set("glesMajorVersion", info_.glesMajor);
    result.Set("readFormat", info_.readBgra ? "BGRA" : "RGBA");
    result.Set("maxTextureSize", info_.maxTextureSize);
    result.Set("modifiersSupported", info_.modifiersSupported);
    Napi::Array formats = Napi::Array::New(env, info_.formats.size());
    for (size_t i = 0; i < info_.formats.size(); i++) {
      const DmabufFormatInfo& format = info_.formats[i];
      Napi::Object entry = Napi::Object::New(env);
      entry.Set("fourcc", format.fourcc);
      entry.Set("name", DrmFormat::FourccName(format.fourcc));
      entry.Set("importable", DrmFormat::Find(format.fourcc) != nullptr);
      Napi::Array modifiers = Napi::Array::New(env, format.modifiers.size());
      for (size_t j = 0; j < format.modifiers.size(); j++) {
        Napi::Object modifier = Napi::Object::New(env);
        modifier.Set("modifier", Napi::BigInt::New(env, static_cast<uint64_t>(format.modifiers[j].modifier)));
        modifier.Set("externalOnly", format.modifiers[j].externalOnly);
        modifiers.Set(static_cast<uint32_t>(j), modifier);
      }
      entry.Set("modifiers", modifiers);
      formats.Set(static_cast<uint32_t>(i), entry);
    }
    result.Set("formats", formats);
    return result;
  }

 private:
  EglInfo info_;
};

class EglImporter::CloseJob : public Job {
 public:
  using Job::Job;
  void Execute(ImporterCore& core) override { core.Close(); }
  bool Closes() const override { return true; }
};

void EglImporter::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function constructor = DefineClass(
      env, "EglImporter",
      {
          InstanceMethod<&EglImporter::ImportDmabuf>("importDmabuf"),
          InstanceMethod<&EglImporter::ReadPixels>("readPixels"),
          InstanceMethod<&EglImporter::Release>("release"),
          InstanceMethod<&EglImporter::Info>("info"),
          InstanceMethod<&EglImporter::Close>("close"),
          InstanceAccessor<&EglImporter::GetClosed>("closed"),
      });
  exports.Set("EglImporter", constructor);
}

EglImporter::EglImporter(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EglImporter>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  std::string device;
  try {
    if (!info[0].IsUndefined()) {
      Napi::Object options = napi_kit::ReadObject(info[0], "new EglImporter(options): options");
      Napi::Value value = options.Get("device");
      if (!value.IsUndefined()) device = napi_kit::ReadString(value, "options.device", true);
    }
  } catch (const napi_kit::Fault& error) {
    error.ThrowJs(env);
  }

  tsfn_ = Tsfn::New(env, "EglImporter", 0, 1, this);
  tsfn_.Unref(env);
  core_ = std::make_unique<ImporterCore>(device);
  thread_ = std::make_unique<GlThread>();
  ImporterCore* core = core_.get();
  thread_->Post([core] { core->Open(); });
  if (napi_add_env_cleanup_hook(env, &EglImporter::OnEnvCleanup, this) == napi_ok) cleanupHook_ = true;
}

EglImporter::~EglImporter() {
  Shutdown();
  if (cleanupHook_) napi_remove_env_cleanup_hook(env_, &EglImporter::OnEnvCleanup, this);
}

void EglImporter::OnEnvCleanup(void* data) {
  EglImporter* self = static_cast<EglImporter*>(data);
  self->cleanupHook_ = false;
  self->Shutdown();
}

void EglImporter::Shutdown() {
  if (shutDown_) return;
  shutDown_ = true;
  closing_ = true;
  ImporterCore* core = core_.get();
  thread_->Post([core] { core->Close(); });
  thread_->Stop();
  tsfn_.Release();
}

void EglImporter::FinishClose() {
  if (shutDown_) return;
  shutDown_ = true;
  thread_->Stop();  // the close job was the last task: this only waits for the thread to end
  tsfn_.Release();
  if (cleanupHook_) {
    napi_remove_env_cleanup_hook(env_, &EglImporter::OnEnvCleanup, this);
    cleanupHook_ = false;
  }
}

Napi::Value EglImporter::Queue(Napi::Env env, Job* job) {
  Napi::Promise promise = job->promise();
  if (pending_++ == 0) {
    tsfn_.Ref(env);
    Ref();
  }
  ImporterCore* core = core_.get();
  Tsfn tsfn = tsfn_;
  thread_->Post([core, job, tsfn]() mutable {
    job->Run(*core);
    // Fails only while the environment shuts down; the job is then left (JS is gone).
    if (tsfn.NonBlockingCall(job) != napi_ok) job->Abandon();
  });
  return promise;
}

void EglImporter::OnJobDone(Napi::Env env, Napi::Function, EglImporter* self, Job* job) {
  if (static_cast<napi_env>(env) == nullptr) {
    job->Abandon();
    return;
  }
  std::unique_ptr<Job> owned(job);
  if (owned->Closes()) self->FinishClose();
  // Nothing may escape a thread-safe function's callback: while a worker terminates, N-API calls
  // fail and node-addon-api turns that into C++ exceptions.
  try {
    owned->Settle(env, *self);
  } catch (const Napi::Error&) {
  }
  try {
    owned.reset();
    if (--self->pending_ == 0) {
      if (!self->shutDown_) self->tsfn_.Unref(env);
      self->Unref();
    }
  } catch (const Napi::Error&) {
  }
}

Napi::Value EglImporter::ImportDmabuf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closing_) return napi_kit::Rejected(env, napi_kit::Fault::Closed("EglImporter is closed"));
  DmabufDesc desc;
  try {
    Napi::Object object = napi_kit::ReadObject(info[0], "importDmabuf(desc): desc");
    Napi::Array fds = napi_kit::ReadArray(object.Get("fds"), "desc.fds");
    Napi::Array offsets = napi_kit::ReadArray(object.Get("offsets"), "desc.offsets");
    Napi::Array strides = napi_kit::ReadArray(object.Get("strides"), "desc.strides");
    uint32_t planes = fds.Length();
    if (planes < 1 || planes > 4) throw Fault::ArgValue("desc.fds must hold 1 to 4 fds (got " + std::to_string(planes) + ")");
    if (offsets.Length() != planes || strides.Length() != planes) {
      throw Fault::ArgValue("desc.offsets and desc.strides must have one entry per fd (" + std::to_string(planes) + ")");
    }
    desc.width = Uint32(object.Get("width"), "desc.width", 1, kMaxDimension);
    desc.height = Uint32(object.Get("height"), "desc.height", 1, kMaxDimension);
    desc.fourcc = Uint32(object.Get("fourcc"), "desc.fourcc", 0, UINT32_MAX);
    if (DrmFormat::Find(desc.fourcc) == nullptr) {
      throw Fault::ArgValue("desc.fourcc " + DrmFormat::Describe(desc.fourcc) +
                            " is not supported (supported: " + DrmFormat::SupportedList() + ")");
    }
    Napi::Value modifier = object.Get("modifier");
    if (modifier.IsUndefined()) {
      desc.modifier = DRM_FORMAT_MOD_INVALID;
    } else {
      if (!modifier.IsBigInt()) throw Fault::ArgType("desc.modifier must be a bigint");
      bool lossless = false;
      desc.modifier = modifier.As<Napi::BigInt>().Uint64Value(&lossless);
      if (!lossless) throw Fault::ArgValue("desc.modifier must fit in 64 bits unsigned");
    }
    std::vector<int> sourceFds;
    for (uint32_t i = 0; i < planes; i++) {
      std::string index = "[" + std::to_string(i) + "]";
      sourceFds.push_back(napi_kit::ReadFd(fds.Get(i), "desc.fds" + index));
      uint32_t offset = Uint32(offsets.Get(i), "desc.offsets" + index, 0, INT32_MAX);
      uint32_t stride = Uint32(strides.Get(i), "desc.strides" + index, 1, INT32_MAX);
      desc.planes.push_back({-1, offset, stride});
    }
    // Our own copies: the caller may close its fds as soon as this returns.
    for (uint32_t i = 0; i < planes; i++) {
      int copy = fcntl(sourceFds[i], F_DUPFD_CLOEXEC, 0);
      if (copy < 0) {
        int err = errno;
        for (uint32_t j = 0; j < i; j++) napi_kit::CloseFd(desc.planes[j].fd);
        const char* code = strerrorname_np(err);
        throw Fault::ArgValue("desc.fds[" + std::to_string(i) + "] (" + std::to_string(sourceFds[i]) +
                              ") is not an open file descriptor: " + (code != nullptr ? code : "") +
                                " (" + std::strerror(err) + ")");
      }
      desc.planes[i].fd = copy;
    }
  } catch (const napi_kit::Fault& error) {
    return napi_kit::Rejected(env, error);
  }
  return Queue(env, new ImportJob(env, nextHandle_++, std::move(desc)));
}

Napi::Value EglImporter::ReadPixels(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closing_) return napi_kit::Rejected(env, napi_kit::Fault::Closed("EglImporter is closed"));
  uint32_t handle = 0;
  ReadRequest request;
  Napi::Object target;
  try {
    handle = Uint32(info[0], "handle", 0, UINT32_MAX);
    auto found = sizes_.find(handle);
    if (found == sizes_.end()) {
      throw napi_kit::Fault::OutOfBounds("unknown handle " + std::to_string(handle) + " (released, or never imported)");
    }
    const Size size = found->second;
    Napi::Object options = napi_kit::ReadObject(info[1], "readPixels(handle, options): options");
    const double x = AnyInteger(options.Get("x"), "options.x");
    const double y = AnyInteger(options.Get("y"), "options.y");
    const double width = AnyInteger(options.Get("width"), "options.width");
    const double height = AnyInteger(options.Get("height"), "options.height");
    if (x < 0 || y < 0 || width < 1 || height < 1 || x + width > size.width || y + height > size.height) {
      throw Fault::OutOfBounds("rectangle " + std::to_string(static_cast<int64_t>(width)) + "x" +
                               std::to_string(static_cast<int64_t>(height)) + " at " +
                               std::to_string(static_cast<int64_t>(x)) + "," + std::to_string(static_cast<int64_t>(y)) +
                               " is outside the " + std::to_string(size.width) + "x" + std::to_string(size.height) +
                               " image");
    }
    request.x = static_cast<uint32_t>(x);
    request.y = static_cast<uint32_t>(y);
    request.width = static_cast<uint32_t>(width);
    request.height = static_cast<uint32_t>(height);
    Napi::Value value = options.Get("target");
    const napi_kit::Bytes bytes = napi_kit::ReadBytes(value, "options.target");
    uint8_t* base = bytes.data;
    const size_t byteLength = bytes.length;
    target = value.As<Napi::Object>();
    const double rowBytes = static_cast<double>(request.width) * 4;
    const Napi::Value offsetValue = options.Get("targetOffset");
    const Napi::Value strideValue = options.Get("targetStride");
    const double offset = offsetValue.IsUndefined() ? 0 : AnyInteger(offsetValue, "options.targetOffset");
    const double stride = strideValue.IsUndefined() ? rowBytes : AnyInteger(strideValue, "options.targetStride");
    if (offset < 0) throw Fault::OutOfBounds("options.targetOffset " + std::to_string(static_cast<int64_t>(offset)) + " is before options.target");
    if (stride < rowBytes) {
      throw Fault::OutOfBounds("options.targetStride " + std::to_string(static_cast<uint64_t>(stride)) +
                               " is less than width * 4 = " + std::to_string(static_cast<uint64_t>(rowBytes)));
    }
    request.yFlip = napi_kit::ReadBool(options.Get("yFlip"), "options.yFlip", true);
    unsigned __int128 end = static_cast<unsigned __int128>(offset) +
                            static_cast<unsigned __int128>(stride) * (request.height - 1) +
                            static_cast<unsigned __int128>(rowBytes);
    if (end > byteLength) {
      throw Fault::OutOfBounds("options.target holds " + std::to_string(byteLength) + " bytes; " +
                               std::to_string(request.width) + "x" + std::to_string(request.height) +
                               " at offset " + std::to_string(static_cast<uint64_t>(offset)) + ", stride " +
                               std::to_string(static_cast<uint64_t>(stride)) + " needs " +
                               std::to_string(static_cast<uint64_t>(end)));
    }
    if (base == nullptr) throw Fault::ArgValue("options.target is detached");
    request.target = base + static_cast<size_t>(offset);
    request.targetStride = static_cast<size_t>(stride);
  } catch (const napi_kit::Fault& error) {
    return napi_kit::Rejected(env, error);
  }
  return Queue(env, new ReadJob(env, handle, request, target));
}

Napi::Value EglImporter::Release(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closing_) Fault::Closed("EglImporter is closed").ThrowJs(env);
  uint32_t handle = 0;
  try {
    handle = Uint32(info[0], "handle", 0, UINT32_MAX);
  } catch (const napi_kit::Fault& error) {
    error.ThrowJs(env);
  }
  if (sizes_.erase(handle) == 0) return Napi::Boolean::New(env, false);
  ImporterCore* core = core_.get();
  thread_->Post([core, handle] { core->Release(handle); });
  return Napi::Boolean::New(env, true);
}

Napi::Value EglImporter::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closing_) return napi_kit::Rejected(env, napi_kit::Fault::Closed("EglImporter is closed"));
  return Queue(env, new InfoJob(env));
}

Napi::Value EglImporter::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closing_) {
    if (!closePromise_.IsEmpty()) return closePromise_.Value();
    Napi::Promise::Deferred done = Napi::Promise::Deferred::New(env);
    done.Resolve(env.Undefined());
    return done.Promise();
  }
  closing_ = true;
  sizes_.clear();
  Napi::Value promise = Queue(env, new CloseJob(env));
  closePromise_ = Napi::Persistent(promise.As<Napi::Object>());
  return promise;
}

Napi::Value EglImporter::GetClosed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), closing_);
}
