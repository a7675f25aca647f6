#pragma once
// The typed top layer of a table (not for direct use; the public API is
// canopy/core/table.hpp).
//
// Layout of a table:
//   * stripes: a `set` hashes a key to one of 2^k stripes, an `ordered_set`
//     has one; each stripe holds its entries (an open-addressing index of
//     node pointers, or a std::map), an insertion log (seq -> node, for
//     iteration and FIFO eviction) and an expiry index (deadline -> node);
//   * locks: per stripe, either a writer mutex plus per-thread reader counts
//     (read_heavy: a reader increments a counter in its own cache line and
//     checks the stripe's writer flag, so readers share nothing), or one
//     exclusive mutex (write_heavy);
//   * counters: lookups count hits and misses in the caller's per-thread slot,
//     writes count in the stripe they lock; both are summed when read.
// Lock rules: a thread holds at most one stripe lock at a time; user code
// (update's fn, match's predicate) runs under a stripe lock and must not call
// back into the same table.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "canopy/core/dynamic_size.hpp"
#include "canopy/core/exit_reason.hpp"
#include "canopy/core/pid.hpp"
#include "canopy/core/result.hpp"
#include "canopy/core/detail/table_base.hpp"
#include "canopy/core/detail/table_locks.hpp"

namespace canopy {

namespace detail {
template <typename K, typename Hash, typename Eq>
inline constexpr bool kTableHashable = requires(const K& a, const K& b) {
  { Hash{}(a) } -> std::convertible_to<size_t>;
  { Eq{}(a, b) } -> std::convertible_to<bool>;
}
&&(!std::is_same_v<Eq, std::equal_to<K>> || requires(const K& a, const K& b) {
  { a == b } -> std::convertible_to<bool>;
});

template <typename K, typename Less>
inline constexpr bool kTableOrdered = requires(const K& a, const K& b) {
  { Less{}(a, b) } -> std::convertible_to<bool>;
}
&&(!std::is_same_v<Less, std::less<K>> || requires(const K& a, const K& b) {
  { a < b } -> std::convertible_to<bool>;
});

template <typename K, typename V, typename Hash, typename Eq, typename Less>
class TableImpl;

// A position in a table's iteration plus a copy of the entry found there
// (none at the end). Cheap to keep: it pins nothing in the table.
template <typename K, typename V>
class TableCursor {
 public:
  TableCursor() = default;
  bool end() const { return !entry_.has_value(); }
  const K& key() const { return entry_->first; }
  const V& value() const { return entry_->second; }
  const std::pair<K, V>& entry() const { return *entry_; }

 private:
  template <typename, typename, typename, typename, typename>
  friend class TableImpl;
  TableCursor(size_t stripe, uint64_t seq, uint64_t limit, std::pair<K, V> entry)
      : stripe_(stripe), seq_(seq), limit_(limit), entry_(std::move(entry)) {}
  size_t stripe_ = 0;
  uint64_t seq_ = 0;
  // Entries of this stripe numbered above limit_ arrived after the
  // iteration reached it: skipped, so an iteration always ends.
  uint64_t limit_ = kTableNone;
  std::optional<std::pair<K, V>> entry_;
};

template <typename K, typename V, typename Hash, typename Eq, typename Less>
class TableImpl final : public TableBase {
 public:
  static constexpr bool kHashable = kTableHashable<K, Hash, Eq>;
  static constexpr bool kOrdered = kTableOrdered<K, Less>;
  static_assert(kHashable || kOrdered, "a table key needs std::hash and ==, or operator<");

  struct Payload;
  using Node = std::pair<const K, Payload>;
  using ExpiryIndex = std::multimap<uint64_t, Node*>;
  struct Payload {
    template <typename VV>
    explicit Payload(VV&& v) : value(std::forward<VV>(v)) {}
    V value;
    uint64_t expires_at = 0;                  // clock ms; 0 = never
    std::atomic<uint64_t> last_access{0};     // evict_lru's tick
    uint64_t seq = 0;                         // insertion order: iteration and FIFO
    size_t bytes = 0;                         // what this entry counts in memory()
    typename ExpiryIndex::iterator expiry{};  // valid iff expires_at != 0
  };
  using Tree = std::map<K, Payload, Less>;
  using Cursor = TableCursor<K, V>;

  struct LogSlot {
    uint64_t seq;
    Node* node;  // null once removed
  };

  // A set's index slot. Small trivially copyable keys and values are also
  // kept in the slot, with the deadline, so a lookup reads the slot and never
  // the node: one memory access instead of two.
  static constexpr bool kInline = kHashable && std::is_trivially_copyable_v<K> && std::is_trivially_copyable_v<V> &&
                                  std::is_default_constructible_v<K> && std::is_default_constructible_v<V> &&
                                  sizeof(K) <= 16 && sizeof(V) <= 16;
  struct InlineSlot {
    Node* node;  // null = empty
    K key;
    V value;
    uint64_t expires_at;
  };
  struct NodeSlot {
    uint64_t hash;
    Node* node;  // null = empty
  };
  using Slot = std::conditional_t<kInline, InlineSlot, NodeSlot>;

  // Bookkeeping bytes per entry: the node beyond key and value, the index's
  // share (an rb-tree node header, or two open-addressing slots: the index
  // stays at most 3/4 full, and at least 3/8 after growing) and the log slot.
  static constexpr size_t kIndexShare = std::max<size_t>(32, 2 * sizeof(Slot));
  static constexpr size_t kEntryOverhead = (sizeof(Node) - sizeof(K) - sizeof(V)) + kIndexShare + sizeof(LogSlot);
  // An entry with a deadline also has a node in the expiry index.
  static constexpr size_t kExpiryOverhead = 32 + sizeof(typename ExpiryIndex::value_type);

