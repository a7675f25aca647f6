#pragma once
// The plain types of canopy tables (see table.hpp): options, the clock used
// for expiry, counters, per-table info and the ownership-transfer message.
// Thread-safe: plain values, except the clocks, which are safe to share.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "canopy/core/pid.hpp"

namespace canopy {

// `set`: a hash table split into independently locked stripes.
// `ordered_set`: one sorted tree (std::map), with range queries.
enum class TableKind : uint8_t { set, ordered_set };

// Who may use a table (ETS's access modes; the trailing underscore only
// avoids the C++ keywords):
//   public_    any process, and threads outside the runtime, read and write;
//   protected_ anyone reads, only the owner writes (the default, as in ETS);
//   private_   only the owner reads or writes.
enum class TableAccess : uint8_t { public_, protected_, private_ };

// read_heavy: readers never write a shared cache line (each thread counts
//   itself in its own per-thread slot, like a "big reader" lock), so many
//   readers run at once at full speed; a writer waits for the readers of its
//   stripe to leave. 64 stripes by default.
// write_heavy: one exclusive lock per stripe for readers and writers alike,
//   and more stripes (256 by default), so writers on different keys rarely meet.
enum class TableConcurrency : uint8_t { read_heavy, write_heavy };

// What an insert into a full table (max_entries / max_bytes) does:
//   reject        the insert fails (Errc::invalid_argument, naming the bound);
//   evict_oldest  the entry inserted first goes (FIFO; overwriting a key
//                 keeps its place, it does not make it younger);
//   evict_lru     the least recently used entry goes: exact while the table
//                 holds at most 128 entries, beyond that the least recently used
//                 of 16 random samples (Redis's approximation). Inserts,
//                 overwrites, updates and lookup hits count as uses; each
//                 stamps the entry from one table-wide atomic counter, the
//                 one cost a lookup pays for LRU.
// An insert that takes a table past a bound evicts before it returns, so the
// counts are exact; evictions are counted per bound (TableCounters).
// An entry larger than max_bytes is refused under every policy.
enum class EvictionPolicy : uint8_t { reject, evict_oldest, evict_lru };

const char* to_string(TableKind kind);
const char* to_string(TableAccess access);
const char* to_string(TableConcurrency concurrency);
const char* to_string(EvictionPolicy policy);

// The time source for expiry, in milliseconds. Injectable so tests never sleep
// for a TTL: give a table a ManualTableClock and advance it.
class TableClock {
 public:
  virtual ~TableClock() = default;
  // Milliseconds on a monotonic scale; must never go backwards.
  virtual uint64_t now_ms() const = 0;
};

// std::chrono::steady_clock (the default).
class SteadyTableClock final : public TableClock {
 public:
  uint64_t now_ms() const override;
  // The shared default instance.
  static std::shared_ptr<TableClock> instance();
};

// A clock that moves only when told to. Thread-safe.
class ManualTableClock final : public TableClock {
 public:
  explicit ManualTableClock(uint64_t start_ms = 1'000) : now_(start_ms) {}
  uint64_t now_ms() const override { return now_.load(std::memory_order_acquire); }
  void advance(std::chrono::milliseconds by) {
    now_.fetch_add(static_cast<uint64_t>(by.count()), std::memory_order_acq_rel);
  }
  void set(uint64_t ms) { now_.store(ms, std::memory_order_release); }

 private:
  std::atomic<uint64_t> now_;
};

struct TableOptions {
  // Unique per runtime when not empty; find the table with Table<K, V>::find.
  std::string name;
  TableKind kind = TableKind::set;
  TableAccess access = TableAccess::protected_;
  TableConcurrency concurrency = TableConcurrency::read_heavy;
  // The owning process; invalid = the calling process (Errc::not_in_process
  // when there is none). The table is deleted when the owner exits, unless
  // an heir is alive: then the heir owns it and receives a TableTransfer.
  Pid owner;
  Pid heir;
  std::string heir_data;
  // Entries inserted without a ttl of their own expire after this; 0 = never.
  std::chrono::milliseconds default_ttl{0};
  // Bounds; 0 = unbounded. Counted exactly (see Table::entry_bytes).
  size_t max_entries = 0;
  size_t max_bytes = 0;
  EvictionPolicy on_full = EvictionPolicy::reject;
  // The expiry clock; null = SteadyTableClock.
  std::shared_ptr<TableClock> clock;
  // The runtime's table sweeper removes expired entries every sweep_interval
  // (0 = never: only sweep() and writes that meet an expired key remove
  // them), at most sweep_batch entries per table per round. A round that
  // removes a full batch schedules the next one after 1 ms, so a large
  // expiry drains quickly but never in one stop-the-world pass.
  std::chrono::milliseconds sweep_interval{100};
  size_t sweep_batch = 10'000;
  // Stripes of a `set` (a power of two); 0 = 64 (read_heavy) or 256
  // (write_heavy). read_heavy allows at most 64. An ordered_set has one.
  size_t stripes = 0;
};

// Per-table counters, each exact. Cheap to keep: a lookup counts itself in a
// per-thread slot of the table (no lock, no shared cache line); writes count
// under the stripe lock they hold anyway.
struct TableCounters {
  uint64_t inserts = 0;  // successful insert / insert_new (new keys and overwrites)
  uint64_t updates = 0;  // successful update()
  uint64_t deletes = 0;  // entries removed by erase, take and clear
  uint64_t lookups = 0;  // lookup() and contains() calls: hits + misses
  uint64_t hits = 0;
  uint64_t misses = 0;                 // absent or expired
  uint64_t expiries = 0;               // entries removed because their TTL had passed
  uint64_t evictions_max_entries = 0;  // evicted to stay within max_entries
  uint64_t evictions_max_bytes = 0;    // evicted to stay within max_bytes
  uint64_t rejected = 0;               // writes refused by a bound (policy reject, or an entry larger than max_bytes)
  uint64_t evictions() const { return evictions_max_entries + evictions_max_bytes; }
};

// What canopy::tables() and Table::info() report (ets:info).
struct TableInfo {
  std::string name;  // empty for an unnamed table
  uint64_t id = 0;   // unique in the program
  Pid owner;
  Pid heir;
  TableKind kind = TableKind::set;
  TableAccess access = TableAccess::protected_;
  TableConcurrency concurrency = TableConcurrency::read_heavy;
  std::string key_type;     // demangled
  std::string value_type;   // demangled
  size_t size = 0;          // entries stored (an expired entry counts until it is removed)
  size_t memory_bytes = 0;  // the table's fixed overhead + the bytes of every entry
  size_t max_entries = 0;
  size_t max_bytes = 0;
  EvictionPolicy on_full = EvictionPolicy::reject;
  std::chrono::milliseconds default_ttl{0};
  std::chrono::milliseconds sweep_interval{0};
  size_t sweep_batch = 0;
  size_t stripes = 0;
  TableCounters counters;
  bool deleted = false;
  std::string deleted_reason;  // why, once deleted
};

// Sent to a process that becomes a table's owner (ETS's 'ETS-TRANSFER'):
// `inherited` when the previous owner exited and this process was its heir,
// otherwise the previous owner called give_away().
struct TableTransfer {
  std::string table;  // the table's name (empty if unnamed)
  uint64_t table_id = 0;
  Pid from;
  std::string heir_data;  // the heir data, or give_away's data
  bool inherited = false;
};

}  // namespace canopy
