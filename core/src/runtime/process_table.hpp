#pragma once
// The process table: slots addressed by Pid index, each with a generation
// and a reference count packed into one atomic word, so a lookup is a single
// CAS and never takes a lock, and a stale Pid fails the generation check.
// Slots live in chunks allocated on first use, so a table sized for a million
// processes costs nothing until they exist.
//
// Scheduler threads look processes up without touching the count at all
// (lookup_unreferenced): a process whose last reference goes is not freed at
// once but parked in a limbo tagged with an epoch, and freed by collect()
// only once every scheduler has started a new slice since (quiescent-state
// reclamation). That keeps shared cache lines out of the send path.
// Thread-safe.
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "canopy/core/pid.hpp"
#include "canopy/telemetry/detail/mutex.hpp"

namespace canopy::detail {

struct Process;
class ProcessTable;

// A counted reference to a live (or exiting) process; the Process object
// stays valid while any ProcessRef to it exists.
class ProcessRef {
 public:
  ProcessRef() = default;
  ProcessRef(ProcessRef&& o) noexcept : table_(o.table_), index_(o.index_), process_(o.process_) {
    o.process_ = nullptr;
  }
  ProcessRef& operator=(ProcessRef&& o) noexcept;
  ProcessRef(const ProcessRef&) = delete;
  ProcessRef& operator=(const ProcessRef&) = delete;
  ~ProcessRef() { reset(); }
  void reset();
  Process* get() const { return process_; }
  Process* operator->() const { return process_; }
  explicit operator bool() const { return process_ != nullptr; }

 private:
  friend class ProcessTable;
  ProcessRef(const ProcessTable* t, uint32_t i, Process* p) : table_(t), index_(i), process_(p) {}
  const ProcessTable* table_ = nullptr;
  uint32_t index_ = 0;
  Process* process_ = nullptr;
};

class ProcessTable {
 public:
  // `reclaim` deletes a process once it is dead and unreferenced.
  using Reclaim = void (*)(Process*);
  ProcessTable(uint32_t max_processes, Reclaim reclaim);
  ~ProcessTable();

  // A free slot's next Pid, or nullopt when the table is full.
  std::optional<Pid> reserve() EXCLUDES(free_mu_, limbo_mu_);
  // Gives back a reserved slot that never got a process.
  void unreserve(Pid pid) EXCLUDES(free_mu_);
  // Makes `p` reachable as `pid`, holding one reference for the process itself.
  void publish(Pid pid, Process* p);
  // A reference to the live process `pid`; empty when dead or stale.
  ProcessRef acquire(Pid pid) const;
  // No new acquire() succeeds (existing references stay valid).
  void close(Pid pid);
  // close(), then drops the process's own reference. The last
  // reference to go reclaims the process and frees the slot.
  void retire(Pid pid);

  // Live + retiring-but-referenced slots (reclaimed ones are not counted).
  uint32_t occupied() const { return occupied_.load(std::memory_order_acquire); }
  uint32_t capacity() const { return max_; }
  // For scheduler threads inside a slice only (see the class comment): the
  // live process `pid`, valid until the thread's next quiescent point.
  Process* lookup_unreferenced(Pid pid) const;
  // The current reclamation epoch; schedulers publish it at each slice start.
  uint64_t epoch() const { return epoch_.load(std::memory_order_seq_cst); }
  // Frees retired processes whose epoch is below `min_observed` (the oldest
  // epoch any scheduler may still be using). Returns how many were freed.
  size_t collect(uint64_t min_observed) EXCLUDES(free_mu_, limbo_mu_);
  // How collect() learns `min_observed` when reserve() finds the table full.
  void set_quiescence(std::function<uint64_t()> min_observed) { min_observed_ = std::move(min_observed); }
  size_t limbo_size() const EXCLUDES(limbo_mu_);

  // One past the highest slot index ever handed out.
  uint32_t high_water() const { return fresh_.load(std::memory_order_acquire); }
  // A reference to whatever lives in slot `index` now.
  ProcessRef acquire_index(uint32_t index) const;

 private:
  friend class ProcessRef;
  static constexpr uint32_t kChunkBits = 12;
  static constexpr uint32_t kChunkSize = 1u << kChunkBits;
  static constexpr uint64_t kAlive = 1ull << 31;
  static constexpr uint64_t kRefMask = kAlive - 1;

  struct Slot {
    std::atomic<uint64_t> word{0};  // generation << 32 | alive bit | references
    std::atomic<Process*> process{nullptr};
  };
  Slot* slot(uint32_t index) const;
  void release(uint32_t index) const EXCLUDES(limbo_mu_);
  void free_slot(uint32_t index) EXCLUDES(free_mu_);

  // Constant after construction.
  const uint32_t max_;
  const Reclaim reclaim_;
  std::unique_ptr<std::atomic<Slot*>[]> chunks_;

  mutable Mutex free_mu_;
  mutable std::vector<uint32_t> free_ GUARDED_BY(free_mu_);
  std::atomic<uint32_t> fresh_{0};  // written under free_mu_, read anywhere (high_water): atomic on purpose
  mutable std::atomic<uint32_t> occupied_{0};

  mutable std::atomic<uint64_t> epoch_{1};
  struct Retired {
    uint32_t index;
    uint64_t epoch;
  };
  mutable Mutex limbo_mu_;
  mutable std::deque<Retired> limbo_ GUARDED_BY(limbo_mu_);  // in epoch order
  std::function<uint64_t()> min_observed_;                   // set before use
};

}  // namespace canopy::detail
