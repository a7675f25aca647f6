#pragma once
// The timer thread: advances the coarse millisecond clock that stamps
// messages (so no clock call per message), fires delayed sends (send_after,
// call timeouts), and pokes the scheduler watchdog. Thread-safe.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "canopy/core/message.hpp"
#include "canopy/core/pid.hpp"
#include "canopy/telemetry/detail/mutex.hpp"

namespace canopy::detail {

class TimerService {
 public:
  // `deliver(to, message)` sends a due message; `tick()` runs every tick.
  TimerService(std::function<void(Pid, std::unique_ptr<Message>)> deliver, std::function<void()> tick);
  ~TimerService();
  void start();
  void stop() EXCLUDES(mu_);

  // Milliseconds since the service was made, advanced once per tick.
  uint32_t now_ms() const { return now_ms_.load(std::memory_order_relaxed); }
  void send_after(Pid to, uint64_t delay_ms, std::unique_ptr<Message> message) EXCLUDES(mu_);

 private:
  struct Entry {
    uint64_t due_ns;
    uint64_t seq;
    Pid to;
    std::unique_ptr<Message> message;
  };
  static bool later(const Entry& a, const Entry& b) {
    return a.due_ns != b.due_ns ? a.due_ns > b.due_ns : a.seq > b.seq;
  }
  void run() EXCLUDES(mu_);

  // Constant after construction.
  const std::function<void(Pid, std::unique_ptr<Message>)> deliver_;
  const std::function<void()> tick_;
  const uint64_t start_ns_;

  std::atomic<uint32_t> now_ms_{0};
  Mutex mu_;
  CondVar cv_;
  std::vector<Entry> heap_ GUARDED_BY(mu_);
  uint64_t seq_ GUARDED_BY(mu_) = 0;
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace canopy::detail