  static size_t entry_bytes(const K& key, const V& value, bool with_ttl) {
    return kEntryOverhead + total_size(key) + total_size(value) + (with_ttl ? kExpiryOverhead : 0);
  }

  TableImpl(canopy::Runtime& rt, TableOptions options, Pid owner, size_t stripes)
      : TableBase(rt, std::move(options), owner, typeid(K), typeid(V), stripes),
        ordered_(opts_.kind == TableKind::ordered_set),
        bounded_(opts_.max_entries != 0 || opts_.max_bytes != 0),
        fifo_(opts_.on_full == EvictionPolicy::evict_oldest),
        lru_(opts_.on_full == EvictionPolicy::evict_lru),
        evicting_(bounded_ && opts_.on_full != EvictionPolicy::reject),
        stripe_mask_(stripes - 1),
        stripe_data_(std::make_unique<Stripe[]>(stripes)),
        locks_(opts_.concurrency, stripes) {
    fixed_bytes_ = sizeof(*this) + stripes * sizeof(Stripe) + locks_.footprint() + dynamic_size(opts_.name);
  }

  ~TableImpl() override {
    for (size_t s = 0; s < stripes_; ++s) destroy_nodes(stripe_data_[s]);
  }

  // --- reads ------------------------------------------------------------------------

  Result<V> lookup(const K& key) const {
    if (Status st = check_read("lookup"); !st.ok()) return st.error();
    const uint64_t h = hash_key(key);
    const size_t s = stripe_of(h);
    TableThreadSlot& me = locks_.my_slot();
    if constexpr (kInline) {
      if (!ordered_) {
        // The slot has everything: the node is not touched (but by evict_lru).
        ReadGuard g(locks_, s, me);
        const Slot* slot = stripe_data_[s].index.find_slot(h, key);
        if (slot != nullptr && (slot->expires_at == 0 || slot->expires_at > clock_->now_ms())) {
          if (lru_) slot->node->second.last_access.store(next_tick(), std::memory_order_relaxed);
          Result<V> r(slot->value);
          me.hits.fetch_add(1, std::memory_order_relaxed);
          return r;
        }
        me.misses.fetch_add(1, std::memory_order_relaxed);
        return Error(Errc::not_registered, "key not found");
      }
    }
    {
      ReadGuard g(locks_, s, me);
      Node* n = find_locked(stripe_data_[s], h, key);
      if (n != nullptr && (n->second.expires_at == 0 || n->second.expires_at > clock_->now_ms())) {
        if (lru_) n->second.last_access.store(next_tick(), std::memory_order_relaxed);
        Result<V> r(n->second.value);
        me.hits.fetch_add(1, std::memory_order_relaxed);
        return r;
      }
    }
    me.misses.fetch_add(1, std::memory_order_relaxed);
    return Error(Errc::not_registered, "key not found");
  }

  Result<bool> contains(const K& key) const {
    if (Status st = check_read("contains"); !st.ok()) return st.error();
    const uint64_t h = hash_key(key);
    const size_t s = stripe_of(h);
    TableThreadSlot& me = locks_.my_slot();
    bool hit = false;
    {
      ReadGuard g(locks_, s, me);
      Node* n = find_locked(stripe_data_[s], h, key);
      hit = n != nullptr && (n->second.expires_at == 0 || n->second.expires_at > clock_->now_ms());
    }
    (hit ? me.hits : me.misses).fetch_add(1, std::memory_order_relaxed);
    return hit;
  }

  template <typename Pred>
  Result<std::vector<std::pair<K, V>>> match(Pred&& pred) const {
    if (Status st = check_read("match"); !st.ok()) return st.error();
    std::vector<std::pair<K, V>> out;
    const uint64_t now = clock_->now_ms();
    TableThreadSlot& me = locks_.my_slot();
    for (size_t s = 0; s < stripes_; ++s) {
      ReadGuard g(locks_, s, me);
      visit_locked(stripe_data_[s], [&](Node* n) {
        if (!expired(n, now) && pred(static_cast<const K&>(n->first), static_cast<const V&>(n->second.value))) {
          out.emplace_back(n->first, n->second.value);
        }
        return true;
      });
    }
    return out;
  }

  Result<std::vector<std::pair<K, V>>> range(const K& lo, const K& hi, size_t limit) const {
    if (Status st = check_read("range"); !st.ok()) return st.error();
    if (!ordered_) return Error(Errc::invalid_argument, label() + ": range: only an ordered_set has range queries");
    std::vector<std::pair<K, V>> out;
    if constexpr (kOrdered) {
      const uint64_t now = clock_->now_ms();
      TableThreadSlot& me = locks_.my_slot();
      ReadGuard g(locks_, 0, me);
      const Tree& tree = stripe_data_[0].tree;
      for (auto it = tree.lower_bound(lo); it != tree.end() && Less{}(it->first, hi); ++it) {
        if (expired(&*it, now)) continue;
        out.emplace_back(it->first, it->second.value);
        if (limit != 0 && out.size() >= limit) break;
      }
    }
    return out;
  }

