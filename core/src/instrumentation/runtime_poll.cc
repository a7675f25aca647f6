// One poller round over the runtime. It walks the process table once, with
// no allocation per process, so it stays cheap at a million processes; only
// the processes it reports (registered ones and the top N) get names built.
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <unordered_set>

#include "canopy/core/table.hpp"
#include "instrumentation/behaviour_stats.hpp"
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

telemetry::Family single_value_family(std::string_view name, double value) {
  telemetry::Family f = builtin_family(name);
  f.samples.push_back(telemetry::Sample{{}, value, {}, 0, 0});
  return f;
}

// A bound as the at_most label: "+Inf", or the number as the text format
// writes it (%.16g; whole numbers as integers), as le would read.
std::string bound_label(double bound) {
  if (std::isinf(bound)) return bound < 0 ? "-Inf" : "+Inf";
  char buf[32];
  const auto r = bound == std::floor(bound) && std::fabs(bound) < 1e15
                     ? std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(bound))
                     : std::to_chars(buf, buf + sizeof buf, bound, std::chars_format::general,
                                     std::numeric_limits<double>::max_digits10 - 1);
  return std::string(buf, r.ptr);
}

// A whole-population view: the distribution of something over all
// processes right now. Exported as gauges, because a snapshot falls as well
// as rises: `name`{at_most} counts the processes with at most each bound
// (cumulative, at_most="+Inf" = every process), `name`_gcount and
// `name`_gsum the processes and their total (see metric_names.cc).
struct Population {
  Population(std::string name, std::vector<double> bounds)
      : name(std::move(name)), bounds(std::move(bounds)), counts(this->bounds.size() + 1, 0) {}
  void add(double v) {
    const size_t i = static_cast<size_t>(std::lower_bound(bounds.begin(), bounds.end(), v) - bounds.begin());
    ++counts[i];
    ++total;
    sum += v;
  }
  void append_families(std::vector<telemetry::Family>& out) const {
    telemetry::Family buckets = builtin_family(name);
    uint64_t running = 0;
    for (size_t i = 0; i < counts.size(); ++i) {
      running += counts[i];
      const std::string at_most = i < bounds.size() ? bound_label(bounds[i]) : "+Inf";
      buckets.samples.push_back(telemetry::Sample{{{"at_most", at_most}}, static_cast<double>(running), {}, 0, 0});
    }
    out.push_back(std::move(buckets));
    out.push_back(single_value_family(name + "_gcount", static_cast<double>(total)));
    out.push_back(single_value_family(name + "_gsum", sum));
  }
  std::string name;
  std::vector<double> bounds;  // finite, ascending; +Inf is implied
  std::vector<uint64_t> counts;
  uint64_t total = 0;
  double sum = 0;
};

// What one walk over the process table found.
struct ProcessWalk {
  explicit ProcessWalk(size_t top_n) : by_mailbox(top_n), by_heap(top_n), by_reductions(top_n) {}

  TopN by_mailbox, by_heap, by_reductions;
  std::vector<std::pair<Pid, std::string>> registered;
  Population mailboxes{"canopy_processes_by_mailbox_length", {0, 1, 10, 100, 1'000, 10'000, 100'000}};
  Population heaps{"canopy_processes_by_heap_bytes", {0, 1'024, 16'384, 262'144, 4'194'304, 67'108'864, 1'073'741'824}};
  uint64_t processes = 0, mailbox_messages = 0, mailbox_bytes = 0, heap_bytes = 0, orphans = 0, registry_keys = 0;
  uint32_t oldest_ms = 0;
  std::vector<uint64_t> live_per_behaviour = std::vector<uint64_t>(kMaxBehaviours, 0);
  std::vector<uint64_t> orphans_per_behaviour = std::vector<uint64_t>(kMaxBehaviours, 0);
};

}  // namespace

// One poller round as named steps, sharing what the round started with. Lives
// for one call of Runtime::poll, under poll_mu_ (a friend of Runtime).
class PollRound {
 public:
  explicit PollRound(Runtime& rt)
      : rt_(rt),
        bus_(rt.telemetry_.bus()),
        ev_(rt.telemetry_.events()),
        options_(rt.telemetry_.options()),
        now_ms_(rt.timers_.now_ms()),
        now_ns_(mono_ns()) {}

