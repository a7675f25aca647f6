#include "instrumentation/behaviour_stats.hpp"

#include <algorithm>
#include <cstdio>

#include "canopy/core/message.hpp"
#include "instrumentation/metric_def.hpp"

namespace canopy::detail {

namespace {

void bump(std::atomic<uint64_t>& c, uint64_t by = 1) {
  c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

}  // namespace

void LatencyCells::add(uint64_t ns) {
  const double s = static_cast<double>(ns) / 1e9;
  const size_t i =
      static_cast<size_t>(std::lower_bound(kLatencyBounds.begin(), kLatencyBounds.end(), s) - kLatencyBounds.begin());
  bump(buckets[i]);
  bump(count);
  bump(sum_ns, ns);
}

BehaviourIds::BehaviourIds() {
  names_.push_back("other");
  std::snprintf(fixed_[0], kFixedName, "%s", "other");
}

uint16_t BehaviourIds::id_of(const std::type_info& type) {
  MutexLock lock(&mu_);
  auto it = ids_.find(std::type_index(type));
  if (it != ids_.end()) return it->second;
  if (names_.size() >= kMaxBehaviours) return 0;
  const auto id = static_cast<uint16_t>(names_.size());
  names_.push_back(type_name(type));
  std::snprintf(fixed_[id], kFixedName, "%s", names_.back().c_str());
  ids_.emplace(std::type_index(type), id);
  return id;
}

std::vector<std::string> BehaviourIds::names() const {
  MutexLock lock(&mu_);
  return names_;
}

std::vector<telemetry::Family> behaviour_families(const std::vector<std::string>& names,
                                                  const std::vector<uint64_t>& live_per_id,
                                                  const std::vector<uint64_t>& orphans_per_id,
                                                  const std::vector<const SchedulerBehaviourCells*>& schedulers) {
  telemetry::Family processes = builtin_family("canopy_behaviour_processes");
  // By behaviour, so CanopyOrphanProcesses names the kind of process that
  // leaked; at 0 for every behaviour with live processes, so sum() is the
  // node's count from the first poll.
  telemetry::Family orphans = builtin_family("canopy_orphan_processes");
  telemetry::Family messages = builtin_family("canopy_behaviour_messages_total");
  telemetry::Family wait = builtin_family("canopy_behaviour_mailbox_wait_seconds");
  telemetry::Family processing = builtin_family("canopy_behaviour_processing_seconds");
  wait.bounds.assign(kLatencyBounds.begin(), kLatencyBounds.end());
  processing.bounds = wait.bounds;
  auto histogram = [&](telemetry::Family& f, const telemetry::Labels& labels, auto&& cells_of) {
    telemetry::Sample s{labels, 0, std::vector<uint64_t>(kLatencyBounds.size() + 1, 0), 0, 0};
    uint64_t sum_ns = 0;
    for (const SchedulerBehaviourCells* sc : schedulers) {
      const LatencyCells& c = cells_of(*sc);
      for (size_t b = 0; b < c.buckets.size(); ++b) s.bucket_counts[b] += c.buckets[b].load(std::memory_order_relaxed);
      sum_ns += c.sum_ns.load(std::memory_order_relaxed);
    }
    // Cumulative, and a count that agrees with the buckets read.
    for (size_t b = 1; b < s.bucket_counts.size(); ++b) s.bucket_counts[b] += s.bucket_counts[b - 1];
    s.count = s.bucket_counts.back();
    s.sum = static_cast<double>(sum_ns) / 1e9;
    f.samples.push_back(std::move(s));
  };
  for (size_t id = 0; id < names.size(); ++id) {
    uint64_t handled = 0;
    for (const SchedulerBehaviourCells* sc : schedulers) {
      handled += sc->at(static_cast<uint16_t>(id)).messages.load(std::memory_order_relaxed);
    }
    const uint64_t live = id < live_per_id.size() ? live_per_id[id] : 0;
    if (live == 0 && handled == 0) continue;  // "other" before the cap is reached
    const telemetry::Labels labels{{"behaviour", names[id]}};
    processes.samples.push_back(telemetry::Sample{labels, static_cast<double>(live), {}, 0, 0});
    const uint64_t orphaned = id < orphans_per_id.size() ? orphans_per_id[id] : 0;
    orphans.samples.push_back(telemetry::Sample{labels, static_cast<double>(orphaned), {}, 0, 0});
    messages.samples.push_back(telemetry::Sample{labels, static_cast<double>(handled), {}, 0, 0});
    const auto id16 = static_cast<uint16_t>(id);
    histogram(wait, labels, [&](const SchedulerBehaviourCells& sc) -> const LatencyCells& { return sc.at(id16).wait; });
    histogram(processing, labels,
              [&](const SchedulerBehaviourCells& sc) -> const LatencyCells& { return sc.at(id16).processing; });
  }
  return {std::move(processes), std::move(orphans), std::move(messages), std::move(wait), std::move(processing)};
}

}  // namespace canopy::detail
