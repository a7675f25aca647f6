#pragma once
// A process mailbox. Unbounded mailboxes are an intrusive lock-free MPSC
// queue (Vyukov): a send is one atomic exchange plus the counters, and no
// allocation beyond the message itself. Bounded mailboxes need the sender to
// see and change the queue (capacity check, drop_oldest), so they use a small
// mutex-protected deque instead. Signals bypass the capacity: a full mailbox
// never loses a link, monitor or exit signal.
// Threading rule: push() from any thread; pop() owner process only; the
// readers (length, bytes, oldest_stamp...) from any thread.
//
// The counts are split by side so that under a backlog the consumer never
// fights the producers for a cache line with a read-modify-write:
// producers add to `pushed_` (an atomic add on their line), the owner
// stores `popped_` (a plain store on its own line). Both are running sums
// of (1 << kLengthShift | bytes) mod 2^64, so pushed - popped is exactly
// the length and bytes of what waits.
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>

#include "canopy/core/message.hpp"
#include "canopy/core/options.hpp"
#include "canopy/telemetry/detail/mutex.hpp"

namespace canopy::detail {

class Mailbox {
 public:
  explicit Mailbox(const MailboxOptions& options);
  ~Mailbox();
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;

  enum class Outcome : uint8_t { accepted, dropped_newest, rejected, closed };
  struct PushResult {
    Outcome outcome = Outcome::accepted;
    uint32_t length_before = 0;  // messages waiting before this one (see the note on counts)
    bool crossed_high = false;   // this push took the mailbox over its high watermark
    Message* evicted = nullptr;  // drop_oldest: the message that made room (caller disposes)
  };
  // Takes ownership of `m` when accepted or when it evicted another; on
  // dropped_newest/rejected/closed the caller keeps `m`. `may_block` is true
  // only for threads outside the runtime (policy `block`).
  PushResult push(Message* m, uint32_t now_ms, bool may_block);
  // Unbounded mailboxes only: appends `first`..`last`, already linked through
  // `next` and stamped, whose counts (count_of) sum to `packed`, as one push.
  // `length_before` is what waited before the first of them.
  PushResult push_chain(Message* first, Message* last, uint32_t count, uint64_t packed);
  // What one message adds to the counts push_chain takes.
  static uint64_t count_of(const Message* m) { return one(m); }
  bool bounded() const { return bounded_ != nullptr; }
  // The next message, or nullptr when none is ready.
  Message* pop(uint32_t now_ms);
  // Wakes blocked senders for good: the process is gone.
  void close();

  uint32_t length() const { return static_cast<uint32_t>(waiting() >> kLengthShift); }
  uint64_t bytes() const { return waiting() & kBytesMask; }
  uint32_t capacity() const { return bounded_ ? bounded_->capacity : 0; }
  // Coarse-clock stamp of the oldest waiting message; meaningful when length() > 0.
  uint32_t oldest_stamp() const { return oldest_stamp_.load(std::memory_order_relaxed); }
  bool overloaded() const { return overloaded_.load(std::memory_order_relaxed); }
  // True once after the mailbox fell back to its low watermark.
  bool take_cleared() {
    return cleared_.load(std::memory_order_relaxed) && cleared_.exchange(false, std::memory_order_relaxed);
  }

 private:
  struct Bounded {
    Bounded(uint32_t c, OverflowPolicy p) : capacity(c), policy(p) {}
    uint32_t capacity;
    OverflowPolicy policy;
    Mutex mu;
    CondVar room;
    std::deque<Message*> queue GUARDED_BY(mu);
    uint32_t user_messages GUARDED_BY(mu) = 0;  // signals do not count
    bool closed GUARDED_BY(mu) = false;
  };

  void account_push(uint64_t packed, uint32_t count, uint32_t stamp_ms, PushResult& r);
  void account_pop(Message* m);
  Message* pop_unbounded();
  // (length << kLengthShift | bytes) of what waits; never "negative".
  uint64_t waiting() const {
    // popped first: a message is counted pushed before it can be popped.
    const uint64_t popped = popped_.load(std::memory_order_acquire);
    const uint64_t w = pushed_.load(std::memory_order_relaxed) - popped;
    return (w >> 63) != 0 ? 0 : w;
  }
  static uint64_t one(const Message* m) { return (uint64_t{1} << kLengthShift) | m->bytes(); }

  // Constant after construction.
  const uint32_t high_;
  const uint32_t low_;
  const std::unique_ptr<Bounded> bounded_;

  // Length and bytes packed in one word so a push is one atomic add: 28 bits
  // of length (268M messages), 36 bits of bytes (64 GiB) waiting.
  static constexpr unsigned kLengthShift = 36;
  static constexpr uint64_t kBytesMask = (uint64_t{1} << kLengthShift) - 1;

  // The producers' side: the queue's tail and the running sum of pushes.
  std::atomic<MailboxNode*> tail_;
  std::atomic<uint64_t> pushed_{0};

  // The owner's side: the queue's head, the pops, the oldest stamp. (No
  // alignas: two padded lines per process cost more memory than they win.)
  MailboxNode* head_;
  MailboxNode stub_;
  std::atomic<uint64_t> popped_{0};  // stored by the owner only (a bounded mailbox: under its lock)
  std::atomic<uint32_t> oldest_stamp_{0};
  // Read by producers on every push, written only on a crossing.
  std::atomic<bool> overloaded_{false};
  std::atomic<bool> cleared_{false};
};

}  // namespace canopy::detail
