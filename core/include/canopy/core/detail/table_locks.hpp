#pragma once
// The lowest layer of a table (not for direct use; see canopy/core/table.hpp):
// per-thread slots, the stripe locks and their guards, and the counter helpers.
// Lock rules: a thread holds at most one stripe lock at a time; user code
// (update's fn, match's predicate) runs under a stripe lock and must not call
// back into the same table.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>

#include "canopy/core/table_types.hpp"
#include "canopy/telemetry/detail/thread_annotations.hpp"

namespace canopy {

namespace detail {

inline constexpr uint64_t kTableNone = ~uint64_t{0};
inline constexpr size_t kMaxReadHeavyStripes = 64;

// A small dense index per thread (assigned on first use), to pick the
// thread's slot in a table.
uint32_t next_table_thread_index();
inline uint32_t table_thread_index() {
  thread_local const uint32_t index = next_table_thread_index();
  return index;
}

inline void table_cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// murmur3's finalizer: spreads std::hash (the identity for integers) over
// all 64 bits; the stripe comes from bits 40.., the index slot from the low bits.
inline uint64_t table_mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

// One thread's block in one table: its lookup counters and, for read_heavy
// tables, how many of its readers are inside each stripe. Only threads that
// map to the same slot (more threads than slots) ever share it.
struct alignas(64) TableThreadSlot {
  TableThreadSlot() {
    for (auto& r : readers) r.store(0, std::memory_order_relaxed);
  }
  std::atomic<uint64_t> hits{0};
  std::atomic<uint64_t> misses{0};
  std::atomic<uint32_t> readers[kMaxReadHeavyStripes];
};

struct alignas(64) StripeLock {
  std::atomic<uint32_t> writer{0};  // read_heavy: a writer holds, or is draining, the stripe
  std::mutex mu;                    // read_heavy: writers only; write_heavy: everyone
};

// The locks of a table's stripes. Writers and read_heavy readers follow
// Dekker's pattern with sequentially consistent operations: a reader
// announces itself (its counter) then checks the writer flag; a writer raises
// the flag then waits for every counter of its stripe to drain.
//
// For clang's thread-safety analysis the stripes are one capability, the
// StripeLocks object: it checks that a stripe lock is held (and that no
// thread takes a second one, the rule above), not which stripe it is.
class CAPABILITY("stripe locks") StripeLocks {
 public:
  StripeLocks(TableConcurrency mode, size_t stripes);

  TableThreadSlot& my_slot() const { return slots_[table_thread_index() & slot_mask_]; }

  void lock_shared(size_t s, TableThreadSlot& me) const ACQUIRE_SHARED() {
    if (!read_heavy_) {
      locks_[s].mu.lock();
      return;
    }
    me.readers[s].fetch_add(1, std::memory_order_seq_cst);
    if (locks_[s].writer.load(std::memory_order_seq_cst) != 0) [[unlikely]]
      lock_shared_slow(s, me);
  }
  void unlock_shared(size_t s, TableThreadSlot& me) const RELEASE_SHARED() {
    if (!read_heavy_) {
      locks_[s].mu.unlock();
      return;
    }
    me.readers[s].fetch_sub(1, std::memory_order_release);
  }
  void lock(size_t s) const ACQUIRE() {
    locks_[s].mu.lock();
    if (read_heavy_) {
      locks_[s].writer.store(1, std::memory_order_seq_cst);
      for (size_t i = 0; i < slot_count_; ++i) {
        if (slots_[i].readers[s].load(std::memory_order_seq_cst) != 0) [[unlikely]]
          wait_for_readers(i, s);
      }
    }
  }
  void unlock(size_t s) const RELEASE() {
    if (read_heavy_) locks_[s].writer.store(0, std::memory_order_release);
    locks_[s].mu.unlock();
  }

  // Sums of every slot's lookup counters.
  std::pair<uint64_t, uint64_t> hits_misses() const;
  // The bytes these locks occupy (part of the table's fixed overhead).
  size_t footprint() const { return stripes_ * sizeof(StripeLock) + slot_count_ * sizeof(TableThreadSlot); }

 private:
  void lock_shared_slow(size_t s, TableThreadSlot& me) const;
  void wait_for_readers(size_t slot, size_t s) const;

  bool read_heavy_;
  size_t stripes_;
  size_t slot_count_;
  uint32_t slot_mask_;
  std::unique_ptr<StripeLock[]> locks_;
  std::unique_ptr<TableThreadSlot[]> slots_;
};

// Holds stripe `s` for reading for its scope.
class SCOPED_CAPABILITY ReadGuard {
 public:
  ReadGuard(const StripeLocks& locks, size_t s, TableThreadSlot& me) ACQUIRE_SHARED(locks)
      : locks_(locks), s_(s), me_(me) {
    locks_.lock_shared(s_, me_);
  }
  ~ReadGuard() RELEASE() { locks_.unlock_shared(s_, me_); }
  ReadGuard(const ReadGuard&) = delete;
  ReadGuard& operator=(const ReadGuard&) = delete;

 private:
  const StripeLocks& locks_;
  size_t s_;
  TableThreadSlot& me_;
};

// Holds stripe `s` for writing for its scope.
class SCOPED_CAPABILITY WriteGuard {
 public:
  WriteGuard(const StripeLocks& locks, size_t s) ACQUIRE(locks) : locks_(locks), s_(s) { locks_.lock(s_); }
  ~WriteGuard() RELEASE() { locks_.unlock(s_); }
  WriteGuard(const WriteGuard&) = delete;
  WriteGuard& operator=(const WriteGuard&) = delete;

 private:
  const StripeLocks& locks_;
  size_t s_;
};

// Only the holder of the stripe's write lock changes these; anyone may read.
inline void table_bump(std::atomic<uint64_t>& a, uint64_t n = 1) {
  a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}
inline void table_add(std::atomic<size_t>& a, size_t plus, size_t minus) {
  a.store(a.load(std::memory_order_relaxed) + plus - minus, std::memory_order_relaxed);
}
}  // namespace detail
}  // namespace canopy
