#pragma once
// The poller, the counterpart of telemetry_poller: runs measurement
// callbacks on its own thread every interval. A callback usually executes
// events on the bus. One that throws is logged and counted, and simply runs
// again on the next tick. Thread-safe.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

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
  bool add(const std::string& name, std::function<void()> measure);
  bool remove(const std::string& name);

  void start();
  void stop();
  // Runs every measurement once, now, on the calling thread.
  void poll_now();

  std::chrono::milliseconds interval() const;
  // Takes effect from the next tick.
  void set_interval(std::chrono::milliseconds interval);
  uint64_t polls() const;
  uint64_t failures() const;
  // Wall time of the last complete round, in nanoseconds.
  uint64_t last_poll_ns() const;

 private:
  void run();
  struct Measurement {
    std::string name;
    std::function<void()> fn;
    bool failing = false;  // logged once per failure streak
  };

  std::chrono::milliseconds interval_;  // guarded by mu_
  std::shared_ptr<spdlog::logger> logger_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<Measurement>> measurements_;  // guarded by mu_
  bool running_ = false;                                    // guarded by mu_
  uint64_t polls_ = 0;                                      // guarded by mu_
  uint64_t failures_ = 0;                                   // guarded by mu_
  uint64_t last_poll_ns_ = 0;                               // guarded by mu_
  std::mutex poll_mu_;  // one round at a time (thread and poll_now)
  std::thread thread_;
};

}  // namespace canopy::telemetry
