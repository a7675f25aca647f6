#include "runtime/mailbox.hpp"

#include "canopy/core/detail/heap_ledger.hpp"

namespace canopy::detail {

Mailbox::Mailbox(const MailboxOptions& o)
    : high_(o.high_watermark),
      low_(o.low_watermark < o.high_watermark ? o.low_watermark : o.high_watermark / 2),
      bounded_(o.capacity > 0 ? std::make_unique<Bounded>(o.capacity, o.overflow) : nullptr),
      tail_(&stub_),
      head_(&stub_) {}

Mailbox::~Mailbox() {
  // The owner drains the mailbox before it goes; whatever raced in after
  // that is freed here (the runtime accounts for it before destroying us).
  while (Message* m = pop(0)) delete m;
}

void Mailbox::account_push(uint64_t packed, uint32_t count, uint32_t stamp_ms, PushResult& r) {
  const uint64_t popped = popped_.load(std::memory_order_acquire);
  const uint64_t w = pushed_.fetch_add(packed, std::memory_order_relaxed) - popped;
  const uint32_t before = (w >> 63) != 0 ? 0 : static_cast<uint32_t>(w >> kLengthShift);
  r.length_before = before;
  if (before == 0) oldest_stamp_.store(stamp_ms, std::memory_order_relaxed);
  if (high_ != 0 && before + count >= high_ && !overloaded_.load(std::memory_order_relaxed)) {
    r.crossed_high = !overloaded_.exchange(true, std::memory_order_relaxed);
  }
}

void Mailbox::account_pop(Message* m) {
  popped_.store(popped_.load(std::memory_order_relaxed) + one(m), std::memory_order_release);
  // Only an overloaded mailbox reads the producers' line here.
  if (overloaded_.load(std::memory_order_relaxed) && length() <= low_ &&
      overloaded_.exchange(false, std::memory_order_relaxed)) {
    cleared_.store(true, std::memory_order_relaxed);
  }
}

Mailbox::PushResult Mailbox::push(Message* m, uint32_t now_ms, bool may_block) {
  // A bounded mailbox's queue is the runtime's memory, not the sender's heap.
  heap::ScopedSlot runtime_owned(0);
  PushResult r;
  m->stamp_ms_ = now_ms;
  if (!bounded_) {
    m->next.store(nullptr, std::memory_order_relaxed);
    account_push(one(m), 1, now_ms, r);
    MailboxNode* prev = tail_.exchange(m, std::memory_order_acq_rel);
    prev->next.store(m, std::memory_order_release);
    return r;
  }
  Bounded& b = *bounded_;
  MutexLock lock(&b.mu);
  const bool is_signal = m->kind() == MessageKind::signal;
  if (b.closed) {
    r.outcome = Outcome::closed;
    return r;
  }
  if (!is_signal && b.user_messages >= b.capacity) {
    switch (b.policy) {
      case OverflowPolicy::drop_newest:
        r.outcome = Outcome::dropped_newest;
        return r;
      case OverflowPolicy::reject:
        r.outcome = Outcome::rejected;
        return r;
      case OverflowPolicy::block:
        if (!may_block) {
          r.outcome = Outcome::rejected;
          return r;
        }
        while (!b.closed && b.user_messages >= b.capacity) b.room.wait(b.mu);
        if (b.closed) {
          r.outcome = Outcome::closed;
          return r;
        }
        break;
      case OverflowPolicy::drop_oldest:
        for (auto it = b.queue.begin(); it != b.queue.end(); ++it) {
          if ((*it)->kind() != MessageKind::signal) {
            r.evicted = *it;
            b.queue.erase(it);
            --b.user_messages;
            // A sender evicts: the count is the owner's, so it is kept
            // under the lock like every count of a bounded mailbox.
            account_pop(r.evicted);
            break;
          }
        }
        break;
    }
  }
  if (!is_signal) ++b.user_messages;
  account_push(one(m), 1, now_ms, r);
  b.queue.push_back(m);
  if (r.evicted != nullptr && !b.queue.empty()) {
    oldest_stamp_.store(b.queue.front()->stamp_ms_, std::memory_order_relaxed);
  }
  return r;
}

Mailbox::PushResult Mailbox::push_chain(Message* first, Message* last, uint32_t count, uint64_t packed) {
  PushResult r;
  last->next.store(nullptr, std::memory_order_relaxed);
  account_push(packed, count, first->stamp_ms_, r);
  // The links inside the chain are published by this release, like a
  // single message's fields.
  MailboxNode* prev = tail_.exchange(last, std::memory_order_acq_rel);
  prev->next.store(first, std::memory_order_release);
  return r;
}

Message* Mailbox::pop_unbounded() {
  MailboxNode* head = head_;
  MailboxNode* next = head->next.load(std::memory_order_acquire);
  if (head == &stub_) {
    if (next == nullptr) return nullptr;
    head_ = next;
    head = next;
    next = next->next.load(std::memory_order_acquire);
  }
  if (next != nullptr) {
    head_ = next;
    return static_cast<Message*>(head);
  }
  if (head != tail_.load(std::memory_order_acquire)) return nullptr;  // a push is half done
  // `head` is the last node: put the stub behind it so it can be taken.
  stub_.next.store(nullptr, std::memory_order_relaxed);
  MailboxNode* prev = tail_.exchange(&stub_, std::memory_order_acq_rel);
  prev->next.store(&stub_, std::memory_order_release);
  next = head->next.load(std::memory_order_acquire);
  if (next != nullptr) {
    head_ = next;
    return static_cast<Message*>(head);
  }
  return nullptr;
}

Message* Mailbox::pop(uint32_t now_ms) {
  Message* m = nullptr;
  if (!bounded_) {
    m = pop_unbounded();
    if (m == nullptr) return nullptr;
    account_pop(m);
    // The next message's stamp, when it is already linked; else "now" is a
    // close upper bound for a message being pushed right now.
    MailboxNode* n = head_ == &stub_ ? stub_.next.load(std::memory_order_acquire) : head_;
    oldest_stamp_.store(n != nullptr && n != &stub_ ? static_cast<Message*>(n)->stamp_ms_ : now_ms,
                        std::memory_order_relaxed);
    return m;
  }
  Bounded& b = *bounded_;
  {
    MutexLock lock(&b.mu);
    if (b.queue.empty()) return nullptr;
    m = b.queue.front();
    b.queue.pop_front();
    if (m->kind() != MessageKind::signal) --b.user_messages;
    account_pop(m);
    if (!b.queue.empty()) oldest_stamp_.store(b.queue.front()->stamp_ms_, std::memory_order_relaxed);
  }
  if (b.policy == OverflowPolicy::block) b.room.notify_one();
  return m;
}

void Mailbox::close() {
  if (!bounded_) return;
  {
    MutexLock lock(&bounded_->mu);
    bounded_->closed = true;
  }
  bounded_->room.notify_all();
}

}  // namespace canopy::detail