  // The first entry after `after` (or the first of all): in key order for an
  // ordered_set; stripe by stripe in insertion order for a set. A key present
  // for the whole iteration is returned exactly once whatever else is written
  // meanwhile (an overwrite keeps the key's place); a key inserted during the
  // iteration may or may not be; and the iteration always ends (entries that
  // arrive in a stripe after the iteration reached it are skipped).
  Result<Cursor> next(const Cursor* after) const {
    if (Status st = check_read(after == nullptr ? "first" : "next"); !st.ok()) return st.error();
    if (after != nullptr && after->end()) return Cursor{};
    uint64_t now = 0;
    TableThreadSlot& me = locks_.my_slot();
    if (ordered_) {
      if constexpr (kOrdered) {
        ReadGuard g(locks_, 0, me);
        const Stripe& st = stripe_data_[0];
        const uint64_t limit = after != nullptr ? after->limit_ : newest_seq_locked(st);
        for (auto it = after != nullptr ? st.tree.upper_bound(after->key()) : st.tree.begin(); it != st.tree.end();
             ++it) {
          if (it->second.seq > limit || expired_lazy(&*it, now)) continue;
          return Cursor(0, it->second.seq, limit, std::pair<K, V>(it->first, it->second.value));
        }
      }
      return Cursor{};
    }
    size_t s = after != nullptr ? after->stripe_ : 0;
    uint64_t seq = after != nullptr ? after->seq_ : 0;
    uint64_t limit = after != nullptr ? after->limit_ : kTableNone;
    for (; s < stripes_; ++s, seq = 0, limit = kTableNone) {
      ReadGuard g(locks_, s, me);
      const Stripe& st = stripe_data_[s];
      if (limit == kTableNone) limit = newest_seq_locked(st);
      const Log& log = st.log;
      for (size_t i = log.upper_index(seq); i < log.end_index(); ++i) {
        Node* n = log.node_at(i);
        if (n == nullptr || expired_lazy(n, now)) continue;
        if (n->second.seq > limit) break;  // the log is in seq order
        return Cursor(s, n->second.seq, limit, std::pair<K, V>(n->first, n->second.value));
      }
    }
    return Cursor{};
  }

  // --- writes -----------------------------------------------------------------------

  Status insert(K key, V value, std::optional<std::chrono::milliseconds> ttl, bool only_new) {
    const char* op = only_new ? "insert_new" : "insert";
    if (Status st = check_write(op); !st.ok()) return st;
    uint64_t now = 0;
    Result<uint64_t> deadline = deadline_for(ttl, now, op);
    if (!deadline.ok()) return deadline.error();
    const uint64_t expires_at = deadline.value();
    const size_t bytes = entry_bytes(key, value, expires_at != 0);
    if (opts_.max_bytes != 0 && bytes > opts_.max_bytes) {
      rejected_.fetch_add(1, std::memory_order_relaxed);
      return Error(Errc::invalid_argument, label() + ": " + op + ": an entry of " + std::to_string(bytes) +
                                               " bytes can never fit max_bytes " + std::to_string(opts_.max_bytes));
    }
    const uint64_t h = hash_key(key);
    const size_t s = stripe_of(h);
    Stripe& st = stripe_data_[s];
    Owned gone;  // an expired entry this insert replaces, destroyed after the lock
    {
      WriteGuard g(locks_, s);
      Node* n = find_locked(st, h, key);
      if (n != nullptr && expired_lazy(n, now)) {
        gone = unlink_locked(st, h, n);
        table_bump(st.expiries);
        n = nullptr;
      }
      if (n != nullptr) {
        if (only_new) return Error(Errc::already_registered, label() + ": insert_new: the key is already present");
        Payload& p = n->second;
        if (const char* bound = account(0, bytes, p.bytes)) return reject(op, bound, bytes - p.bytes);
        set_deadline_locked(st, n, expires_at);
        // Swap rather than assign: the entry takes the new value's storage
        // (assigning into a string may keep its old, larger buffer), and the
        // old value is destroyed after the lock.
        using std::swap;
        swap(p.value, value);
        const size_t now_bytes = entry_bytes(n->first, p.value, expires_at != 0);
        if (now_bytes != bytes) (void)account(0, now_bytes, bytes, /*force=*/true);
        table_add(st.bytes, now_bytes, p.bytes);
        p.bytes = now_bytes;
        if (lru_) p.last_access.store(next_tick(), std::memory_order_relaxed);
        refresh_locked(st, h, n);
      } else {
        if (const char* bound = account(1, bytes, 0)) return reject(op, bound, bytes);
        try {
          add_locked(st, h, std::move(key), std::move(value), expires_at, bytes);
        } catch (...) {
          unaccount(1, bytes);
          throw;
        }
      }
      table_bump(st.inserts);
    }
    if (evicting_ && over_bounds()) enforce_bounds();
    return {};
  }

  template <typename Fn>
  Result<V> update(const K& key, Fn&& fn) {
    if (Status st = check_write("update"); !st.ok()) return st.error();
    const uint64_t h = hash_key(key);
    const size_t s = stripe_of(h);
    Stripe& st = stripe_data_[s];
    uint64_t now = 0;
    Owned gone;
    std::optional<V> result;
    {
      WriteGuard g(locks_, s);
      Node* n = find_locked(st, h, key);
      if (n != nullptr && expired_lazy(n, now)) {
        gone = unlink_locked(st, h, n);
        table_bump(st.expiries);
        n = nullptr;
      }
      if (n == nullptr) return Error(Errc::not_registered, label() + ": update: key not found");
      Payload& p = n->second;
      // Re-measures the value (its size may have changed) and refreshes the
      // index's copy; also when fn throws, after changing the value or not.
      auto settle = [&] {
        const size_t bytes = entry_bytes(n->first, p.value, p.expires_at != 0);
        (void)account(0, bytes, p.bytes, /*force=*/true);
        table_add(st.bytes, bytes, p.bytes);
        p.bytes = bytes;
        refresh_locked(st, h, n);
      };
      if (bounded_ && opts_.max_bytes != 0 && opts_.on_full == EvictionPolicy::reject) {
        // Work on a copy, so a refused update leaves the entry as it was.
        V copy = p.value;
        fn(copy);
        const size_t bytes = entry_bytes(n->first, copy, p.expires_at != 0);
        if (const char* bound = account(0, bytes, p.bytes)) return reject("update", bound, bytes - p.bytes).error();
        table_add(st.bytes, bytes, p.bytes);
        p.bytes = bytes;
        using std::swap;
        swap(p.value, copy);  // the entry takes the copy's storage
        settle();
      } else {
        try {
          fn(p.value);
        } catch (...) {
          settle();
          throw;
        }
        settle();
      }
      if (lru_) p.last_access.store(next_tick(), std::memory_order_relaxed);
      table_bump(st.updates);
      result.emplace(p.value);
    }
    if (evicting_ && over_bounds()) enforce_bounds();
    return std::move(*result);
  }

