// One poller round over the runtime. It walks the process table once, with
// no allocation per process, so it stays cheap at a million processes; only
// the processes it reports (registered ones and the top N) get names built.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <unordered_set>

#include "canopy/core/table.hpp"
#include "instrumentation/metric_def.hpp"
#include "runtime/cycle_clock.hpp"
#include "runtime/runtime_impl.hpp"
#include "supervision/orphan_audit.hpp"
#include "supervision/supervisor_state.hpp"

namespace canopy::detail {

namespace {

uint64_t resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long long pages_total = 0, pages_resident = 0;
  const int n = std::fscanf(f, "%llu %llu", &pages_total, &pages_resident);
  std::fclose(f);
  return n == 2 ? pages_resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

// The N largest by key, kept as a min-heap.
class TopN {
 public:
  explicit TopN(size_t n) : n_(n) {}
  void offer(uint64_t key, Pid pid) {
    if (n_ == 0 || key == 0) return;
    if (heap_.size() < n_) {
      heap_.emplace_back(key, pid);
      std::push_heap(heap_.begin(), heap_.end(), std::greater<>());
    } else if (key > heap_.front().first) {
      std::pop_heap(heap_.begin(), heap_.end(), std::greater<>());
      heap_.back() = {key, pid};
      std::push_heap(heap_.begin(), heap_.end(), std::greater<>());
    }
  }
  void collect(std::unordered_set<Pid>& into) const {
    for (auto& [k, p] : heap_) into.insert(p);
  }

