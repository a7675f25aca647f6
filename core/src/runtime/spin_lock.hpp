#pragma once
// A one-byte lock for short critical sections on cold per-process data, where
// a std::mutex (40 bytes) per process would dominate an idle process's size.
// Thread-safe.
#include <atomic>
#include <thread>

namespace canopy::detail {

class SpinLock {
 public:
  void lock() {
    while (locked_.exchange(true, std::memory_order_acquire)) {
      while (locked_.load(std::memory_order_relaxed)) std::this_thread::yield();
    }
  }
  bool try_lock() { return !locked_.exchange(true, std::memory_order_acquire); }
  void unlock() { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace canopy::detail
