// Room tables/: ETS-like tables. The templates live in the public
// canopy/core/table.hpp and its detail/ layers (stripe locks, the type-erased
// TableBase, the typed table); this room holds what is not a template. It
// may use runtime/ (owners, exit hooks, timers); nothing in runtime/ may use
// it.
//
// This file: Tables: what is not a template — locks, ownership, access checks.
// Each runtime keeps its tables in a TableDirectory (table_directory.hpp),
// whose expiry sweeper runs on the runtime's timer.
#include "canopy/core/table.hpp"

#include <algorithm>
#include <mutex>
#include <thread>

#include "canopy/core/message.hpp"
#include "canopy/core/runtime.hpp"
#include "runtime/runtime_impl.hpp"
#include "tables/table_directory.hpp"

namespace canopy {

const char* to_string(TableKind kind) {
  switch (kind) {
    case TableKind::set:
      return "set";
    case TableKind::ordered_set:
      return "ordered_set";
  }
  return "?";
}

const char* to_string(TableAccess access) {
  switch (access) {
    case TableAccess::public_:
      return "public";
    case TableAccess::protected_:
      return "protected";
    case TableAccess::private_:
      return "private";
  }
  return "?";
}

const char* to_string(TableConcurrency concurrency) {
  switch (concurrency) {
    case TableConcurrency::read_heavy:
      return "read_heavy";
    case TableConcurrency::write_heavy:
      return "write_heavy";
  }
  return "?";
}

const char* to_string(EvictionPolicy policy) {
  switch (policy) {
    case EvictionPolicy::reject:
      return "reject";
    case EvictionPolicy::evict_oldest:
      return "evict_oldest";
    case EvictionPolicy::evict_lru:
      return "evict_lru";
  }
  return "?";
}

uint64_t SteadyTableClock::now_ms() const {
  // +1: 0 means "no deadline" to a table.
  return static_cast<uint64_t>(
             std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
                 .count()) +
         1;
}

std::shared_ptr<TableClock> SteadyTableClock::instance() {
  static const std::shared_ptr<TableClock> clock = std::make_shared<SteadyTableClock>();
  return clock;
}

namespace detail {

uint32_t next_table_thread_index() {
  static std::atomic<uint32_t> next{0};
  return next.fetch_add(1, std::memory_order_relaxed);
}

// --- locks ---------------------------------------------------------------------------

StripeLocks::StripeLocks(TableConcurrency mode, size_t stripes)
    : read_heavy_(mode == TableConcurrency::read_heavy), stripes_(stripes) {
  // One slot per hardware thread (at least 4, at most 64): threads beyond
  // that share slots, which stays correct (the counters are atomic).
  const unsigned hw = std::thread::hardware_concurrency();
  size_t n = 4;
  while (n < hw && n < 64) n *= 2;
  slot_count_ = n;
  slot_mask_ = static_cast<uint32_t>(n - 1);
  locks_ = std::make_unique<StripeLock[]>(stripes);
  slots_ = std::make_unique<TableThreadSlot[]>(n);
}

void StripeLocks::lock_shared_slow(size_t s, TableThreadSlot& me) const {
  std::atomic<uint32_t>& mine = me.readers[s];
  const std::atomic<uint32_t>& writer = locks_[s].writer;
  for (;;) {
    mine.fetch_sub(1, std::memory_order_release);
    for (int spins = 0; writer.load(std::memory_order_relaxed) != 0; ++spins) {
      if (spins < 128) {
        table_cpu_relax();
      } else {
        std::this_thread::yield();
      }
    }
    mine.fetch_add(1, std::memory_order_seq_cst);
    if (writer.load(std::memory_order_seq_cst) == 0) return;
  }
}

void StripeLocks::wait_for_readers(size_t slot, size_t s) const {
  const std::atomic<uint32_t>& count = slots_[slot].readers[s];
  for (int spins = 0; count.load(std::memory_order_seq_cst) != 0; ++spins) {
    if (spins < 128) {
      table_cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
}

std::pair<uint64_t, uint64_t> StripeLocks::hits_misses() const {
  uint64_t hits = 0;
  uint64_t misses = 0;
  for (size_t i = 0; i < slot_count_; ++i) {
    hits += slots_[i].hits.load(std::memory_order_relaxed);
    misses += slots_[i].misses.load(std::memory_order_relaxed);
  }
  return {hits, misses};
}

// --- the directory (tables/table_directory.hpp, kept by the runtime) -------------------

std::shared_ptr<TableBase> find_table(canopy::Runtime& rt, const std::string& name) {
  return impl_of(rt).tables().find(name);
}

std::vector<std::shared_ptr<TableBase>> list_tables(canopy::Runtime& rt) { return impl_of(rt).tables().list(); }

Status table_prepare(canopy::Runtime& rt, TableOptions& options, bool hashable, bool ordered, const std::type_info& key,
                     size_t& stripes) {
  const std::string what = options.name.empty() ? "table create" : "table create '" + options.name + "'";
  if (!options.owner.valid()) {
    options.owner = rt.self();
    if (!options.owner.valid()) {
      return Error(Errc::not_in_process,
                   what + ": no owner: set TableOptions::owner or create the table from a process");
    }
  }
  if (options.kind == TableKind::set && !hashable) {
    return Error(Errc::invalid_argument, what + ": a set needs std::hash and == for its key type " + type_name(key));
  }
  if (options.kind == TableKind::ordered_set && !ordered) {
    return Error(Errc::invalid_argument, what + ": an ordered_set needs operator< for its key type " + type_name(key));
  }
  if (options.default_ttl.count() < 0) return Error(Errc::invalid_argument, what + ": negative default_ttl");
  if (options.sweep_interval.count() < 0) return Error(Errc::invalid_argument, what + ": negative sweep_interval");
  if (options.sweep_interval.count() > 0 && options.sweep_batch == 0) {
    return Error(Errc::invalid_argument, what + ": sweep_batch must be positive when sweep_interval is");
  }
  if (options.kind == TableKind::ordered_set) {
    stripes = 1;
  } else {
    const bool read_heavy = options.concurrency == TableConcurrency::read_heavy;
    stripes = options.stripes != 0 ? options.stripes : (read_heavy ? 64 : 256);
    if ((stripes & (stripes - 1)) != 0) {
      return Error(Errc::invalid_argument, what + ": stripes must be a power of two, got " + std::to_string(stripes));
    }
    if (read_heavy && stripes > kMaxReadHeavyStripes) {
      return Error(Errc::invalid_argument,
                   what + ": a read_heavy table has at most 64 stripes, got " + std::to_string(stripes));
    }
    if (stripes > 4096) {
      return Error(Errc::invalid_argument, what + ": at most 4096 stripes, got " + std::to_string(stripes));
    }
  }
  options.stripes = stripes;
  if (!options.clock) options.clock = SteadyTableClock::instance();
  return {};
}

// --- TableBase -----------------------------------------------------------------------------

TableBase::TableBase(canopy::Runtime& rt, TableOptions options, Pid owner, const std::type_info& key_type,
                     const std::type_info& value_type, size_t stripes)
    : rt_(&rt),
      opts_(std::move(options)),
      id_(impl_of(rt).tables().next_id()),
      stripes_(stripes),
      key_type_(key_type),
      value_type_(value_type),
      clock_(opts_.clock ? opts_.clock : SteadyTableClock::instance()),
      owner_(owner.raw()),
      heir_(opts_.heir),
      heir_data_(opts_.heir_data) {}

TableBase::~TableBase() = default;

Pid TableBase::heir() const {
  MutexLock lock(&own_mu_);
  return heir_;
}

std::string TableBase::label() const {
  if (opts_.name.empty()) return "table #" + std::to_string(id_);
  return "table '" + opts_.name + "' (#" + std::to_string(id_) + ")";
}

Error TableBase::deleted_error(const char* op) const {
  return Error(Errc::not_registered, label() + ": " + op + ": the table was deleted: " + deleted_reason_,
               "table deleted");
}

Error table_type_mismatch(const TableBase& table, const std::type_info& key, const std::type_info& value) {
  return Error(Errc::invalid_argument, table.label() + " holds <" + type_name(table.key_type()) + ", " +
                                           type_name(table.value_type()) + ">, not <" + type_name(key) + ", " +
                                           type_name(value) + "> (or it hashes or orders them differently)");
}

Status TableBase::check_slow(const char* op, bool write) const {
  if (deleted()) return deleted_error(op);
  const TableAccess access = opts_.access;
  if (access == TableAccess::public_ || (!write && access == TableAccess::protected_)) return {};
  const Pid caller = rt_->self();
  const Pid own = owner();
  if (caller.valid() && caller == own) return {};
  const std::string who = caller.valid() ? "process " + caller.to_string() : "a thread outside the runtime";
  const char* rule = access == TableAccess::protected_ ? "only its owner writes" : "only its owner reads or writes";
  return Error(Errc::invalid_argument,
               label() + ": " + op + " denied: the table is " + to_string(access) + " (" + rule + "); the caller is " +
                   who + ", the owner is " + own.to_string(),
               "access denied");
}

Status TableBase::hook_locked(Pid pid) {
  if (std::find(hooked_.begin(), hooked_.end(), pid) != hooked_.end()) return {};
  std::weak_ptr<TableBase> weak = weak_from_this();
  Status st = rt_->when_exits(pid, [weak](Pid p, const ExitReason& reason) {
    if (auto t = weak.lock()) t->on_owner_exit(p, reason);
  });
  if (st.ok()) hooked_.push_back(pid);
  return st;
}

bool TableBase::mark_deleted_locked(std::string reason) {
  if (deleted()) return false;
  deleted_reason_ = std::move(reason);
  deleted_.store(true, std::memory_order_release);
  return true;
}

Status TableBase::attach() {
  const Pid own = owner();
  {
    MutexLock lock(&own_mu_);
    if (Status st = hook_locked(own); !st.ok()) {
      return Error(Errc::dead_process, label() + ": create: the owner " + own.to_string() + " is not alive");
    }
  }
  return impl_of(*rt_).tables().add(shared_from_this());
}

void TableBase::finish_delete() {
  std::shared_ptr<TableBase> keep = shared_from_this();
  impl_of(*rt_).tables().remove(*this);
  release_data();
}

void TableBase::on_owner_exit(Pid pid, const ExitReason& reason) {
  Pid heir;
  std::string data;
  bool transfer = false;
  {
    MutexLock lock(&own_mu_);
    std::erase(hooked_, pid);
    if (deleted() || owner() != pid) return;  // given away since; or gone
    heir = heir_;
    data = heir_data_;
    std::string why;
    if (heir.valid() && heir != pid) {
      owner_.store(heir.raw(), std::memory_order_release);
      heir_ = Pid();
      heir_data_.clear();
      if (hook_locked(heir).ok()) {
        transfer = true;
      } else {
        owner_.store(pid.raw(), std::memory_order_release);
        why = "its heir " + heir.to_string() + " was not alive";
      }
    } else {
      why = "it had no heir";
    }
    if (!transfer) {
      mark_deleted_locked("its owner " + pid.to_string() + " exited (" + reason.to_string() + ") and " + why);
    }
  }
  if (transfer) {
    // If the heir dies before this arrives, its own exit hook deletes the table.
    (void)rt_->send(heir, TableTransfer{opts_.name, id_, pid, std::move(data), true});
    return;
  }
  finish_delete();
}

Status TableBase::give_away(Pid to, std::string data) {
  if (deleted()) return deleted_error("give_away");
  if (!to.valid()) return Error(Errc::invalid_argument, label() + ": give_away: invalid pid");
  const Pid caller = rt_->self();
  {
    MutexLock lock(&own_mu_);
    const Pid own = owner();
    if (!caller.valid() || caller != own) {
      return Error(Errc::invalid_argument,
                   label() + ": give_away denied: only the owner " + own.to_string() +
                       " may give the table away; the caller is " +
                       (caller.valid() ? caller.to_string() : "outside the runtime"),
                   "access denied");
    }
    if (to == own)
      return Error(Errc::invalid_argument, label() + ": give_away: " + to.to_string() + " already owns it");
    owner_.store(to.raw(), std::memory_order_release);
    if (!hook_locked(to).ok()) {
      owner_.store(own.raw(), std::memory_order_release);
      return Error(Errc::dead_process, label() + ": give_away: " + to.to_string() + " is not alive");
    }
  }
  (void)rt_->send(to, TableTransfer{opts_.name, id_, caller, std::move(data), false});
  return {};
}

Status TableBase::set_heir(Pid heir, std::string data) {
  if (deleted()) return deleted_error("set_heir");
  const Pid caller = rt_->self();
  MutexLock lock(&own_mu_);
  const Pid own = owner();
  if (!caller.valid() || caller != own) {
    return Error(Errc::invalid_argument,
                 label() + ": set_heir denied: only the owner " + own.to_string() + " may set the heir",
                 "access denied");
  }
  heir_ = heir;
  heir_data_ = heir.valid() ? std::move(data) : std::string();
  return {};
}

Status TableBase::drop() {
  if (deleted()) return deleted_error("drop");
  const Pid caller = rt_->self();
  {
    MutexLock lock(&own_mu_);
    const Pid own = owner();
    if (!caller.valid() || caller != own) {
      return Error(Errc::invalid_argument,
                   label() + ": drop denied: only the owner " + own.to_string() +
                       " may delete the table; the caller is " +
                       (caller.valid() ? caller.to_string() : "outside the runtime"),
                   "access denied");
    }
    if (!mark_deleted_locked("dropped by its owner " + own.to_string())) return deleted_error("drop");
  }
  finish_delete();
  return {};
}

TableInfo TableBase::info() const {
  TableInfo i;
  i.name = opts_.name;
  i.id = id_;
  i.owner = owner();
  i.heir = heir();
  i.kind = opts_.kind;
  i.access = opts_.access;
  i.concurrency = opts_.concurrency;
  i.key_type = type_name(key_type_);
  i.value_type = type_name(value_type_);
  i.size = size();
  i.memory_bytes = memory();
  i.max_entries = opts_.max_entries;
  i.max_bytes = opts_.max_bytes;
  i.on_full = opts_.on_full;
  i.default_ttl = opts_.default_ttl;
  i.sweep_interval = opts_.sweep_interval;
  i.sweep_batch = opts_.sweep_batch;
  i.stripes = stripes_;
  i.counters = counters();
  i.deleted = deleted();
  if (i.deleted) i.deleted_reason = deleted_reason_;
  return i;
}

}  // namespace detail

std::vector<TableInfo> tables(Runtime& rt) {
  std::vector<TableInfo> out;
  for (const auto& t : detail::list_tables(rt)) {
    if (!t->deleted()) out.push_back(t->info());  // (one being deleted right now is not listed)
  }
  return out;
}

}  // namespace canopy
