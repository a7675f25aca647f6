#pragma once
// Latency and load per behaviour (CAF's per-actor-type mailbox and
// processing time): each behaviour type gets a small id at spawn; each
// scheduler thread counts into its own cells (one writer: relaxed loads and
// stores, no read-modify-write), and the poller sums the cells into
// canopy_behaviour_messages_total (every message) and the
// canopy_behaviour_mailbox_wait_seconds / _processing_seconds histograms
// (one message in kSampleEvery per scheduler: its enqueue-to-start wait on the
// coarse clock the mailbox already stamps, and its handler's duration on the
// cycle counter). Thread-safe as described.
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <typeindex>
#include <unordered_map>
#include <vector>

#include "canopy/telemetry/collect.hpp"
#include "canopy/telemetry/detail/mutex.hpp"

namespace canopy::detail {

inline constexpr size_t kMaxBehaviours = 256;  // the cardinality cap; id 0 is "other"
inline constexpr uint32_t kSampleEvery = 64;
// Histogram upper bounds in seconds (+Inf implied).
inline constexpr std::array<double, 12> kLatencyBounds = {0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05,
                                                          0.1,    0.5,    1.0,   5.0,   10.0, 30.0};

// One writer (its scheduler thread); read by the poller.
struct LatencyCells {
  std::array<std::atomic<uint64_t>, kLatencyBounds.size() + 1> buckets{};
  std::atomic<uint64_t> count{0};
  std::atomic<uint64_t> sum_ns{0};
  void add(uint64_t ns);
};

struct BehaviourCells {
  std::atomic<uint64_t> messages{0};
  LatencyCells wait;
  LatencyCells processing;
};

// A scheduler thread's cells, one per behaviour id.
class SchedulerBehaviourCells {
 public:
  SchedulerBehaviourCells() : cells_(new BehaviourCells[kMaxBehaviours]) {}
  BehaviourCells& at(uint16_t id) { return cells_[id]; }
  const BehaviourCells& at(uint16_t id) const { return cells_[id]; }
  // True for one message in kSampleEvery.
  bool sample() { return (++tick_ % kSampleEvery) == 0; }

 private:
  std::unique_ptr<BehaviourCells[]> cells_;
  uint32_t tick_ = 0;
};

// Behaviour type -> id, and the names the poller exports.
class BehaviourIds {
 public:
  BehaviourIds();
  uint16_t id_of(const std::type_info& type) EXCLUDES(mu_);
  std::vector<std::string> names() const EXCLUDES(mu_);
  // The name of `id` in fixed memory (truncated to kFixedName - 1 bytes),
  // written before the id is handed out and never moved: what a
  // fatal-signal handler may read. "" for an id not handed out.
  static constexpr size_t kFixedName = 64;
  const char* fixed_name(uint32_t id) const { return id < kMaxBehaviours ? fixed_[id] : ""; }

 private:
  // On the heap: 16 KiB inside the Runtime would push its hot fields apart.
  const std::unique_ptr<char[][kFixedName]> fixed_ = std::make_unique<char[][kFixedName]>(kMaxBehaviours);
  mutable Mutex mu_;
  std::unordered_map<std::type_index, uint16_t> ids_ GUARDED_BY(mu_);
  std::vector<std::string> names_ GUARDED_BY(mu_);
};

// The poller's families: processes and orphans per behaviour (live_per_id,
// orphans_per_id, from its walk), and the sums of every scheduler's cells.
std::vector<telemetry::Family> behaviour_families(const std::vector<std::string>& names,
                                                  const std::vector<uint64_t>& live_per_id,
                                                  const std::vector<uint64_t>& orphans_per_id,
                                                  const std::vector<const SchedulerBehaviourCells*>& schedulers);

}  // namespace canopy::detail
