// The orphan audit (Runtime::audit_orphans, served as /api/v1/orphans) and
// the orphan rule it shares with the canopy_orphan_processes gauge (see
// orphan_audit.hpp).
#include "supervision/orphan_audit.hpp"

#include <spdlog/spdlog.h>

#include "runtime/cycle_clock.hpp"
#include "runtime/runtime_impl.hpp"
#include "supervision/supervisor_state.hpp"

namespace canopy::detail {

namespace {

// Application roots and every child a supervisor knows (with a pid).
std::unordered_set<Pid> supervised_pids(const Runtime& rt) {
  std::unordered_set<Pid> supervised;
  for (auto& [name, root] : rt.applications()) supervised.insert(root);
  for (auto& state : rt.supervisor_states()) {
    for (const ChildInfo& c : state->snapshot(0).children) {
      if (c.pid.valid()) supervised.insert(c.pid);
    }
  }
  return supervised;
}

}  // namespace

OrphanRule::OrphanRule(const Runtime& rt, std::chrono::milliseconds min_age)
    : supervised_(supervised_pids(rt)),
      min_age_ns_(static_cast<uint64_t>(min_age.count()) * 1'000'000),
      now_ns_(mono_ns()) {}

bool OrphanRule::is_orphan(const Process& p, const ProcessMeta* meta) const {
  const uint64_t age_ns = now_ns_ > p.spawn_mono_ns ? now_ns_ - p.spawn_mono_ns : 0;
  if (age_ns < min_age_ns_ || supervised_.count(p.pid) != 0) return false;
  if (meta == nullptr) return true;
  return meta->links.empty() && meta->monitored_by.empty() && meta->name.empty() && meta->registry_keys.empty();
}

std::vector<ProcessInfo> Runtime::audit_orphans(const OrphanAudit& audit) {
  const OrphanRule rule(*this, audit.min_age);
  std::vector<ProcessInfo> orphans;
  const uint32_t hw = table_.high_water();
  for (uint32_t i = 0; i < hw; ++i) {
    ProcessRef ref = table_.acquire_index(i);
    if (!ref) continue;
    Process& p = *ref.get();
    bool orphan;
    {
      SpinLockGuard lock(&p.meta_lock);
      orphan = rule.is_orphan(p, p.meta.get());
    }
    if (orphan) orphans.push_back(snapshot(p));
  }
  if (audit.policy == OrphanAudit::Policy::terminate) {
    for (const ProcessInfo& o : orphans) {
      logger_->warn("orphan audit: killing {} running {} (age {:.0f} s, mailbox {}, heap {} bytes)", o.pid.to_string(),
                    o.behaviour, o.age_seconds, o.mailbox_length, o.heap_bytes);
      (void)exit_signal(nullptr, o.pid, ExitReason::kill());
    }
  }
  return orphans;
}

}  // namespace canopy::detail
