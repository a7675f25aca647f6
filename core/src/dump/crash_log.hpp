#pragma once
// The runtime's crash reports: a bounded ring, newest last, and the
// escalation chains of supervisors that gave up (why, by supervisor pid; the
// last kChains kept), from which the dump of a root giving up takes its
// slogan. Thread-safe.
#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "canopy/core/crash.hpp"
#include "canopy/telemetry/detail/mutex.hpp"

namespace canopy::detail {

class CrashLog {
 public:
  explicit CrashLog(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}
  CrashLog(const CrashLog&) = delete;
  CrashLog& operator=(const CrashLog&) = delete;

  // Keeps `r` (the oldest goes beyond the capacity) and gives it its seq.
  void add(CrashReport r) EXCLUDES(mu_);
  // The newest report about `pid` whose action is still pending gets
  // `action` (and `restarted_as`); false when there is none.
  bool set_action(Pid pid, SupervisorAction action, Pid restarted_as = {}) EXCLUDES(mu_);
  // Newest first, at most query.limit, only query.behaviour when it is set.
  std::vector<CrashReport> list(const CrashQuery& query) const EXCLUDES(mu_);
  uint64_t total() const EXCLUDES(mu_);
  size_t capacity() const { return capacity_; }

  // Why supervisor `sup` gave up, for the chain of the one above it.
  void set_give_up(Pid sup, std::string chain) EXCLUDES(mu_);
  // The chain of `sup` (removed), or "" when it did not give up.
  std::string take_give_up(Pid sup) EXCLUDES(mu_);

 private:
  static constexpr size_t kChains = 64;
  const size_t capacity_;
  mutable Mutex mu_;
  std::deque<CrashReport> ring_ GUARDED_BY(mu_);
  uint64_t seq_ GUARDED_BY(mu_) = 0;
  std::deque<std::pair<Pid, std::string>> chains_ GUARDED_BY(mu_);
};

}  // namespace canopy::detail