  Result<bool> erase(const K& key) {
    if (Status st = check_write("erase"); !st.ok()) return st.error();
    const uint64_t h = hash_key(key);
    const size_t s = stripe_of(h);
    Stripe& st = stripe_data_[s];
    uint64_t now = 0;
    Owned gone;
    WriteGuard g(locks_, s);
    Node* n = find_locked(st, h, key);
    if (n == nullptr) return false;
    const bool was_expired = expired_lazy(n, now);
    gone = unlink_locked(st, h, n);
    table_bump(was_expired ? st.expiries : st.deletes);
    return !was_expired;
  }

  Result<V> take(const K& key) {
    if (Status st = check_write("take"); !st.ok()) return st.error();
    const uint64_t h = hash_key(key);
    const size_t s = stripe_of(h);
    Stripe& st = stripe_data_[s];
    uint64_t now = 0;
    Owned gone;
    std::optional<V> value;
    {
      WriteGuard g(locks_, s);
      Node* n = find_locked(st, h, key);
      if (n == nullptr) return Error(Errc::not_registered, "key not found");
      const bool was_expired = expired_lazy(n, now);
      if (!was_expired) value.emplace(std::move(n->second.value));
      gone = unlink_locked(st, h, n);
      table_bump(was_expired ? st.expiries : st.deletes);
    }
    if (!value) return Error(Errc::not_registered, "key not found");
    return std::move(*value);
  }

  Status clear() {
    if (Status st = check_write("clear"); !st.ok()) return st;
    for (size_t s = 0; s < stripes_; ++s) {
      Stripe& st = stripe_data_[s];
      Stripe old;  // swapped out under the lock, destroyed after it
      {
        WriteGuard g(locks_, s);
        const size_t n = st.entries.load(std::memory_order_relaxed);
        unaccount(n, st.bytes.load(std::memory_order_relaxed));
        table_bump(st.deletes, n);
        take_contents_locked(st, old);
      }
      destroy_nodes(old);
    }
    return {};
  }

  size_t sweep(size_t max_entries) override {
    if (deleted() || max_entries == 0) return 0;
    const uint64_t now = clock_->now_ms();
    size_t removed = 0;
    const size_t start = sweep_cursor_.load(std::memory_order_relaxed);
    size_t i = 0;
    for (; i < stripes_ && removed < max_entries; ++i) {
      const size_t s = (start + i) & stripe_mask_;
      Stripe& st = stripe_data_[s];
      while (removed < max_entries && st.next_expiry.load(std::memory_order_relaxed) <= now) {
        // At most kSweepLockBatch removals per lock hold, so writers and
        // readers of this stripe wait for one short batch at a time.
        std::vector<Owned> gone;
        gone.reserve(std::min(kSweepLockBatch, max_entries - removed));
        {
          WriteGuard g(locks_, s);
          while (gone.size() < kSweepLockBatch && removed < max_entries && !st.expiry.empty() &&
                 st.expiry.begin()->first <= now) {
            Node* n = st.expiry.begin()->second;
            gone.push_back(unlink_locked(st, hash_key(n->first), n));
            ++removed;
          }
          table_bump(st.expiries, gone.size());
        }
        if (gone.empty()) break;
      }
    }
    // The next call starts where this one stopped, so every stripe gets its turn.
    sweep_cursor_.store((start + (i == 0 ? 0 : i - 1)) & stripe_mask_, std::memory_order_relaxed);
    return removed;
  }

  // --- info ---------------------------------------------------------------------------

  size_t size() const override {
    if (deleted()) return 0;
    size_t n = 0;
    for (size_t s = 0; s < stripes_; ++s) n += stripe_data_[s].entries.load(std::memory_order_relaxed);
    return n;
  }

  size_t memory() const override {
    if (deleted()) return 0;
    size_t n = fixed_bytes_;
    for (size_t s = 0; s < stripes_; ++s) n += stripe_data_[s].bytes.load(std::memory_order_relaxed);
    return n;
  }

  // The fixed part of memory(): what an empty table costs.
  size_t fixed_bytes() const { return fixed_bytes_; }

  TableCounters counters() const override {
    TableCounters c;
    for (size_t s = 0; s < stripes_; ++s) {
      const Stripe& st = stripe_data_[s];
      c.inserts += st.inserts.load(std::memory_order_relaxed);
      c.updates += st.updates.load(std::memory_order_relaxed);
      c.deletes += st.deletes.load(std::memory_order_relaxed);
      c.expiries += st.expiries.load(std::memory_order_relaxed);
      c.evictions_max_entries += st.evicted_entries.load(std::memory_order_relaxed);
      c.evictions_max_bytes += st.evicted_bytes.load(std::memory_order_relaxed);
    }
    const auto [hits, misses] = locks_.hits_misses();
    c.hits = hits;
    c.misses = misses;
    c.lookups = hits + misses;
    c.rejected = rejected_.load(std::memory_order_relaxed);
    return c;
  }