  void run() {
    // Runtime::poll holds rt_.poll_mu_ for the round; the analysis cannot
    // tie rt_ to the Runtime that took it.
    rt_.poll_mu_.assert_held();
    const std::vector<TableInfo> tables = live_tables();
    ProcessWalk walk = walk_processes();
    report_processes(walk);
    report_node(walk, tables.size());
    report_memory(walk, tables);
    report_schedulers();
    report_supervisors();
    report_tables(tables);
    publish_snapshot(walk);
  }

 private:
  std::vector<TableInfo> live_tables() const {
    std::vector<TableInfo> tables = canopy::tables(*rt_.facade_);
    std::erase_if(tables, [](const TableInfo& t) { return t.deleted; });
    return tables;
  }

  // One pass over the process table, with no allocation per process. Ranks
  // by reductions over the interval since the last walk, not lifetime totals:
  // a process busy an hour ago does not outrank one spinning now.
  ProcessWalk walk_processes() REQUIRES(rt_.poll_mu_) {
    ProcessWalk w(options_.top_n);
    const uint64_t elapsed_ns = rt_.last_walk_ns_ == 0 ? 0 : now_ns_ - rt_.last_walk_ns_;
    rt_.last_walk_ns_ = now_ns_;
    const OrphanRule orphan(rt_, options_.orphan_min_age);
    const uint32_t hw = rt_.table_.high_water();
    for (uint32_t i = 0; i < hw; ++i) {
      ProcessRef ref = rt_.table_.acquire_index(i);
      if (!ref) continue;
      Process& p = *ref.get();
      ++w.processes;
      ++w.live_per_behaviour[p.behaviour_id];
      const uint32_t len = p.mailbox.length();
      const uint64_t bytes = p.mailbox.bytes();
      const uint64_t heap = p.heap_bytes();
      w.mailbox_messages += len;
      w.mailbox_bytes += bytes;
      w.heap_bytes += heap + sizeof(Process);
      if (len > 0) {
        const uint32_t stamp = p.mailbox.oldest_stamp();
        if (now_ms_ > stamp) w.oldest_ms = std::max(w.oldest_ms, now_ms_ - stamp);
      }
      w.mailboxes.add(len);
      w.heaps.add(static_cast<double>(heap));
      w.by_mailbox.offer(len, p.pid);
      w.by_heap.offer(heap, p.pid);
      const uint64_t reductions = p.reductions.load(std::memory_order_relaxed);
      const uint64_t cpu = p.cpu_cycles.load(std::memory_order_relaxed);
      const uint64_t reductions_delta =
          reductions - p.reductions_at_poll.exchange(reductions, std::memory_order_relaxed);
      const uint64_t cpu_delta = cpu - p.cpu_cycles_at_poll.exchange(cpu, std::memory_order_relaxed);
      if (elapsed_ns > 0) {
        const double per_s = 1e9 / static_cast<double>(elapsed_ns);
        p.reductions_per_s.store(static_cast<uint64_t>(static_cast<double>(reductions_delta) * per_s),
                                 std::memory_order_relaxed);
        p.cpu_ns_per_s.store(static_cast<uint64_t>(static_cast<double>(cycles_to_ns(cpu_delta)) * per_s),
                             std::memory_order_relaxed);
      }
      w.by_reductions.offer(p.reductions_per_s.load(std::memory_order_relaxed), p.pid);
      SpinLockGuard lock(&p.meta_lock);
      if (p.meta) {
        const ProcessMeta& m = *p.meta;
        if (!m.name.empty()) w.registered.emplace_back(p.pid, m.name);
        w.registry_keys += m.registry_keys.size();
      }
      if (orphan.is_orphan(p, p.meta.get())) {
        ++w.orphans;
        ++w.orphans_per_behaviour[p.behaviour_id];
      }
    }
    return w;
  }

  // Per process: registered ones and the top N by each dimension.
  void report_processes(const ProcessWalk& w) {
    std::unordered_set<Pid> report;
    w.by_mailbox.collect(report);
    w.by_heap.collect(report);
    w.by_reductions.collect(report);
    std::unordered_map<Pid, std::string> names(w.registered.begin(), w.registered.end());
    for (auto& [pid, name] : w.registered) report.insert(pid);
    if (!ev_.process_info->active()) return;
    for (Pid pid : report) {
      ProcessRef ref = rt_.table_.acquire(pid);
      if (!ref) continue;
      Process& p = *ref.get();
      const uint32_t len = p.mailbox.length();
      const uint32_t stamp = p.mailbox.oldest_stamp();
      const double age = len > 0 && now_ms_ > stamp ? (now_ms_ - stamp) / 1000.0 : 0.0;
      auto it = names.find(pid);
      const std::string label = it != names.end() ? it->second : pid.to_string();
      const std::string pid_text = pid.to_string();
      const std::string behaviour = type_name(p.behaviour_type);
      bus_.execute(
          *ev_.process_info,
          {{"mailbox_length", static_cast<double>(len)},
           {"mailbox_bytes", static_cast<double>(p.mailbox.bytes())},
           {"mailbox_oldest_age_seconds", age},
           {"heap_bytes", static_cast<double>(p.heap_bytes())},
           {"reductions", static_cast<double>(p.reductions.load(std::memory_order_relaxed))},
           {"cpu_seconds", static_cast<double>(cycles_to_ns(p.cpu_cycles.load(std::memory_order_relaxed))) / 1e9}},
          {{"process", label}, {"pid", pid_text}, {"behaviour", behaviour}});
    }
  }

