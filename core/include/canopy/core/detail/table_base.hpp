#pragma once
// The type-erased middle layer of a table (not for direct use; see
// canopy/core/table.hpp): identity, ownership, access checks and the
// runtime's directory of tables, whatever the key and value types.
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <typeinfo>
#include <vector>

#include "canopy/core/exit_reason.hpp"
#include "canopy/core/pid.hpp"
#include "canopy/core/result.hpp"
#include "canopy/core/table_types.hpp"
#include "canopy/telemetry/detail/mutex.hpp"

namespace canopy {

class Runtime;

namespace detail {

// What every table has, whatever its key and value types: identity,
// ownership, access rules and the runtime's directory of tables. Defined in
// table.cc.
class TableBase : public std::enable_shared_from_this<TableBase> {
 public:
  TableBase(canopy::Runtime& rt, TableOptions options, Pid owner, const std::type_info& key_type,
            const std::type_info& value_type, size_t stripes);
  virtual ~TableBase();
  TableBase(const TableBase&) = delete;
  TableBase& operator=(const TableBase&) = delete;

  const std::string& name() const { return opts_.name; }
  uint64_t id() const { return id_; }
  const TableOptions& options() const { return opts_; }
  size_t stripe_count() const { return stripes_; }
  const std::type_info& key_type() const { return key_type_; }
  const std::type_info& value_type() const { return value_type_; }
  Pid owner() const { return Pid::from_raw(owner_.load(std::memory_order_acquire)); }
  Pid heir() const EXCLUDES(own_mu_);
  bool deleted() const { return deleted_.load(std::memory_order_acquire); }
  // "table 'name' (#id)", or "table #id" when unnamed.
  std::string label() const;

  // Whether the calling process (or thread) may read / write now; the errors
  // name the table, the operation, the access mode, the caller and the owner.
  Status check_read(const char* op) const {
    if (!deleted() && opts_.access != TableAccess::private_) [[likely]]
      return {};
    return check_slow(op, false);
  }
  Status check_write(const char* op) const {
    if (!deleted() && opts_.access == TableAccess::public_) [[likely]]
      return {};
    return check_slow(op, true);
  }
  // Errc::not_registered: "<label>: <op>: the table was deleted: <why>".
  Error deleted_error(const char* op) const;

  // Ownership (the owner process only).
  Status give_away(Pid to, std::string data) EXCLUDES(own_mu_);
  Status set_heir(Pid heir, std::string data) EXCLUDES(own_mu_);
  Status drop() EXCLUDES(own_mu_);

  TableInfo info() const;
  virtual size_t size() const = 0;
  virtual size_t memory() const = 0;
  virtual TableCounters counters() const = 0;
  // Removes at most `max_entries` expired entries; returns how many.
  virtual size_t sweep(size_t max_entries) = 0;

  // Hooks the owner's exit and enters the runtime's directory. Called once,
  // by create.
  Status attach() EXCLUDES(own_mu_);

  // The directory's sweeper schedule (guarded by the directory lock).
  std::chrono::steady_clock::time_point next_sweep_at{};
  // The runtime's directory of tables marks a table whose name is taken.
  friend class TableDirectory;

 protected:
  // Frees every entry: the table was deleted.
  virtual void release_data() = 0;

  canopy::Runtime* const rt_;
  const TableOptions opts_;
  const uint64_t id_;
  const size_t stripes_;
  const std::type_info& key_type_;
  const std::type_info& value_type_;
  const std::shared_ptr<TableClock> clock_;

 private:
  Status check_slow(const char* op, bool write) const;
  Status hook_locked(Pid pid) REQUIRES(own_mu_);
  void on_owner_exit(Pid pid, const ExitReason& reason) EXCLUDES(own_mu_);
  // Marks the table deleted (if it was not); the caller then finishes with
  // finish_delete() outside own_mu_.
  bool mark_deleted_locked(std::string reason) REQUIRES(own_mu_);
  void finish_delete() EXCLUDES(own_mu_);

  mutable Mutex own_mu_;
  // Changed only under own_mu_; read by anyone.
  std::atomic<uint64_t> owner_;
  Pid heir_ GUARDED_BY(own_mu_);
  std::string heir_data_ GUARDED_BY(own_mu_);
  std::vector<Pid> hooked_ GUARDED_BY(own_mu_);  // processes whose exit hook points here
  std::atomic<bool> deleted_{false};
  std::string deleted_reason_;  // written once, under own_mu_, before deleted_ is set
};

// The directory of a runtime's tables.
std::shared_ptr<TableBase> find_table(canopy::Runtime& rt, const std::string& name);
std::vector<std::shared_ptr<TableBase>> list_tables(canopy::Runtime& rt);

}  // namespace detail
}  // namespace canopy
