#pragma once
// The directory of one runtime's tables (by id, in creation order, and by
// name) and their expiry sweeper. detail::Runtime owns it: made with the
// runtime, destroyed with it; the sweeper runs on the runtime's timer
// thread, a step per tick. Thread-safe.
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "canopy/core/detail/table_base.hpp"
#include "canopy/telemetry/detail/mutex.hpp"
#include "runtime/runtime_impl.hpp"

namespace canopy::detail {

class TableDirectory {
 public:
  TableDirectory() = default;
  TableDirectory(const TableDirectory&) = delete;
  TableDirectory& operator=(const TableDirectory&) = delete;

  // A fresh table id (ids count from 1 in each runtime).
  uint64_t next_id() { return next_id_.fetch_add(1, std::memory_order_relaxed); }
  // Lists `t` and schedules its first sweep. Errors: dead_process when it
  // was deleted meanwhile (its owner exited), already_registered when its
  // name is taken (then `t` is marked deleted, so its exit hook does nothing).
  Status add(const std::shared_ptr<TableBase>& t) EXCLUDES(mu_);
  void remove(const TableBase& t) EXCLUDES(mu_);
  std::shared_ptr<TableBase> find(const std::string& name) const EXCLUDES(mu_);
  std::vector<std::shared_ptr<TableBase>> list() const EXCLUDES(mu_);

  // Timer thread only, once a tick: sweeps each table whose sweep is due (at
  // most its sweep_batch entries) and schedules its next one, after its
  // sweep_interval, or after 1 ms when it removed a full batch (so a mass
  // expiry drains in short steps). One atomic load when nothing is due.
  void sweep_due() EXCLUDES(mu_);

 private:
  // The earliest next_sweep_at of a table that sweeps, or "never".
  int64_t earliest_locked() const REQUIRES(mu_);

  std::atomic<uint64_t> next_id_{1};
  // steady_clock nanoseconds of the earliest due sweep; INT64_MAX: none.
  std::atomic<int64_t> next_due_ns_{INT64_MAX};

  mutable Mutex mu_;
  std::map<uint64_t, std::shared_ptr<TableBase>> tables_ GUARDED_BY(mu_);  // by id: creation order
  std::unordered_map<std::string, uint64_t> names_ GUARDED_BY(mu_);
};

}  // namespace canopy::detail
