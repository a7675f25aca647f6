#include "canopy/core/detail/heap_ledger.hpp"

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <new>

namespace canopy::detail::heap {

thread_local constinit ThreadLedger tl_ledger;

namespace {

using ledger_detail::kBias;
using ledger_detail::kBytesBits;
using ledger_detail::kBytesMask;
constexpr uint32_t kGenerationMask = (1u << 24) - 1;
constexpr uint32_t kChunkBits = 16;
constexpr uint32_t kChunkSlots = 1u << kChunkBits;
constexpr uint32_t kChunks = 256;  // 16M slots: more than max_processes allows

struct Chunk {
  std::atomic<uint64_t> words[kChunkSlots];
};

uint64_t fresh_word(uint32_t generation) { return static_cast<uint64_t>(generation) << kBytesBits | kBias; }

// The slots live in chunks made with calloc (never operator new, which
// charges this ledger) and are never freed: a late refund may still read one.
struct Ledger {
  std::atomic<Chunk*> chunks[kChunks] = {};
  std::mutex mu;
  uint32_t next = 1;         // slot 0 is "system"
  uint32_t* free = nullptr;  // released slots, a calloc'ed stack
  uint32_t free_count = 0;
  uint32_t free_capacity = 0;
  std::atomic<bool> tracking{false};
};

Ledger& ledger() {
  static Ledger* l = new (std::calloc(1, sizeof(Ledger))) Ledger();
  return *l;
}

std::atomic<uint64_t>& word(uint32_t slot) {
  Chunk* c = ledger().chunks[slot >> kChunkBits].load(std::memory_order_acquire);
  return c->words[slot & (kChunkSlots - 1)];
}

}  // namespace

uint32_t acquire_slot() {
  Ledger& l = ledger();
  std::lock_guard lock(l.mu);
  if (l.free_count > 0) return l.free[--l.free_count];
  const uint32_t slot = l.next;
  if (slot >= kChunks * kChunkSlots) return 0;  // out of slots: charge nobody
  if ((slot & (kChunkSlots - 1)) == 0 || slot == 1) {
    auto* c = static_cast<Chunk*>(std::calloc(1, sizeof(Chunk)));
    if (c == nullptr) return 0;
    for (auto& w : c->words) w.store(fresh_word(0), std::memory_order_relaxed);
    l.chunks[slot >> kChunkBits].store(c, std::memory_order_release);
  }
  ++l.next;
  return slot;
}

void release_slot(uint32_t slot) {
  if (slot == 0) return;
  ThreadLedger::Way& mine = tl_ledger.ways[slot % ThreadLedger::kWays];
  if (mine.slot == slot) mine.bytes = 0;  // its bytes go with it
  std::atomic<uint64_t>& w = word(slot);
  uint64_t old = w.load(std::memory_order_relaxed);
  uint64_t next;
  do {
    const uint32_t gen = static_cast<uint32_t>(old >> kBytesBits);
    next = fresh_word((gen + 1) & kGenerationMask);
  } while (!w.compare_exchange_weak(old, next, std::memory_order_relaxed));
  Ledger& l = ledger();
  std::lock_guard lock(l.mu);
  if (l.free_count == l.free_capacity) {
    const uint32_t capacity = l.free_capacity == 0 ? 1024 : l.free_capacity * 2;
    auto* grown = static_cast<uint32_t*>(std::realloc(l.free, capacity * sizeof(uint32_t)));
    if (grown == nullptr) return;  // the slot is lost, not reused: harmless
    l.free = grown;
    l.free_capacity = capacity;
  }
  l.free[l.free_count++] = slot;
}

uint32_t generation_of(uint32_t slot) {
  return slot == 0 ? 0 : static_cast<uint32_t>(word(slot).load(std::memory_order_relaxed) >> kBytesBits);
}

uint64_t slot_bytes(uint32_t slot) { return word_bytes(slot_word(slot)); }

const std::atomic<uint64_t>* slot_word(uint32_t slot) { return slot == 0 ? nullptr : &word(slot); }

namespace {

// Adds `bytes` to `slot` if it still has `generation` (else it was released
// and its bytes went with it). Within the bias: a refund batched here may
// reach the word before the charge batched on another thread does.
void add_if_current(uint32_t slot, uint32_t generation, int64_t bytes) {
  if (slot == 0 || bytes == 0) return;
  std::atomic<uint64_t>& w = word(slot);
  uint64_t old = w.load(std::memory_order_relaxed);
  do {
    if (static_cast<uint32_t>(old >> kBytesBits) != generation) return;
  } while (!w.compare_exchange_weak(old, old + static_cast<uint64_t>(bytes), std::memory_order_relaxed));
}

}  // namespace

void flush() {
  for (ThreadLedger::Way& w : tl_ledger.ways) {
    if (w.bytes != 0) ledger_detail::flush_way(w);
  }
}

namespace ledger_detail {

void flush_way(ThreadLedger::Way& w) {
  add_if_current(w.slot, w.generation, w.bytes);
  w.bytes = 0;
}

}  // namespace ledger_detail

bool tracking() { return ledger().tracking.load(std::memory_order_relaxed); }

void set_tracking(bool on) { ledger().tracking.store(on, std::memory_order_relaxed); }

}  // namespace canopy::detail::heap
