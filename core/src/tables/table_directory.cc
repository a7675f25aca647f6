// Room tables/ (see table.cc): the directory of a runtime's tables and their
// expiry sweeper on the runtime's timer.
#include "tables/table_directory.hpp"

#include <algorithm>
#include <chrono>

namespace canopy::detail {

namespace {
int64_t ns_since_epoch(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
}  // namespace

// --- what runtime/ sees of it (declared in runtime_impl.hpp) ---------------------

void TableDirectoryDeleter::operator()(TableDirectory* d) const { delete d; }

std::unique_ptr<TableDirectory, TableDirectoryDeleter> make_table_directory() {
  return std::unique_ptr<TableDirectory, TableDirectoryDeleter>(new TableDirectory);
}

void sweep_due_tables(TableDirectory& d) { d.sweep_due(); }

// --- the directory -------------------------------------------------------------------

Status TableDirectory::add(const std::shared_ptr<TableBase>& t) {
  MutexLock lock(&mu_);
  if (t->deleted()) {
    return Error(Errc::dead_process,
                 t->label() + ": create: the owner " + t->owner().to_string() + " exited meanwhile");
  }
  const std::string& name = t->name();
  if (auto n = names_.find(name); !name.empty() && n != names_.end()) {
    const auto& other = tables_.at(n->second);
    {
      // Never listed: make its exit hook a no-op.
      MutexLock own_lock(&t->own_mu_);
      t->mark_deleted_locked("its name was taken");
    }
    return Error(Errc::already_registered, "table create: the name '" + name + "' is taken by table #" +
                                               std::to_string(other->id()) + " owned by " + other->owner().to_string());
  }
  tables_.emplace(t->id(), t);
  if (!name.empty()) names_.emplace(name, t->id());
  t->next_sweep_at = std::chrono::steady_clock::now() + t->options().sweep_interval;
  if (t->options().sweep_interval.count() > 0) {
    next_due_ns_.store(std::min(next_due_ns_.load(std::memory_order_relaxed), ns_since_epoch(t->next_sweep_at)),
                       std::memory_order_release);
  }
  return {};
}

void TableDirectory::remove(const TableBase& t) {
  MutexLock lock(&mu_);
  tables_.erase(t.id());
  if (auto n = names_.find(t.name()); n != names_.end() && n->second == t.id()) names_.erase(n);
}

std::shared_ptr<TableBase> TableDirectory::find(const std::string& name) const {
  MutexLock lock(&mu_);
  auto n = names_.find(name);
  if (n == names_.end()) return nullptr;
  auto t = tables_.find(n->second);
  return t == tables_.end() ? nullptr : t->second;
}

std::vector<std::shared_ptr<TableBase>> TableDirectory::list() const {
  MutexLock lock(&mu_);
  std::vector<std::shared_ptr<TableBase>> out;
  out.reserve(tables_.size());
  for (auto& [id, t] : tables_) out.push_back(t);
  return out;
}

int64_t TableDirectory::earliest_locked() const {
  int64_t earliest = INT64_MAX;
  for (auto& [id, t] : tables_) {
    if (t->options().sweep_interval.count() > 0) earliest = std::min(earliest, ns_since_epoch(t->next_sweep_at));
  }
  return earliest;
}

void TableDirectory::sweep_due() {
  const auto now = std::chrono::steady_clock::now();
  if (ns_since_epoch(now) < next_due_ns_.load(std::memory_order_acquire)) return;
  std::vector<std::shared_ptr<TableBase>> due;
  {
    MutexLock lock(&mu_);
    for (auto& [id, t] : tables_) {
      if (t->options().sweep_interval.count() > 0 && t->next_sweep_at <= now) due.push_back(t);
    }
  }
  // Outside the lock: a sweep takes the table's own locks and emits events.
  std::vector<bool> full(due.size());
  for (size_t i = 0; i < due.size(); ++i) {
    const size_t batch = due[i]->options().sweep_batch;
    full[i] = due[i]->sweep(batch) >= batch;
  }
  {
    MutexLock lock(&mu_);
    const auto after = std::chrono::steady_clock::now();
    for (size_t i = 0; i < due.size(); ++i) {
      due[i]->next_sweep_at = after + (full[i] ? std::chrono::milliseconds(1) : due[i]->options().sweep_interval);
    }
    next_due_ns_.store(earliest_locked(), std::memory_order_release);
  }
  // `due` lets go of the tables here, outside the lock (a deleted one may be freed).
}

}  // namespace canopy::detail
