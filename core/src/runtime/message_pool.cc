// Message envelopes come from per-thread free lists instead of malloc: a
// send allocates on the sender's thread and the receiver frees on its own,
// and glibc makes that cross-thread free take the allocating arena's lock
// (a third of canopy-bench fanin's time went to _int_malloc/_int_free).
//
// Each thread keeps up to kLocalMax free blocks per size class; beyond that
// it hands kBatch of them to a shared stack of batches (one lock per
// kBatch blocks), and a thread whose list is empty takes a batch back, or
// mallocs one block. The shared stack holds at most kSharedMaxBatches per
// class; what a drained flood leaves beyond that goes back to malloc, so a
// burst of millions does not stay pooled, and trim() (the poller, after a
// flood drained, before malloc_trim) frees the shared batches: pooled
// envelopes scattered among a flood's payloads would pin their pages. A
// thread that exits gives its blocks back.
//
// The heap ledger still sees every envelope: the block's header carries the
// {slot, generation} charged when it was made (the sending process), and the
// free refunds it, whichever thread frees it (heap_ledger.hpp).
//
// Process-wide, like operator new it stands in for. Under AddressSanitizer
// the pool is off (plain operator new/delete), so a use after free of a
// message is still caught.
#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

#include "canopy/core/detail/heap_ledger.hpp"
#include "canopy/core/message.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define CANOPY_MESSAGE_POOL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CANOPY_MESSAGE_POOL 0
#endif
#endif
#ifndef CANOPY_MESSAGE_POOL
#define CANOPY_MESSAGE_POOL 1
#endif

namespace canopy::detail::message_pool {

namespace {

constexpr size_t kHeader = 16;  // keeps the envelope at malloc's alignment
constexpr size_t kMaxPooled = 256;
constexpr size_t kClasses = kMaxPooled / 16 + 1;  // one per 16 bytes of envelope
constexpr uint32_t kBatch = 128;
constexpr uint32_t kLocalMax = 2 * kBatch;
constexpr size_t kSharedMaxBatches = 256;

struct FreeBlock {
  FreeBlock* next;
};
struct Header {
  uint32_t slot;
  uint32_t generation;
  uint64_t unused;
};
static_assert(sizeof(Header) == kHeader);

size_t class_of(size_t size) { return (size + 15) / 16; }
size_t block_bytes(size_t cls) { return kHeader + cls * 16; }

struct ThreadCache {
  FreeBlock* head[kClasses];
  uint32_t count[kClasses];
  bool registered;
  bool gone;  // the thread's destructors ran: free straight to malloc
};
thread_local constinit ThreadCache tl_cache{};

struct Shared {
  std::mutex mu;
  std::vector<FreeBlock*> batches[kClasses];  // each a chain of kBatch blocks
};
// Never destroyed: threads may free messages during static destruction.
Shared& shared() {
  static Shared* s = new Shared;
  return *s;
}

void free_chain(FreeBlock* b) {
  while (b != nullptr) {
    FreeBlock* next = b->next;
    std::free(b);
    b = next;
  }
}

void give_back_all(ThreadCache& c) {
  for (size_t cls = 0; cls < kClasses; ++cls) {
    free_chain(c.head[cls]);
    c.head[cls] = nullptr;
    c.count[cls] = 0;
  }
}

struct Reaper {
  ~Reaper() {
    give_back_all(tl_cache);
    tl_cache.gone = true;
  }
};

void register_thread(ThreadCache& c) {
  if (c.registered) return;
  c.registered = true;
  thread_local Reaper reaper;
  (void)reaper;
}

// The slow paths grow shared structures: the runtime's memory, not the
// running process's heap.
[[gnu::noinline]] FreeBlock* refill(ThreadCache& c, size_t cls) {
  heap::ScopedSlot runtime_owned(0);
  register_thread(c);
  if (!c.gone) {
    Shared& s = shared();
    std::unique_lock lock(s.mu);
    auto& batches = s.batches[cls];
    if (!batches.empty()) {
      FreeBlock* chain = batches.back();
      batches.pop_back();
      lock.unlock();
      c.head[cls] = chain->next;
      c.count[cls] = kBatch - 1;
      return chain;
    }
  }
  void* raw = std::malloc(block_bytes(cls));
  if (raw == nullptr) throw std::bad_alloc();
  return static_cast<FreeBlock*>(raw);
}

[[gnu::noinline]] void spill(ThreadCache& c, size_t cls) {
  heap::ScopedSlot runtime_owned(0);
  register_thread(c);
  FreeBlock* first = c.head[cls];
  FreeBlock* last = first;
  for (uint32_t i = 1; i < kBatch; ++i) last = last->next;
  c.head[cls] = last->next;
  c.count[cls] -= kBatch;
  last->next = nullptr;
  Shared& s = shared();
  {
    std::lock_guard lock(s.mu);
    if (s.batches[cls].size() < kSharedMaxBatches) {
      s.batches[cls].push_back(first);
      return;
    }
  }
  free_chain(first);
}

}  // namespace

void trim() {
  std::vector<FreeBlock*> taken[kClasses];
  {
    Shared& s = shared();
    std::lock_guard lock(s.mu);
    for (size_t cls = 0; cls < kClasses; ++cls) taken[cls].swap(s.batches[cls]);
  }
  for (auto& batches : taken)
    for (FreeBlock* chain : batches) free_chain(chain);
}

void* allocate(size_t size) {
  if (!CANOPY_MESSAGE_POOL || size > kMaxPooled) return ::operator new(size);
  const size_t cls = class_of(size);
  ThreadCache& c = tl_cache;
  FreeBlock* b = c.head[cls];
  if (b != nullptr) [[likely]] {
    c.head[cls] = b->next;
    --c.count[cls];
  } else {
    b = refill(c, cls);
  }
  Header h{};
  if (heap::tl_ledger.slot != 0 && heap::tracking()) {
    const heap::Tag tag = heap::charge(size);
    h.slot = tag.slot;
    h.generation = tag.generation;
  }
  auto* header = reinterpret_cast<Header*>(b);
  *header = h;
  return header + 1;
}

void release(void* p, size_t size) noexcept {
  if (p == nullptr) return;
  if (!CANOPY_MESSAGE_POOL || size > kMaxPooled) {
    ::operator delete(p);  // unsized: clang builds without -fsized-deallocation
    return;
  }
  Header* header = static_cast<Header*>(p) - 1;
  if (header->slot != 0) heap::refund(heap::Tag{header->slot, header->generation}, size);
  const size_t cls = class_of(size);
  auto* b = reinterpret_cast<FreeBlock*>(header);
  ThreadCache& c = tl_cache;
  if (c.gone) [[unlikely]] {
    std::free(b);
    return;
  }
  b->next = c.head[cls];
  c.head[cls] = b;
  if (++c.count[cls] > kLocalMax) [[unlikely]] spill(c, cls);
}

}  // namespace canopy::detail::message_pool
