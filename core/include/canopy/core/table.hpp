#pragma once
// Tables: shared, typed key-value stores owned by a process, in the manner of
// Erlang's ETS, with exact size and memory, bounds and expiry.
//
//   auto t = Table<std::string, Session>::create(rt, {.name = "sessions",
//                                                    .access = TableAccess::public_,
//                                                    .default_ttl = 30min,
//                                                    .max_entries = 100'000,
//                                                    .on_full = EvictionPolicy::evict_lru});
//   (void)t->insert("alice", Session{...});
//   if (auto s = t->lookup("alice")) use(*s);
//
// Ownership. A table is created by (or for) a process, its owner. When the
// owner exits the table is deleted, unless its heir is alive: then the heir
// becomes the owner and receives a TableTransfer message (ETS-TRANSFER). The
// owner may also give_away() the table or drop() it. Operations on a deleted
// table fail with Errc::not_registered naming the table and why it went.
//
// Access (TableAccess). The caller is Runtime::self(): public_ tables accept
// anyone (threads outside the runtime too); protected_ ones accept reads from
// anyone and writes from the owner; private_ ones only the owner. A refused
// call fails with Errc::invalid_argument naming the table, the operation, the
// mode, the caller and the owner.
//
// Errors. A missing key is Errc::not_registered ("key not found"); a bound
// under policy reject, an entry that can never fit max_bytes, a negative ttl
// and a wrong kind are Errc::invalid_argument; insert_new on a present key is
// Errc::already_registered. Nothing throws except what the key and value
// types (and callbacks) throw, and std::bad_alloc.
//
// Memory. Every entry counts
//     Table::kEntryOverhead + total_size(key) + total_size(value)
//     (+ Table::kExpiryOverhead when it has a deadline)
// bytes, where total_size is sizeof plus dynamic_size() (dynamic_size.hpp:
// strings, vectors, pairs, optionals, and any type with a dynamic_size()
// member or a canopy_dynamic_size() overload). memory() is the table's fixed
// overhead (its stripes and locks, see fixed_bytes()) plus the sum over its
// entries; size() counts entries. Both are exact, cheap (summed per stripe)
// and what the bounds use.
//
// Expiry. An entry expires default_ttl (or its own ttl) after it was written,
// by the table's clock; from then on no read returns it (a lookup is a miss),
// and it is removed by the runtime's table sweeper (bounded batches, see
// TableOptions::sweep_interval), by sweep(), or by a write that meets it.
// size() and memory() count it until it is removed.
//
// Thread-safety: a Table handle is a shared pointer, cheap to copy; every
// operation may be called from any thread. update()'s function and match()'s
// predicate run under a stripe lock: keep them short and never call the same
// table from them.
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "canopy/core/pid.hpp"
#include "canopy/core/result.hpp"
#include "canopy/core/detail/typed_table.hpp"
#include "canopy/core/table_types.hpp"

namespace canopy {

class Runtime;

// Every live table of `rt`, in creation order.
std::vector<TableInfo> tables(Runtime& rt);

template <typename K, typename V, typename Hash = std::hash<K>, typename Eq = std::equal_to<K>,
          typename Less = std::less<K>>
class Table {
 public:
  using Impl = detail::TableImpl<K, V, Hash, Eq, Less>;
  using Cursor = detail::TableCursor<K, V>;
  using Entry = std::pair<K, V>;
  using Ttl = std::optional<std::chrono::milliseconds>;

  // Per-entry bookkeeping bytes, and the extra for an entry with a deadline.
  static constexpr size_t kEntryOverhead = Impl::kEntryOverhead;
  static constexpr size_t kExpiryOverhead = Impl::kExpiryOverhead;
  // What one entry counts in memory() and against max_bytes.
  static size_t entry_bytes(const K& key, const V& value, bool with_ttl = false) {
    return Impl::entry_bytes(key, value, with_ttl);
  }

  // An empty handle: every operation fails with Errc::invalid_argument.
  Table() = default;

  // Creates a table owned by `options.owner`, or by the calling process.
  // Errors: not_in_process (no owner), dead_process (the owner is not
  // alive), already_registered (the name is taken in this runtime),
  // invalid_argument (bad options, or a kind the key type cannot support).
  static Result<Table> create(Runtime& rt, TableOptions options = {});
  // The named table of `rt`. Errors: not_registered (no such table),
  // invalid_argument (it holds other key / value types).
  static Result<Table> find(Runtime& rt, const std::string& name);

  // --- writes (owner only unless public_) -----------------------------------
  // Inserts or overwrites. `ttl`: nullopt = the table's default_ttl, 0 =
  // never expires, > 0 = expires that long after now.
  Status insert(K key, V value, Ttl ttl = std::nullopt) {
    if (!impl_) return empty_error();
    return impl_->insert(std::move(key), std::move(value), ttl, false);
  }
  // Inserts only if the key is absent (Errc::already_registered otherwise).
  Status insert_new(K key, V value, Ttl ttl = std::nullopt) {
    if (!impl_) return empty_error();
    return impl_->insert(std::move(key), std::move(value), ttl, true);
  }
  // Atomic read-modify-write: `fn(V&)` runs under the key's stripe lock.
  // Returns the new value; the entry keeps its deadline.
  template <typename Fn>
  Result<V> update(const K& key, Fn&& fn) {
    if (!impl_) return empty_error();
    return impl_->update(key, std::forward<Fn>(fn));
  }
  // Whether a live entry was removed.
  Result<bool> erase(const K& key) {
    if (!impl_) return empty_error();
    return impl_->erase(key);
  }
  // Removes the entry and returns its value.
  Result<V> take(const K& key) {
    if (!impl_) return empty_error();
    return impl_->take(key);
  }
  // Removes every entry (counted as deletes).
  Status clear() {
    if (!impl_) return empty_error();
    return impl_->clear();
  }

