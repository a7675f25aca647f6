#pragma once
// Waiting and recording helpers every canopy test folder shares; no canopy
// dependency, so the telemetry tests can use them too.
//
//  * never a fixed sleep as synchronisation: `eventually` polls a condition
//    every millisecond, bounded in time;
//  * a handler parked on a Gate gives up after kParkBound, so a failing test
//    can never hang the suite;
//  * Catch2 assertions only on the test thread: other threads record into
//    Recorders and atomics.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#if defined(__SANITIZE_THREAD__)
#define CANOPY_TEST_TSAN 1
#endif
#if defined(__SANITIZE_ADDRESS__)
#define CANOPY_TEST_ASAN 1
#endif
#if defined(__has_feature)
#if __has_feature(thread_sanitizer) && !defined(CANOPY_TEST_TSAN)
#define CANOPY_TEST_TSAN 1
#endif
#if __has_feature(address_sanitizer) && !defined(CANOPY_TEST_ASAN)
#define CANOPY_TEST_ASAN 1
#endif
#endif

namespace canopy_test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// How long `eventually` waits before it gives up: generous, for a loaded
// 2-core machine and for sanitizer builds.
inline constexpr std::chrono::milliseconds kPatience{10'000};
// The longest a handler stays parked on a Gate, so nothing can hang forever.
inline constexpr std::chrono::milliseconds kParkBound{30'000};

// What work sizes are divided by in this build: `tsan` under ThreadSanitizer,
// `asan` under AddressSanitizer, 1 otherwise (sanitizers are 2-20x slower).
constexpr int sanitizer_slowdown([[maybe_unused]] int tsan, [[maybe_unused]] int asan) {
#if defined(CANOPY_TEST_TSAN)
  return tsan;
#elif defined(CANOPY_TEST_ASAN)
  return asan;
#else
  return 1;
#endif
}

// Polls `pred` every millisecond until it holds or `timeout` passes; at most
// timeout/1ms iterations. Returns whether it held.
template <typename Pred>
[[nodiscard]] bool eventually(Pred&& pred, std::chrono::milliseconds timeout = kPatience) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (Clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(1ms);
  }
}

// A one-shot gate: wait() blocks (at most `bound`) until open() is called.
class Gate {
 public:
  void open() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  bool is_open() const {
    std::lock_guard lock(mu_);
    return open_;
  }
  [[nodiscard]] bool wait(std::chrono::milliseconds bound = kParkBound) const {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, bound, [&] { return open_; });
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool open_ = false;
};

// Opens gates when the scope ends, so a failed REQUIRE never leaves a handler
// parked. Declare it after the Runtime: it is destroyed (and opens) first.
class OpenOnExit {
 public:
  OpenOnExit(std::initializer_list<std::shared_ptr<Gate>> gates) : gates_(gates) {}
  ~OpenOnExit() {
    for (auto& g : gates_) g->open();
  }
  OpenOnExit(const OpenOnExit&) = delete;
  OpenOnExit& operator=(const OpenOnExit&) = delete;

 private:
  std::vector<std::shared_ptr<Gate>> gates_;
};

// A thread-safe list that other threads append to and the test thread reads.
template <typename T>
class Recorder {
 public:
  void push(T value) {
    std::lock_guard lock(mu_);
    items_.push_back(std::move(value));
  }
  std::vector<T> snapshot() const {
    std::lock_guard lock(mu_);
    return items_;
  }
  size_t size() const {
    std::lock_guard lock(mu_);
    return items_.size();
  }
  [[nodiscard]] bool wait_size(size_t n, std::chrono::milliseconds timeout = kPatience) const {
    return eventually([&] { return size() >= n; }, timeout);
  }

 private:
  mutable std::mutex mu_;
  std::vector<T> items_;
};

template <typename T>
bool contains(const std::vector<T>& v, const T& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

}  // namespace canopy_test
