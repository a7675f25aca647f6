#pragma once
// The orphan rule: the one predicate behind both the canopy_orphan_processes
// gauge (the poller, instrumentation/runtime_poll.cc) and
// Runtime::audit_orphans (/api/v1/orphans, orphan_audit.cc), so the two
// cannot disagree. A process is an orphan when it is at least `min_age` old,
// is neither an application's root nor a child any supervisor knows, and has
// no link, no monitor watching it, no registered name and no registry key:
// nothing would notice it dying or leaking. Thread-safe (constant after
// construction).
#include <chrono>
#include <cstdint>
#include <unordered_set>

#include "canopy/core/pid.hpp"

namespace canopy::detail {

class Runtime;
struct Process;
struct ProcessMeta;

class OrphanRule {
 public:
  // Takes the supervised set (application roots, every supervisor's
  // children) and the time now from `rt`.
  OrphanRule(const Runtime& rt, std::chrono::milliseconds min_age);

  // The caller holds p.meta_lock; `meta` is p.meta (may be null).
  bool is_orphan(const Process& p, const ProcessMeta* meta) const;

 private:
  const std::unordered_set<Pid> supervised_;
  const uint64_t min_age_ns_;
  const uint64_t now_ns_;
};

}  // namespace canopy::detail