  // --- reads (anyone unless private_) -----------------------------------------
  Result<V> lookup(const K& key) const {
    if (!impl_) return empty_error();
    return impl_->lookup(key);
  }
  Result<bool> contains(const K& key) const {
    if (!impl_) return empty_error();
    return impl_->contains(key);
  }
  // Every live entry for which pred(key, value) holds (key order for an
  // ordered_set, unspecified for a set).
  template <typename Pred>
  Result<std::vector<Entry>> match(Pred&& pred) const {
    if (!impl_) return empty_error();
    return impl_->match(std::forward<Pred>(pred));
  }
  // ordered_set only: the entries with lo <= key < hi in key order, at most
  // `limit` of them (0 = all).
  Result<std::vector<Entry>> range(const K& lo, const K& hi, size_t limit = 0) const {
    if (!impl_) return empty_error();
    return impl_->range(lo, hi, limit);
  }
  // Iteration (ets:first / ets:next), safe under concurrent writes: every key
  // present for the whole iteration is visited exactly once, removed keys
  // are skipped, keys inserted meanwhile may or may not be visited, the
  // iteration always ends, and a cursor pins nothing. Order: key order for an
  // ordered_set, unspecified (stripe by stripe, oldest first) for a set.
  //   for (auto c = t.first(); c.ok() && !c->end(); c = t.next(*c)) use(c->key(), c->value());
  Result<Cursor> first() const {
    if (!impl_) return empty_error();
    return impl_->next(nullptr);
  }
  Result<Cursor> next(const Cursor& after) const {
    if (!impl_) return empty_error();
    return impl_->next(&after);
  }

  // --- expiry --------------------------------------------------------------------
  // Removes at most `max_entries` expired entries now; returns how many.
  size_t sweep(size_t max_entries) { return impl_ ? impl_->sweep(max_entries) : 0; }

  // --- info (anyone) --------------------------------------------------------------
  // 0 once deleted.
  size_t size() const { return impl_ ? impl_->size() : 0; }
  size_t memory() const { return impl_ ? impl_->memory() : 0; }
  // memory() of this table when empty.
  size_t fixed_bytes() const { return impl_ ? impl_->fixed_bytes() : 0; }
  TableCounters counters() const { return impl_ ? impl_->counters() : TableCounters{}; }
  TableInfo info() const { return impl_ ? impl_->info() : TableInfo{}; }
  const std::string& name() const {
    static const std::string none;
    return impl_ ? impl_->name() : none;
  }
  uint64_t id() const { return impl_ ? impl_->id() : 0; }
  Pid owner() const { return impl_ ? impl_->owner() : Pid(); }
  Pid heir() const { return impl_ ? impl_->heir() : Pid(); }
  bool deleted() const { return !impl_ || impl_->deleted(); }
  bool valid() const { return impl_ != nullptr; }

  // --- ownership (the owner process only) -------------------------------------------
  // Makes `to` the owner and sends it TableTransfer{inherited = false, heir_data = data}.
  Status give_away(Pid to, std::string data = {}) {
    if (!impl_) return empty_error();
    return impl_->give_away(to, std::move(data));
  }
  // Sets (or, with an invalid pid, clears) the heir.
  Status set_heir(Pid heir, std::string data = {}) {
    if (!impl_) return empty_error();
    return impl_->set_heir(heir, std::move(data));
  }
  // Deletes the table now.
  Status drop() {
    if (!impl_) return empty_error();
    return impl_->drop();
  }

  friend bool operator==(const Table& a, const Table& b) { return a.impl_ == b.impl_; }

 private:
  explicit Table(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  static Error empty_error() { return Error(Errc::invalid_argument, "empty table handle"); }
  std::shared_ptr<Impl> impl_;
};

namespace detail {
// Validates options and resolves the owner and the stripe count.
Status table_prepare(canopy::Runtime& rt, TableOptions& options, bool hashable, bool ordered, const std::type_info& key,
                     size_t& stripes);
Error table_type_mismatch(const TableBase& table, const std::type_info& key, const std::type_info& value);
}  // namespace detail

template <typename K, typename V, typename Hash, typename Eq, typename Less>
Result<Table<K, V, Hash, Eq, Less>> Table<K, V, Hash, Eq, Less>::create(Runtime& rt, TableOptions options) {
  size_t stripes = 1;
  if (Status st = detail::table_prepare(rt, options, Impl::kHashable, Impl::kOrdered, typeid(K), stripes); !st.ok()) {
    return st.error();
  }
  const Pid owner = options.owner;
  // Not make_shared: the owner's exit hook keeps a weak_ptr until the owner
  // exits, which would keep the whole object's storage allocated.
  std::shared_ptr<Impl> impl(new Impl(rt, std::move(options), owner, stripes));
  if (Status st = impl->attach(); !st.ok()) return st.error();
  return Table(std::move(impl));
}

template <typename K, typename V, typename Hash, typename Eq, typename Less>
Result<Table<K, V, Hash, Eq, Less>> Table<K, V, Hash, Eq, Less>::find(Runtime& rt, const std::string& name) {
  std::shared_ptr<detail::TableBase> base = detail::find_table(rt, name);
  if (!base) return Error(Errc::not_registered, "no table named '" + name + "'");
  auto impl = std::dynamic_pointer_cast<Impl>(base);
  if (!impl) return detail::table_type_mismatch(*base, typeid(K), typeid(V));
  return Table(std::move(impl));
}

}  // namespace canopy