 protected:
  void release_data() override {
    for (size_t s = 0; s < stripes_; ++s) {
      Stripe& st = stripe_data_[s];
      Stripe old;
      {
        WriteGuard g(locks_, s);
        unaccount(st.entries.load(std::memory_order_relaxed), st.bytes.load(std::memory_order_relaxed));
        take_contents_locked(st, old);
      }
      destroy_nodes(old);
    }
  }

 private:
  static constexpr size_t kSweepLockBatch = 1024;
  static constexpr size_t kExactLruLimit = 128;
  static constexpr int kLruSamples = 16;

  // --- an open-addressing index (linear probing, backward-shift deletion)
  // of node pointers (see Slot). It does not own the nodes.
  class HashIndex {
   public:
    const Slot* find_slot(uint64_t h, const K& key) const {
      if (count_ == 0) return nullptr;
      for (size_t i = h & mask_;; i = (i + 1) & mask_) {
        const Slot& slot = slots_[i];
        if (slot.node == nullptr) return nullptr;
        if constexpr (kInline) {
          if (Eq{}(slot.key, key)) return &slot;
        } else {
          if (slot.hash == h && Eq{}(slot.node->first, key)) return &slot;
        }
      }
    }
    Node* find(uint64_t h, const K& key) const {
      const Slot* slot = find_slot(h, key);
      return slot != nullptr ? slot->node : nullptr;
    }
    // Makes room for one more (may throw; nothing changes then).
    void reserve_one() {
      if ((count_ + 1) * 4 > capacity() * 3) rehash(capacity() == 0 ? 8 : capacity() * 2);
    }
    // After reserve_one(); `n` must be complete (an inline slot copies it).
    void insert(uint64_t h, Node* n) noexcept {
      for (size_t i = h & mask_;; i = (i + 1) & mask_) {
        if (slots_[i].node == nullptr) {
          slots_[i] = make_slot(h, n);
          ++count_;
          return;
        }
      }
    }
    // The node's value or deadline changed: update its inline copy.
    void refresh(uint64_t h, const Node* n) noexcept {
      if constexpr (kInline) {
        size_t i = h & mask_;
        while (slots_[i].node != n) i = (i + 1) & mask_;
        slots_[i].value = n->second.value;
        slots_[i].expires_at = n->second.expires_at;
      } else {
        (void)h;
        (void)n;
      }
    }
    void erase(uint64_t h, const Node* n) noexcept {
      size_t i = h & mask_;
      while (slots_[i].node != n) i = (i + 1) & mask_;
      for (size_t j = i;;) {
        j = (j + 1) & mask_;
        if (slots_[j].node == nullptr) break;
        const size_t home = hash_of(slots_[j]) & mask_;
        // Slot j may move back to the hole at i unless its home lies in (i, j].
        const bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
          slots_[i] = slots_[j];
          i = j;
        }
      }
      slots_[i] = Slot{};
      --count_;
      // Give memory back after mass removals (a sweep, a clear).
      if (capacity() > 64 && count_ * 8 < capacity()) {
        try {
          size_t cap = 8;
          while (cap * 3 < count_ * 4 * 2) cap *= 2;
          rehash(cap);
        } catch (...) {
          // Keep the larger array.
        }
      }
    }
    size_t capacity() const { return slots_ ? mask_ + 1 : 0; }

   private:
    static Slot make_slot(uint64_t h, Node* n) {
      if constexpr (kInline) {
        (void)h;
        return Slot{n, n->first, n->second.value, n->second.expires_at};
      } else {
        return Slot{h, n};
      }
    }
    static uint64_t hash_of(const Slot& slot) {
      if constexpr (kInline) {
        return table_mix(static_cast<uint64_t>(Hash{}(slot.key)));
      } else {
        return slot.hash;
      }
    }
    void rehash(size_t cap) {
      auto fresh = std::make_unique<Slot[]>(cap);
      const size_t mask = cap - 1;
      for (size_t i = 0, n = capacity(); i < n; ++i) {
        const Slot& slot = slots_[i];
        if (slot.node == nullptr) continue;
        size_t j = hash_of(slot) & mask;
        while (fresh[j].node != nullptr) j = (j + 1) & mask;
        fresh[j] = slot;
      }
      slots_ = std::move(fresh);
      mask_ = mask;
    }
    std::unique_ptr<Slot[]> slots_;
    size_t mask_ = 0;
    size_t count_ = 0;
  };

  // --- the insertion log: (seq, node) in increasing seq; removed nodes leave
  // a null that is skipped and compacted away.
  class Log {
   public:
    void reserve_one() {
      if (slots_.size() == slots_.capacity()) slots_.reserve(std::max<size_t>(16, slots_.size() * 2));
    }
    void append(uint64_t seq, Node* n) noexcept { slots_.push_back(LogSlot{seq, n}); }
    void remove(uint64_t seq) noexcept {
      const size_t i = index_of(seq);
      if (i == end_index()) return;
      slots_[i].node = nullptr;
      ++dead_;
      while (head_ < slots_.size() && slots_[head_].node == nullptr) {
        ++head_;
        --dead_;
      }
      if (head_ == slots_.size()) {
        if (slots_.capacity() > 64) {
          std::vector<LogSlot>().swap(slots_);
        } else {
          slots_.clear();
        }
        head_ = dead_ = 0;
      } else if (head_ + dead_ > 64 && head_ + dead_ > live()) {
        compact();
      }
    }
    size_t live() const { return slots_.size() - head_ - dead_; }
    Node* front() const { return head_ < slots_.size() ? slots_[head_].node : nullptr; }
    uint64_t front_seq() const { return head_ < slots_.size() ? slots_[head_].seq : kTableNone; }
    // Indexes in [begin_index(), end_index()); node_at may be null.
    size_t begin_index() const { return head_; }
    size_t end_index() const { return slots_.size(); }
    Node* node_at(size_t i) const { return slots_[i].node; }
    // The first index whose seq is greater than `seq`.
    size_t upper_index(uint64_t seq) const {
      auto it = std::upper_bound(slots_.begin() + static_cast<ptrdiff_t>(head_), slots_.end(), seq,
                                 [](uint64_t q, const LogSlot& s) { return q < s.seq; });
      return static_cast<size_t>(it - slots_.begin());
    }
    // The index holding `seq` (live or not), or end_index().
    size_t index_of(uint64_t seq) const {
      auto it = std::lower_bound(slots_.begin() + static_cast<ptrdiff_t>(head_), slots_.end(), seq,
                                 [](const LogSlot& s, uint64_t q) { return s.seq < q; });
      return it != slots_.end() && it->seq == seq ? static_cast<size_t>(it - slots_.begin()) : slots_.size();
    }
    template <typename F>
    void for_each_live(F&& f) const {
      for (size_t i = head_; i < slots_.size(); ++i) {
        if (slots_[i].node != nullptr) f(slots_[i].node);
      }
    }

