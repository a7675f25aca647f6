#pragma once
// A one-byte lock for short critical sections on cold per-process data, where
// a std::mutex (40 bytes) per process would dominate an idle process's size.
// Annotated for clang's thread-safety analysis: hold it with a SpinLockGuard,
// name it in GUARDED_BY / REQUIRES. Thread-safe.
#include <atomic>
#include <thread>

#include "canopy/telemetry/detail/thread_annotations.hpp"

namespace canopy::detail {

class CAPABILITY("mutex") SpinLock {
 public:
  SpinLock() = default;
  SpinLock(const SpinLock&) = delete;
  SpinLock& operator=(const SpinLock&) = delete;

  void lock() ACQUIRE() {
    while (locked_.exchange(true, std::memory_order_acquire)) {
      while (locked_.load(std::memory_order_relaxed)) std::this_thread::yield();
    }
  }
  bool try_lock() TRY_ACQUIRE(true) { return !locked_.exchange(true, std::memory_order_acquire); }
  void unlock() RELEASE() { locked_.store(false, std::memory_order_release); }
  // Tells the analysis the caller holds the lock where it cannot see it.
  // Checks nothing at run time.
  void assert_held() const ASSERT_CAPABILITY(this) {}

 private:
  std::atomic<bool> locked_{false};
};

// Holds a SpinLock for its scope (as std::lock_guard, which the analysis
// cannot see).
class SCOPED_CAPABILITY SpinLockGuard {
 public:
  explicit SpinLockGuard(SpinLock* lock) ACQUIRE(lock) : lock_(lock) { lock_->lock(); }
  ~SpinLockGuard() RELEASE() { lock_->unlock(); }
  SpinLockGuard(const SpinLockGuard&) = delete;
  SpinLockGuard& operator=(const SpinLockGuard&) = delete;

 private:
  SpinLock* const lock_;
};

}  // namespace canopy::detail
