#pragma once
// What a running supervisor shares with the rest of the runtime: its child
// list and restart counters, read by stats, readiness and the orphan audit
// without a call. Written only by the supervisor process. Thread-safe.
#include <cstdint>
#include <deque>

#include "canopy/core/supervisor.hpp"
#include "canopy/telemetry/detail/mutex.hpp"

namespace canopy::detail {

class SupervisorState {
 public:
  SupervisorState(std::string name, Pid pid, const SupervisorFlags& flags) : name_(name), flags_(flags) {
    stats_.name = std::move(name);
    stats_.pid = pid;
    stats_.strategy = flags.strategy;
  }

  // Its name, without the lock (constant).
  const std::string& name() const { return name_; }
  const SupervisorFlags& flags() const { return flags_; }

  // A consistent copy, with the restart budget computed for `now_ns`.
  SupervisorStats snapshot(uint64_t now_ns) const EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    SupervisorStats s = stats_;
    s.restart_budget_remaining = budget(now_ns);
    return s;
  }

  // Records one restart at `now_ns`; false when it exceeds the intensity.
  bool record_restart(uint64_t now_ns) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    forget_old(now_ns);
    restart_times_.push_back(now_ns);
    return restart_times_.size() <= flags_.intensity;
  }

  // Runs `fn(stats)` under the lock: the supervisor's way to change what it shares.
  template <typename Fn>
  void update(Fn&& fn) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    fn(stats_);
  }

 private:
  void forget_old(uint64_t now_ns) const REQUIRES(mu_) {
    const uint64_t period = static_cast<uint64_t>(flags_.period.count()) * 1'000'000;
    while (!restart_times_.empty() && now_ns - restart_times_.front() >= period) restart_times_.pop_front();
  }
  uint32_t budget(uint64_t now_ns) const REQUIRES(mu_) {
    forget_old(now_ns);
    const size_t used = restart_times_.size();
    return used >= flags_.intensity ? 0 : static_cast<uint32_t>(flags_.intensity - used);
  }

  const std::string name_;
  const SupervisorFlags flags_;
  mutable Mutex mu_;
  SupervisorStats stats_ GUARDED_BY(mu_);
  mutable std::deque<uint64_t> restart_times_ GUARDED_BY(mu_);
};

}  // namespace canopy::detail