   private:
    void compact() noexcept {
      size_t w = 0;
      for (size_t r = head_; r < slots_.size(); ++r) {
        if (slots_[r].node != nullptr) slots_[w++] = slots_[r];
      }
      slots_.resize(w);
      head_ = dead_ = 0;
      if (slots_.capacity() > 4 * w + 64) {
        try {
          slots_.shrink_to_fit();
        } catch (...) {
        }
      }
    }
    std::vector<LogSlot> slots_;
    size_t head_ = 0;
    size_t dead_ = 0;  // null slots in [head_, end)
  };

  struct alignas(64) Stripe {
    HashIndex index;  // set
    Tree tree;        // ordered_set
    Log log;
    ExpiryIndex expiry;
    uint64_t next_seq = 1;
    // Changed under the stripe's write lock; read by anyone.
    std::atomic<size_t> entries{0};
    std::atomic<size_t> bytes{0};
    std::atomic<uint64_t> front_seq{kTableNone};
    std::atomic<uint64_t> next_expiry{kTableNone};
    std::atomic<uint64_t> inserts{0};
    std::atomic<uint64_t> updates{0};
    std::atomic<uint64_t> deletes{0};
    std::atomic<uint64_t> expiries{0};
    std::atomic<uint64_t> evicted_entries{0};
    std::atomic<uint64_t> evicted_bytes{0};
  };

  // A node unlinked from its stripe, destroyed when this goes (after the lock).
  struct Owned {
    std::unique_ptr<Node> node;
    typename Tree::node_type handle;
  };

  uint64_t hash_key(const K& key) const {
    if constexpr (kHashable) {
      if (!ordered_) return table_mix(static_cast<uint64_t>(Hash{}(key)));
    }
    (void)key;
    return 0;
  }
  size_t stripe_of(uint64_t h) const { return static_cast<size_t>(h >> 40) & stripe_mask_; }
  uint64_t next_tick() const { return tick_.fetch_add(1, std::memory_order_relaxed) + 1; }
  // The highest seq an entry of this stripe has now (under its lock): later
  // inserts into it are numbered above.
  uint64_t newest_seq_locked(const Stripe& st) const {
    return fifo_ ? seq_.load(std::memory_order_relaxed) : st.next_seq - 1;
  }

  static bool expired(const Node* n, uint64_t now) { return n->second.expires_at != 0 && n->second.expires_at <= now; }
  bool expired_lazy(const Node* n, uint64_t& now) const {
    if (n->second.expires_at == 0) return false;
    if (now == 0) now = clock_->now_ms();
    return n->second.expires_at <= now;
  }

  Result<uint64_t> deadline_for(const std::optional<std::chrono::milliseconds>& ttl, uint64_t& now,
                                const char* op) const {
    const std::chrono::milliseconds t = ttl ? *ttl : opts_.default_ttl;
    if (t.count() < 0) return Error(Errc::invalid_argument, label() + ": " + op + ": negative ttl");
    if (t.count() == 0) return uint64_t{0};
    if (now == 0) now = clock_->now_ms();
    return now + static_cast<uint64_t>(t.count());
  }

  Node* find_locked(const Stripe& st, uint64_t h, const K& key) const {
    if (ordered_) {
      if constexpr (kOrdered) {
        auto it = st.tree.find(key);
        return it == st.tree.end() ? nullptr : const_cast<Node*>(&*it);
      }
      return nullptr;
    }
    if constexpr (kHashable) return st.index.find(h, key);
    (void)h;
    return nullptr;
  }

  // Visits a stripe's entries (key order or insertion order) while f returns true.
  template <typename F>
  void visit_locked(const Stripe& st, F&& f) const {
    if (ordered_) {
      if constexpr (kOrdered) {
        for (auto& node : st.tree) {
          if (!f(const_cast<Node*>(&node))) return;
        }
      }
      return;
    }
    for (size_t i = st.log.begin_index(); i < st.log.end_index(); ++i) {
      if (Node* n = st.log.node_at(i); n != nullptr && !f(n)) return;
    }
  }

