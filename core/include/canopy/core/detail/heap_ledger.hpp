#pragma once
// The heap ledger: how many bytes each live process holds of what it
// allocated through the global operator new. The ledger is always in
// canopy::core; the replacement operator new/delete that feeds it is the
// separate target canopy::heap_accounting (core/heap_accounting/), linked into
// the `canopy` binary and into any program that wants per-process heaps.
// Without it nothing is charged and every count stays 0.
//
// Each live process owns a slot (a 64-bit word: 24-bit generation, 40-bit
// bytes). The thread running a process names its slot in `tl_ledger.slot`;
// operator new charges the current slot and writes {slot, generation} beside
// the block; operator delete refunds that slot, from whichever thread, only
// if the generation still matches. A process that exits releases its slot
// (generation + 1, bytes 0), so blocks it leaves behind (a message it sent
// that is still queued) are freed later without anything going negative.
//
// Process-wide by nature (operator new is): the one piece of canopy state
// outside a Runtime. Thread-safe.
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace canopy::detail::heap {

struct Tag {
  uint32_t slot = 0;
  uint32_t generation = 0;
};

// A thread's view: the slot to charge now (0: nobody), and bytes charged to
// or refunded from a few slots that are not yet in those slots' words, one
// way per slot (slot % kWays). Batching keeps operator new/delete off the
// shared atomics: in a chain of processes on one scheduler, B freeing the
// message A just sent cancels A's charge in A's way with no atomic at all,
// and a charge costs what a refund costs (one way lookup, no slow path when
// the running process changes). A way's bytes go to its slot when another
// slot takes the way, when they pass 1 MiB, when the scheduler parks, and
// when a reader asks (flush); a slot released meanwhile (its process exited)
// takes none of them (the generation is checked).
struct ThreadLedger {
  uint32_t slot = 0;
  uint32_t slot_generation = 0;  // of `slot`, set with it by the runtime
  struct Way {
    uint32_t slot = 0;
    uint32_t generation = 0;
    int64_t bytes = 0;
  };
  static constexpr size_t kWays = 16;
  Way ways[kWays] = {};
};
extern thread_local constinit ThreadLedger tl_ledger;

// A slot for a new process (never 0); release_slot when it exits.
uint32_t acquire_slot();
void release_slot(uint32_t slot);
// The generation `slot` has now (constant while its process lives).
uint32_t generation_of(uint32_t slot);
// Bytes charged to `slot` and not yet refunded (flushed batches only).
uint64_t slot_bytes(uint32_t slot);
// The word behind `slot` (nullptr for 0): its address never changes (chunks
// are never freed), so a reader that asks often (the scheduler's large_heap
// check after every slice) resolves it once and reads it with word_bytes.
const std::atomic<uint64_t>* slot_word(uint32_t slot);

namespace ledger_detail {
constexpr int kBytesBits = 40;
constexpr uint64_t kBytesMask = (uint64_t{1} << kBytesBits) - 1;
// The bytes field holds bytes + kBias: a refund on another thread can land
// before the owner flushes the matching charge, so the count may dip below
// zero for a moment; the bias keeps that from borrowing from the generation.
constexpr uint64_t kBias = uint64_t{1} << (kBytesBits - 1);
}  // namespace ledger_detail

inline uint64_t word_bytes(const std::atomic<uint64_t>* w) {
  if (w == nullptr) return 0;
  const uint64_t field = w->load(std::memory_order_relaxed) & ledger_detail::kBytesMask;
  return field > ledger_detail::kBias ? field - ledger_detail::kBias : 0;
}
// Adds this thread's pending bytes to their slot (unless it was released).
void flush();

// True once canopy::heap_accounting is linked in and tracking (it says so at
// its first allocation).
bool tracking();
void set_tracking(bool on);

namespace ledger_detail {
constexpr int64_t kFlushAt = 1 << 20;
// Adds the way's bytes to its slot (if still current) and empties it.
void flush_way(ThreadLedger::Way& w);
// The way of `slot`, emptied first if another slot held it.
inline ThreadLedger::Way& way_of(ThreadLedger& l, uint32_t slot, uint32_t generation) {
  ThreadLedger::Way& w = l.ways[slot % ThreadLedger::kWays];
  if (w.slot != slot || w.generation != generation) [[unlikely]] {
    if (w.bytes != 0) flush_way(w);
    w.slot = slot;
    w.generation = generation;
  }
  return w;
}
inline void add(uint32_t slot, uint32_t generation, int64_t bytes) {
  ThreadLedger::Way& w = way_of(tl_ledger, slot, generation);
  w.bytes += bytes;
  if (w.bytes > kFlushAt || w.bytes < -kFlushAt) [[unlikely]] flush_way(w);
}
}  // namespace ledger_detail

// For operator new: charges the current slot; the tag goes beside the block.
inline Tag charge(size_t bytes) {
  const ThreadLedger& l = tl_ledger;
  if (l.slot == 0) return {};
  const Tag tag{l.slot, l.slot_generation};
  ledger_detail::add(tag.slot, tag.generation, static_cast<int64_t>(bytes));
  return tag;
}

// For operator delete: gives the block's bytes back to the slot that was
// charged, if it still belongs to the same process (generation).
inline void refund(Tag tag, size_t bytes) {
  if (tag.slot == 0) return;
  ledger_detail::add(tag.slot, tag.generation, -static_cast<int64_t>(bytes));
}

// Makes `slot` the one charged for a scope (0: charge nobody, e.g. runtime
// structures made while a process runs). Pending bytes stay pending.
class ScopedSlot {
 public:
  explicit ScopedSlot(uint32_t slot) : previous_(tl_ledger.slot) { tl_ledger.slot = slot; }
  ~ScopedSlot() { tl_ledger.slot = previous_; }
  ScopedSlot(const ScopedSlot&) = delete;
  ScopedSlot& operator=(const ScopedSlot&) = delete;

 private:
  uint32_t previous_;
};

}  // namespace canopy::detail::heap