  // Node-wide counts.
  void report_node(const ProcessWalk& w, size_t table_count) {
    const RuntimeStats st = rt_.stats_without_scan();
    size_t names_count;
    {
      ReaderMutexLock lock(&rt_.names_mu_);
      names_count = rt_.names_.size();
    }
    const double capacity = rt_.table_.capacity();
    bus_.execute(*ev_.vm_system_counts, {{"process_count", static_cast<double>(w.processes)},
                                         {"process_limit", capacity},
                                         {"process_usage_ratio", static_cast<double>(w.processes) / capacity},
                                         {"registered_count", static_cast<double>(names_count + w.registry_keys)},
                                         {"table_count", static_cast<double>(table_count)},
                                         {"orphan_count", static_cast<double>(w.orphans)},
                                         {"messages_sent", static_cast<double>(st.messages_sent)},
                                         {"mailbox_messages", static_cast<double>(w.mailbox_messages)}});
    bus_.execute(*ev_.vm_system_counts, {{"mailbox_oldest_age_seconds", w.oldest_ms / 1000.0}});
  }

  // After a flood drains (what processes and mailboxes hold fell to under
  // half of its peak, by more than 16 MiB), asks malloc to give the freed
  // pages back: otherwise the node keeps its flood-time resident size.
  void trim_after_drain(uint64_t held) REQUIRES(rt_.poll_mu_) {
    uint64_t& peak = rt_.held_peak_bytes_;
    peak = std::max(peak, held);
    if (peak - held > (16u << 20) && held < peak / 2) {
      message_pool::trim();
      malloc_trim(0);
      peak = held;
    }
  }

  void report_memory(const ProcessWalk& w, const std::vector<TableInfo>& tables) REQUIRES(rt_.poll_mu_) {
    uint64_t tables_bytes = 0;
    for (const TableInfo& t : tables) tables_bytes += t.memory_bytes;
    trim_after_drain(w.heap_bytes + w.mailbox_bytes);
    const uint64_t total = resident_bytes();
    const uint64_t accounted = w.heap_bytes + w.mailbox_bytes + tables_bytes;
    // Freed memory malloc keeps for reuse (part of what stays resident).
    const uint64_t allocator_free = std::min<uint64_t>(mallinfo2().fordblks, total > accounted ? total - accounted : 0);
    const std::pair<const char*, uint64_t> kinds[] = {
        {"total", total},
        {"processes", w.heap_bytes},
        {"mailboxes", w.mailbox_bytes},
        {"tables", tables_bytes},
        {"allocator_free", allocator_free},
        {"system", total > accounted + allocator_free ? total - accounted - allocator_free : 0}};
    for (auto& [kind, bytes] : kinds)
      bus_.execute(*ev_.vm_memory, {{"bytes", static_cast<double>(bytes)}}, {{"kind", kind}});
  }

  // Schedulers: utilization over the interval since the last round.
  void report_schedulers() REQUIRES(rt_.poll_mu_) {
    const std::vector<SchedulerStats> now_stats = rt_.schedulers_.stats();
    uint64_t total_queue = 0;
    for (const SchedulerStats& s : now_stats) {
      const std::string id = std::to_string(s.id);
      total_queue += s.run_queue_length;
      bus_.execute(*ev_.vm_run_queue, {{"length", static_cast<double>(s.run_queue_length)}}, {{"scheduler", id}});
      const double u = s.id < rt_.last_poll_stats_.size()
                           ? utilization(rt_.last_poll_stats_[s.id], s)
                           : (s.wall_ns ? static_cast<double>(s.busy_ns) / s.wall_ns : 0.0);
      bus_.execute(*ev_.scheduler_utilization,
                   {{"utilization", u},
                    {"busy_seconds", s.busy_ns / 1e9},
                    {"steals", static_cast<double>(s.steals)},
                    {"steal_attempts", static_cast<double>(s.steal_attempts)},
                    {"exhausted_slices", static_cast<double>(s.exhausted_slices)}},
                   {{"scheduler", id}});
    }
    bus_.execute(*ev_.vm_run_queue, {{"total", static_cast<double>(total_queue)}});
    rt_.last_poll_stats_ = now_stats;
  }