  void add_locked(Stripe& st, uint64_t h, K&& key, V&& value, uint64_t expires_at, size_t bytes) {
    st.log.reserve_one();
    Node* n = nullptr;
    if (ordered_) {
      if constexpr (kOrdered) {
        auto [it, inserted] = st.tree.emplace(std::piecewise_construct, std::forward_as_tuple(std::move(key)),
                                              std::forward_as_tuple(std::move(value)));
        (void)inserted;
        n = &*it;
      }
    } else {
      if constexpr (kHashable) {
        st.index.reserve_one();
        n = new Node(std::piecewise_construct, std::forward_as_tuple(std::move(key)),
                     std::forward_as_tuple(std::move(value)));
      }
    }
    Payload& p = n->second;
    if (expires_at != 0) {
      try {
        p.expiry = st.expiry.emplace(expires_at, n);
      } catch (...) {
        // Not yet in the index or the log.
        if (ordered_) {
          if constexpr (kOrdered) st.tree.erase(n->first);
        } else {
          delete n;
        }
        throw;
      }
      p.expires_at = expires_at;
      st.next_expiry.store(st.expiry.begin()->first, std::memory_order_relaxed);
    }
    p.seq = fifo_ ? seq_.fetch_add(1, std::memory_order_relaxed) + 1 : st.next_seq++;
    p.bytes = bytes;
    if (lru_) p.last_access.store(next_tick(), std::memory_order_relaxed);
    if constexpr (kHashable) {
      if (!ordered_) st.index.insert(h, n);  // complete now: an inline slot copies it
    }
    (void)h;
    st.log.append(p.seq, n);
    st.front_seq.store(st.log.front_seq(), std::memory_order_relaxed);
    table_add(st.entries, 1, 0);
    table_add(st.bytes, bytes, 0);
  }

  // The entry's value or deadline changed: refresh the index's inline copy.
  void refresh_locked(Stripe& st, uint64_t h, const Node* n) {
    if constexpr (kInline) {
      if (!ordered_) st.index.refresh(h, n);
    } else {
      (void)st;
      (void)h;
      (void)n;
    }
  }

  void set_deadline_locked(Stripe& st, Node* n, uint64_t expires_at) {
    Payload& p = n->second;
    if (p.expires_at == expires_at) return;
    typename ExpiryIndex::iterator fresh{};
    if (expires_at != 0) fresh = st.expiry.emplace(expires_at, n);
    if (p.expires_at != 0) st.expiry.erase(p.expiry);
    p.expires_at = expires_at;
    p.expiry = fresh;
    st.next_expiry.store(st.expiry.empty() ? kTableNone : st.expiry.begin()->first, std::memory_order_relaxed);
  }

  Owned unlink_locked(Stripe& st, uint64_t h, Node* n) {
    Payload& p = n->second;
    if (p.expires_at != 0) {
      st.expiry.erase(p.expiry);
      st.next_expiry.store(st.expiry.empty() ? kTableNone : st.expiry.begin()->first, std::memory_order_relaxed);
    }
    st.log.remove(p.seq);
    st.front_seq.store(st.log.front_seq(), std::memory_order_relaxed);
    table_add(st.entries, 0, 1);
    table_add(st.bytes, 0, p.bytes);
    unaccount(1, p.bytes);
    Owned o;
    if (ordered_) {
      if constexpr (kOrdered) o.handle = st.tree.extract(st.tree.find(n->first));
    } else {
      if constexpr (kHashable) {
        st.index.erase(h, n);
        o.node.reset(n);
      }
    }
    (void)h;
    return o;
  }

  // Moves a stripe's contents into `out` and resets the stripe.
  void take_contents_locked(Stripe& st, Stripe& out) {
    std::swap(st.index, out.index);
    std::swap(st.tree, out.tree);
    std::swap(st.log, out.log);
    std::swap(st.expiry, out.expiry);
    st.entries.store(0, std::memory_order_relaxed);
    st.bytes.store(0, std::memory_order_relaxed);
    st.front_seq.store(kTableNone, std::memory_order_relaxed);
    st.next_expiry.store(kTableNone, std::memory_order_relaxed);
  }

  // Frees the nodes a `set` stripe owns (a tree frees its own).
  void destroy_nodes(Stripe& st) {
    if (!ordered_) st.log.for_each_live([](Node* n) { delete n; });
  }

  // --- bounds -----------------------------------------------------------------------

  // Counts a write against the table-wide totals (bounded tables only).
  // Under policy reject (unless forced: the change is made already),
  // returns the bound it would break instead, and counts nothing.
  const char* account(size_t add_entries, size_t new_bytes, size_t old_bytes, bool force = false) {
    if (!bounded_) return nullptr;
    const bool reject = !force && opts_.on_full == EvictionPolicy::reject;
    if (add_entries != 0) {
      const size_t before = entries_.fetch_add(add_entries, std::memory_order_acq_rel);
      if (reject && opts_.max_entries != 0 && before + add_entries > opts_.max_entries) {
        entries_.fetch_sub(add_entries, std::memory_order_acq_rel);
        return "max_entries";
      }
    }
    if (new_bytes >= old_bytes) {
      const size_t grow = new_bytes - old_bytes;
      const size_t before = bytes_.fetch_add(grow, std::memory_order_acq_rel);
      if (reject && grow != 0 && opts_.max_bytes != 0 && before + grow > opts_.max_bytes) {
        bytes_.fetch_sub(grow, std::memory_order_acq_rel);
        if (add_entries != 0) entries_.fetch_sub(add_entries, std::memory_order_acq_rel);
        return "max_bytes";
      }
    } else {
      bytes_.fetch_sub(old_bytes - new_bytes, std::memory_order_acq_rel);
    }
    return nullptr;
  }
  void unaccount(size_t entries, size_t bytes) {
    if (!bounded_) return;
    entries_.fetch_sub(entries, std::memory_order_acq_rel);
    bytes_.fetch_sub(bytes, std::memory_order_acq_rel);
  }

