// One native thread that runs queued tasks in order. The EGL context lives on it: GL contexts
// are thread-bound, so every GL call of an importer is a task here, never on the JS thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

class GlThread {
 public:
  using Task = std::function<void()>;

  GlThread();
  ~GlThread();
  GlThread(const GlThread&) = delete;
  GlThread& operator=(const GlThread&) = delete;

  // Queues a task; tasks run one at a time, in order. Ignored once Stop() was called.
  void Post(Task task);
  // Runs the tasks already queued, then ends the thread and joins it. Safe twice.
  void Stop();

 private:
  void Run();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Task> queue_;
  bool stopping_ = false;
  std::thread thread_;
};