  void report_supervisors() {
    for (auto& state : rt_.supervisor_states()) {
      const SupervisorStats s = state->snapshot(now_ns_);
      bus_.execute(*ev_.supervisor_info,
                   {{"restart_budget_remaining", static_cast<double>(s.restart_budget_remaining)},
                    {"restarts", static_cast<double>(s.restarts_total)},
                    {"intensity_exceeded", static_cast<double>(s.intensity_exceeded)},
                    {"children", static_cast<double>(s.children.size())}},
                   {{"supervisor", s.name}});
    }
  }

  // Tables: sizes, and evictions/expiries since the last round as events.
  void report_tables(const std::vector<TableInfo>& tables) REQUIRES(rt_.poll_mu_) {
    std::unordered_map<uint64_t, TableCounters> seen;
    auto& last = rt_.last_table_counters_;
    for (const TableInfo& t : tables) {
      const std::string name = t.name.empty() ? "#" + std::to_string(t.id) : t.name;
      double usage = 0;
      if (t.max_entries > 0) usage = std::max(usage, static_cast<double>(t.size) / static_cast<double>(t.max_entries));
      if (t.max_bytes > 0)
        usage = std::max(usage, static_cast<double>(t.memory_bytes) / static_cast<double>(t.max_bytes));
      bus_.execute(*ev_.table_info,
                   {{"entries", static_cast<double>(t.size)},
                    {"bytes", static_cast<double>(t.memory_bytes)},
                    {"usage_ratio", usage},
                    {"hits", static_cast<double>(t.counters.hits)},
                    {"misses", static_cast<double>(t.counters.misses)}},
                   {{"table", name}, {"policy", canopy::to_string(t.on_full)}});
      const bool first_seen = last.count(t.id) == 0;
      const TableCounters before = first_seen ? TableCounters{} : last[t.id];
      // A new table's eviction reasons (those its bounds allow) and its
      // expirations are series at 0 from the first poll that sees it.
      auto emit_delta = [&](const telemetry::Event& e, uint64_t now, uint64_t then, const char* reason,
                            bool applies = true) {
        if (now <= then && !(first_seen && applies)) return;
        telemetry::Metadata md{{"table", name}};
        if (reason != nullptr) md.set("reason", reason);
        bus_.execute(e, {{"count", static_cast<double>(now > then ? now - then : 0)}}, md);
      };
      emit_delta(*ev_.table_evict, t.counters.evictions_max_entries, before.evictions_max_entries, "max_entries",
                 t.max_entries > 0);
      emit_delta(*ev_.table_evict, t.counters.evictions_max_bytes, before.evictions_max_bytes, "max_bytes",
                 t.max_bytes > 0);
      emit_delta(*ev_.table_expire, t.counters.expiries, before.expiries, nullptr);
      seen[t.id] = t.counters;
    }
    last = std::move(seen);
  }

  // The families computed whole: population snapshots and the poller's own.
  void publish_snapshot(const ProcessWalk& w) {
    std::vector<telemetry::Family> snapshot;
    w.mailboxes.append_families(snapshot);
    w.heaps.append_families(snapshot);
    for (telemetry::Family& f :
         behaviour_families(rt_.behaviour_ids_.names(), w.live_per_behaviour, w.orphans_per_behaviour,
                            rt_.schedulers_.behaviour_cells())) {
      snapshot.push_back(std::move(f));
    }
    snapshot.push_back(single_value_family("canopy_poller_duration_seconds", (mono_ns() - now_ns_) / 1e9));
    snapshot.push_back(
        single_value_family("canopy_poller_failures_total", static_cast<double>(rt_.telemetry_.poller().failures())));
    rt_.telemetry_.set_snapshot(std::move(snapshot));
  }

  Runtime& rt_;
  telemetry::Bus& bus_;
  const RuntimeEvents& ev_;
  const TelemetryOptions& options_;
  const uint32_t now_ms_;
  const uint64_t now_ns_;
};

void Runtime::poll() {
  MutexLock round(&poll_mu_);
  PollRound(*this).run();
}

}  // namespace canopy::detail