  Status reject(const char* op, const char* bound, size_t extra_bytes) {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    std::string why = std::string(bound) == "max_entries"
                          ? "max_entries " + std::to_string(opts_.max_entries) + " reached"
                          : "max_bytes " + std::to_string(opts_.max_bytes) + " would be exceeded (holding " +
                                std::to_string(bytes_.load(std::memory_order_relaxed)) + " bytes, " +
                                std::to_string(extra_bytes) + " more needed)";
    return Error(Errc::invalid_argument, label() + ": " + op + " rejected: " + why + " (policy reject)",
                 std::string(bound));
  }

  bool over_bounds() const {
    return (opts_.max_entries != 0 && entries_.load(std::memory_order_acquire) > opts_.max_entries) ||
           (opts_.max_bytes != 0 && bytes_.load(std::memory_order_acquire) > opts_.max_bytes);
  }

  // Evicts until the table is within its bounds. Serialised by evict_mu_, so
  // concurrent inserts never evict more than the excess.
  void enforce_bounds() EXCLUDES(evict_mu_) {
    MutexLock lock(&evict_mu_);
    for (;;) {
      const bool over_entries = opts_.max_entries != 0 && entries_.load(std::memory_order_acquire) > opts_.max_entries;
      const bool over_bytes = opts_.max_bytes != 0 && bytes_.load(std::memory_order_acquire) > opts_.max_bytes;
      if (!over_entries && !over_bytes) return;
      if (!evict_one(over_entries)) return;
    }
  }

  struct Victim {
    size_t stripe = 0;
    uint64_t seq = 0;
    uint64_t tick = 0;
  };

  bool evict_one(bool for_entries) REQUIRES(evict_mu_) {
    for (int attempt = 0; attempt < 64; ++attempt) {
      Victim v;
      if (!(fifo_ ? pick_oldest(v) : pick_lru(v))) return false;
      Stripe& st = stripe_data_[v.stripe];
      Owned gone;
      {
        WriteGuard g(locks_, v.stripe);
        Node* n = nullptr;
        if (fifo_) {
          n = st.log.front();
        } else if (const size_t i = st.log.index_of(v.seq); i != st.log.end_index()) {
          n = st.log.node_at(i);
        }
        if (n == nullptr) continue;  // changed meanwhile: choose again
        gone = unlink_locked(st, hash_key(n->first), n);
        table_bump(for_entries ? st.evicted_entries : st.evicted_bytes);
      }
      return true;
    }
    return false;
  }

  // The stripe whose oldest entry is the oldest of the table (FIFO tables
  // number their entries table-wide).
  bool pick_oldest(Victim& v) const {
    uint64_t best = kTableNone;
    for (size_t s = 0; s < stripes_; ++s) {
      const uint64_t f = stripe_data_[s].front_seq.load(std::memory_order_relaxed);
      if (f < best) {
        best = f;
        v.stripe = s;
        v.seq = f;
      }
    }
    return best != kTableNone;
  }

  // Exact while the table holds at most kExactLruLimit entries (a scan);
  // beyond that the least recently used of kLruSamples random entries.
  bool pick_lru(Victim& v) REQUIRES(evict_mu_) {
    bool found = false;
    TableThreadSlot& me = locks_.my_slot();
    auto consider = [&](size_t s, const Node* n) {
      const uint64_t t = n->second.last_access.load(std::memory_order_relaxed);
      if (!found || t < v.tick) {
        v = Victim{s, n->second.seq, t};
        found = true;
      }
    };
    if (entries_.load(std::memory_order_acquire) <= kExactLruLimit) {
      for (size_t s = 0; s < stripes_; ++s) {
        if (stripe_data_[s].entries.load(std::memory_order_relaxed) == 0) continue;
        ReadGuard g(locks_, s, me);
        stripe_data_[s].log.for_each_live([&](const Node* n) { consider(s, n); });
      }
      return found;
    }
    for (int taken = 0, tries = 0; taken < kLruSamples && tries < kLruSamples * 8; ++tries) {
      const size_t s = static_cast<size_t>(next_random()) & stripe_mask_;
      if (stripe_data_[s].entries.load(std::memory_order_relaxed) == 0) continue;
      ReadGuard g(locks_, s, me);
      const Log& log = stripe_data_[s].log;
      const size_t span = log.end_index() - log.begin_index();
      if (span == 0) continue;
      const size_t start = static_cast<size_t>(next_random() % span);
      for (size_t j = 0; j < span && j < 32; ++j) {
        if (const Node* n = log.node_at(log.begin_index() + (start + j) % span)) {
          consider(s, n);
          ++taken;
          break;
        }
      }
    }
    return found;
  }

  // xorshift64*.
  uint64_t next_random() REQUIRES(evict_mu_) {
    rng_ ^= rng_ >> 12;
    rng_ ^= rng_ << 25;
    rng_ ^= rng_ >> 27;
    return rng_ * 0x2545F4914F6CDD1DULL;
  }

  const bool ordered_;
  const bool bounded_;
  const bool fifo_;
  const bool lru_;
  const bool evicting_;
  const size_t stripe_mask_;
  size_t fixed_bytes_ = 0;
  std::unique_ptr<Stripe[]> stripe_data_;
  StripeLocks locks_;
  // Table-wide totals for the bounds (bounded tables only).
  alignas(64) std::atomic<size_t> entries_{0};
  std::atomic<size_t> bytes_{0};
  std::atomic<uint64_t> seq_{0};                       // FIFO tables: table-wide insertion order
  alignas(64) mutable std::atomic<uint64_t> tick_{0};  // LRU tables: access order
  std::atomic<uint64_t> rejected_{0};
  std::atomic<size_t> sweep_cursor_{0};
  Mutex evict_mu_;
  uint64_t rng_ GUARDED_BY(evict_mu_) = 0x9E3779B97F4A7C15ULL;
};

}  // namespace detail
}  // namespace canopy
