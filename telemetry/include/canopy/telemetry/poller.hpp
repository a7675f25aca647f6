#pragma once
// The poller, the counterpart of telemetry_poller: runs measurement
// callbacks on its own thread every interval. A callback usually executes
// events on the bus. One that throws is logged and counted, and simply runs
// again on the next tick. Thread-safe.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "canopy/telemetry/detail/mutex.hpp"

namespace spdlog {
class logger;
}

namespace canopy::telemetry {

class Poller {
 public:
  explicit Poller(std::chrono::milliseconds interval = std::chrono::seconds(1),
                  std::shared_ptr<spdlog::logger> logger = nullptr);
  // Stops the thread.
  ~Poller();
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  // Adds a measurement; returns false if `name` is taken.
  bool add(const std::string& name, std::function<void()> measure) EXCLUDES(mu_);
  bool remove(const std::string& name) EXCLUDES(mu_);

  void start() EXCLUDES(mu_);
  void stop() EXCLUDES(mu_);
  // Runs every measurement once, now, on the calling thread.
  void poll_now() EXCLUDES(mu_, poll_mu_);

  std::chrono::milliseconds interval() const EXCLUDES(mu_);
  // Takes effect from the next tick.
  void set_interval(std::chrono::milliseconds interval) EXCLUDES(mu_);
  uint64_t polls() const EXCLUDES(mu_);
  uint64_t failures() const EXCLUDES(mu_);
  // Wall time of the last complete round, in nanoseconds.
  uint64_t last_poll_ns() const EXCLUDES(mu_);

 private:
  void run() EXCLUDES(mu_);
  // Waits out one tick of `interval`; true when woken early by stop() or a
  // new interval.
  bool wait_tick_locked(std::chrono::milliseconds interval) REQUIRES(mu_);
  struct Measurement {
    std::string name;
    std::function<void()> fn;
    bool failing = false;  // logged once per failure streak; under poll_mu_
  };

  std::chrono::milliseconds interval_ GUARDED_BY(mu_);
  std::shared_ptr<spdlog::logger> logger_;
  mutable detail::Mutex mu_;
  detail::CondVar cv_;  // on mu_: running_ or interval_ changed
  std::vector<std::shared_ptr<Measurement>> measurements_ GUARDED_BY(mu_);
  bool running_ GUARDED_BY(mu_) = false;
  uint64_t polls_ GUARDED_BY(mu_) = 0;
  uint64_t failures_ GUARDED_BY(mu_) = 0;
  uint64_t last_poll_ns_ GUARDED_BY(mu_) = 0;
  // One round at a time (thread and poll_now); taken before mu_.
  detail::Mutex poll_mu_;
  std::thread thread_;
};

}  // namespace canopy::telemetry