 private:
  size_t n_;
  std::vector<std::pair<uint64_t, Pid>> heap_;
};

// A whole-population view: the distribution of something over all
// processes right now, exported as a histogram snapshot (count = processes).
struct Population {
  Population(std::string name, std::vector<double> bounds)
      : name(std::move(name)), bounds(std::move(bounds)), counts(this->bounds.size() + 1, 0) {}
  void add(double v) {
    const size_t i = static_cast<size_t>(std::lower_bound(bounds.begin(), bounds.end(), v) - bounds.begin());
    ++counts[i];
    ++total;
    sum += v;
  }
  telemetry::Family family() const {
    telemetry::Family f = builtin_family(name);
    f.bounds = bounds;
    telemetry::Sample s;
    uint64_t running = 0;
    for (uint64_t c : counts) {
      running += c;
      s.bucket_counts.push_back(running);
    }
    s.count = total;
    s.sum = sum;
    f.samples.push_back(std::move(s));
    return f;
  }
  std::string name;
  std::vector<double> bounds;
  std::vector<uint64_t> counts;
  uint64_t total = 0;
  double sum = 0;
};

telemetry::Family single_value_family(std::string_view name, double value) {
  telemetry::Family f = builtin_family(name);
  f.samples.push_back(telemetry::Sample{{}, value, {}, 0, 0});
  return f;
}

}  // namespace

void Runtime::poll() {
  std::lock_guard round(poll_mu_);
  telemetry::Bus& bus = telemetry_.bus();
  const RuntimeEvents& ev = telemetry_.events();
  const TelemetryOptions& topt = telemetry_.options();
  const uint32_t now_ms = timers_.now_ms();
  const uint64_t now_ns = mono_ns();
  const OrphanRule orphan(*this, topt.orphan_min_age);

  TopN by_mailbox(topt.top_n), by_heap(topt.top_n), by_reductions(topt.top_n);
  std::vector<std::pair<Pid, std::string>> registered;
  Population mailboxes("canopy_processes_by_mailbox_length", {0, 1, 10, 100, 1'000, 10'000, 100'000});
  Population heaps("canopy_processes_by_heap_bytes", {0, 1'024, 16'384, 262'144, 4'194'304, 67'108'864, 1'073'741'824});
  uint64_t processes = 0, mailbox_messages = 0, mailbox_bytes = 0, heap_bytes = 0, orphans = 0, registry_keys = 0;
  uint32_t oldest_ms = 0;

  std::vector<TableInfo> table_infos = canopy::tables(*facade_);
  std::erase_if(table_infos, [](const TableInfo& t) { return t.deleted; });
  uint64_t tables_bytes = 0;
  for (const TableInfo& t : table_infos) tables_bytes += t.memory_bytes;

  const uint32_t hw = table_.high_water();
  for (uint32_t i = 0; i < hw; ++i) {
    ProcessRef ref = table_.acquire_index(i);
    if (!ref) continue;
    Process& p = *ref.get();
    ++processes;
    const uint32_t len = p.mailbox.length();
    const uint64_t bytes = p.mailbox.bytes();
    const uint64_t heap = p.heap.bytes() + p.reported_heap.load(std::memory_order_relaxed);
    mailbox_messages += len;
    mailbox_bytes += bytes;
    heap_bytes += heap + sizeof(Process);
    if (len > 0) {
      const uint32_t stamp = p.mailbox.oldest_stamp();
      if (now_ms > stamp) oldest_ms = std::max(oldest_ms, now_ms - stamp);
    }
    mailboxes.add(len);
    heaps.add(static_cast<double>(heap));
    by_mailbox.offer(len, p.pid);
    by_heap.offer(heap, p.pid);
    by_reductions.offer(p.reductions.load(std::memory_order_relaxed), p.pid);
    std::lock_guard lock(p.meta_lock);
    if (p.meta) {
      const ProcessMeta& m = *p.meta;
      if (!m.name.empty()) registered.emplace_back(p.pid, m.name);
      registry_keys += m.registry_keys.size();
    }
    if (orphan.is_orphan(p, p.meta.get())) ++orphans;
  }

  // Per process: registered ones and the top N by each dimension.
  std::unordered_set<Pid> report;
  by_mailbox.collect(report);
  by_heap.collect(report);
  by_reductions.collect(report);
  std::unordered_map<Pid, std::string> names(registered.begin(), registered.end());
  for (auto& [pid, name] : registered) report.insert(pid);
  if (ev.process_info->active()) {
    for (Pid pid : report) {
      ProcessRef ref = table_.acquire(pid);
      if (!ref) continue;
      Process& p = *ref.get();
      const uint32_t len = p.mailbox.length();
      const uint32_t stamp = p.mailbox.oldest_stamp();
      const double age = len > 0 && now_ms > stamp ? (now_ms - stamp) / 1000.0 : 0.0;
      auto it = names.find(pid);
      const std::string label = it != names.end() ? it->second : pid.to_string();
      const std::string pid_text = pid.to_string();
      const std::string behaviour = type_name(p.behaviour_type);
      bus.execute(*ev.process_info,
                  {{"mailbox_length", static_cast<double>(len)},
                   {"mailbox_bytes", static_cast<double>(p.mailbox.bytes())},
                   {"mailbox_oldest_age_seconds", age},
                   {"heap_bytes", static_cast<double>(p.heap.bytes() + p.reported_heap.load(std::memory_order_relaxed))},
                   {"reductions", static_cast<double>(p.reductions.load(std::memory_order_relaxed))},
                   {"cpu_seconds", static_cast<double>(cycles_to_ns(p.cpu_cycles.load(std::memory_order_relaxed))) / 1e9}},
                  {{"process", label}, {"pid", pid_text}, {"behaviour", behaviour}});
    }
  }

  // Node-wide counts.
  const RuntimeStats st = stats_without_scan();
  size_t names_count;
  {
    std::shared_lock lock(names_mu_);
    names_count = names_.size();
  }
  bus.execute(*ev.vm_system_counts,
              {{"process_count", static_cast<double>(processes)},
               {"process_limit", static_cast<double>(table_.capacity())},
               {"process_usage_ratio", static_cast<double>(processes) / table_.capacity()},
               {"registered_count", static_cast<double>(names_count + registry_keys)},
               {"table_count", static_cast<double>(table_infos.size())},
               {"orphan_count", static_cast<double>(orphans)},
               {"messages_sent", static_cast<double>(st.messages_sent)},
               {"mailbox_messages", static_cast<double>(mailbox_messages)}});
  bus.execute(*ev.vm_system_counts, {{"mailbox_oldest_age_seconds", oldest_ms / 1000.0}});

  const uint64_t tables = tables_bytes;
  const uint64_t total = resident_bytes();
  const uint64_t accounted = heap_bytes + mailbox_bytes + tables;
  const std::pair<const char*, uint64_t> kinds[] = {{"total", total},
                                                    {"processes", heap_bytes},
                                                    {"mailboxes", mailbox_bytes},
                                                    {"tables", tables},
                                                    {"system", total > accounted ? total - accounted : 0}};
  for (auto& [kind, bytes] : kinds) bus.execute(*ev.vm_memory, {{"bytes", static_cast<double>(bytes)}}, {{"kind", kind}});

  // Schedulers: utilization over the interval since the last round.
  const std::vector<SchedulerStats> now_stats = schedulers_.stats();
  uint64_t total_queue = 0;
  for (const SchedulerStats& s : now_stats) {
    const std::string id = std::to_string(s.id);
    total_queue += s.run_queue_length;
    bus.execute(*ev.vm_run_queue, {{"length", static_cast<double>(s.run_queue_length)}}, {{"scheduler", id}});
    const double u = s.id < last_poll_stats_.size() ? utilization(last_poll_stats_[s.id], s)
                                                    : (s.wall_ns ? static_cast<double>(s.busy_ns) / s.wall_ns : 0.0);
    bus.execute(*ev.scheduler_utilization,
                {{"utilization", u},
                 {"busy_seconds", s.busy_ns / 1e9},
                 {"steals", static_cast<double>(s.steals)},
                 {"steal_attempts", static_cast<double>(s.steal_attempts)},
                 {"exhausted_slices", static_cast<double>(s.exhausted_slices)}},
                {{"scheduler", id}});
  }
  bus.execute(*ev.vm_run_queue, {{"total", static_cast<double>(total_queue)}});
  last_poll_stats_ = now_stats;

  // Supervisors.
  for (auto& state : supervisor_states()) {
    const SupervisorStats s = state->snapshot(now_ns);
    bus.execute(*ev.supervisor_info,
                {{"restart_budget_remaining", static_cast<double>(s.restart_budget_remaining)},
                 {"restarts", static_cast<double>(s.restarts_total)},
                 {"intensity_exceeded", static_cast<double>(s.intensity_exceeded)},
                 {"children", static_cast<double>(s.children.size())}},
                {{"supervisor", s.name}});
  }

  // Tables: sizes, and evictions/expiries since the last round as events.
  std::unordered_map<uint64_t, TableCounters> seen;
  for (const TableInfo& t : table_infos) {
    const std::string name = t.name.empty() ? "#" + std::to_string(t.id) : t.name;
    double usage = 0;
    if (t.max_entries > 0) usage = std::max(usage, static_cast<double>(t.size) / static_cast<double>(t.max_entries));
    if (t.max_bytes > 0) usage = std::max(usage, static_cast<double>(t.memory_bytes) / static_cast<double>(t.max_bytes));
    bus.execute(*ev.table_info,
                {{"entries", static_cast<double>(t.size)},
                 {"bytes", static_cast<double>(t.memory_bytes)},
                 {"usage_ratio", usage},
                 {"hits", static_cast<double>(t.counters.hits)},
                 {"misses", static_cast<double>(t.counters.misses)}},
                {{"table", name}});
    const TableCounters before = last_table_counters_.count(t.id) ? last_table_counters_[t.id] : TableCounters{};
    auto emit_delta = [&](const telemetry::Event& e, uint64_t now, uint64_t then, const char* reason) {
      if (now <= then) return;
      telemetry::Metadata md{{"table", name}};
      if (reason != nullptr) md.set("reason", reason);
      bus.execute(e, {{"count", static_cast<double>(now - then)}}, md);
    };
    emit_delta(*ev.table_evict, t.counters.evictions_max_entries, before.evictions_max_entries, "max_entries");
    emit_delta(*ev.table_evict, t.counters.evictions_max_bytes, before.evictions_max_bytes, "max_bytes");
    emit_delta(*ev.table_expire, t.counters.expiries, before.expiries, nullptr);
    seen[t.id] = t.counters;
  }
  last_table_counters_ = std::move(seen);

  std::vector<telemetry::Family> snapshot;
  snapshot.push_back(mailboxes.family());
  snapshot.push_back(heaps.family());
  snapshot.push_back(single_value_family("canopy_poller_duration_seconds", (mono_ns() - now_ns) / 1e9));
  snapshot.push_back(
      single_value_family("canopy_poller_failures_total", static_cast<double>(telemetry_.poller().failures())));
  telemetry_.set_snapshot(std::move(snapshot));
}

}  // namespace canopy::detail
