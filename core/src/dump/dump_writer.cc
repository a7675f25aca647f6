// The dump's text (format: canopy/core/dump.hpp). Sections in order: the
// header, memory, schedulers, supervisors, tables, processes (a row each,
// read one process at a time under that process's own lock only), crash
// reports, the log tail, =end.
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <fstream>
#include <unordered_map>
#include <unordered_set>

#include "canopy/core/table.hpp"
#include "dump/dumps.hpp"
#include "dump/format.hpp"
#include "runtime/cycle_clock.hpp"
#include "runtime/process.hpp"
#include "runtime/runtime_impl.hpp"
#include "supervision/supervisor_state.hpp"

namespace canopy::detail {

namespace {

using dump_format::escape_into;

// A buffered writer over the sink; remembers the first failure.
class Text {
 public:
  explicit Text(DumpSink& sink) : sink_(sink) { buf_.reserve(kFlushAt + 4096); }
  ~Text() = default;
  Text(const Text&) = delete;
  Text& operator=(const Text&) = delete;

  void raw(std::string_view s) {
    buf_ += s;
    maybe_flush();
  }
  void value(std::string_view v) { escape_into(buf_, v); }
  void num(uint64_t v) {
    char tmp[24];
    auto r = std::to_chars(tmp, tmp + sizeof(tmp), v);
    buf_.append(tmp, r.ptr);
  }
  void real(double v) {
    char tmp[32];
    const int n = std::snprintf(tmp, sizeof(tmp), "%.3f", v);
    buf_.append(tmp, static_cast<size_t>(n > 0 ? n : 0));
  }
  void pid(Pid p) {
    if (!p.valid()) return;
    buf_ += "<0.";
    num(p.index());
    buf_ += '.';
    num(p.generation());
    buf_ += '>';
  }
  void section(std::string_view name) {
    buf_ += '=';
    buf_ += name;
    buf_ += '\n';
    maybe_flush();
  }
  template <typename F>
  void kv(std::string_view key, F&& put) {
    buf_ += key;
    buf_ += ": ";
    put();
    buf_ += '\n';
    maybe_flush();
  }
  void kv_str(std::string_view key, std::string_view v) {
    kv(key, [&] { value(v); });
  }
  void kv_num(std::string_view key, uint64_t v) {
    kv(key, [&] { num(v); });
  }
  void tab() { buf_ += '\t'; }
  void end_line() {
    buf_ += '\n';
    maybe_flush();
  }
  bool finish() {
    flush();
    return ok_;
  }
  uint64_t bytes() const { return written_ + buf_.size(); }

 private:
  static constexpr size_t kFlushAt = 1 << 20;
  void maybe_flush() {
    if (buf_.size() >= kFlushAt) flush();
  }
  void flush() {
    if (ok_ && !buf_.empty()) ok_ = sink_.write(buf_.data(), buf_.size());
    written_ += buf_.size();
    buf_.clear();
  }
  DumpSink& sink_;
  std::string buf_;
  uint64_t written_ = 0;
  bool ok_ = true;
};

std::string iso_time(std::chrono::system_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const time_t secs = static_cast<time_t>(ms / 1000);
  tm parts{};
  gmtime_r(&secs, &parts);
  char out[64];
  std::snprintf(out, sizeof(out), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900, parts.tm_mon + 1,
                parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec, static_cast<int>(ms % 1000));
  return out;
}

uint64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

// Names by type, demangled once per dump.
class TypeNames {
 public:
  const std::string& of(const std::type_info* t) {
    static const std::string none;
    if (t == nullptr) return none;
    auto it = names_.find(t);
    if (it != names_.end()) return it->second;
    return names_.emplace(t, type_name(*t)).first->second;
  }

 private:
  std::unordered_map<const std::type_info*, std::string> names_;
};

struct Totals {
  uint64_t processes = 0;
  uint64_t heap = 0;
  uint64_t mailbox_bytes = 0;
  uint64_t mailbox_messages = 0;
};

void write_header(Text& o, Runtime& rt, const std::string& slogan, const std::string& version) {
  o.section("canopy_dump:1");
  o.kv_str("slogan", slogan);
  o.kv_str("kind", "full");
  o.kv_str("time", iso_time(std::chrono::system_clock::now()));
  o.kv_str("canopy_version", version);
  o.kv("uptime_s", [&] { o.real(static_cast<double>(mono_ns() - rt.start_ns()) / 1e9); });
  o.kv_num("os_pid", static_cast<uint64_t>(::getpid()));
  const RuntimeStats s = rt.stats_without_scan();
  o.kv_num("processes", s.processes);
  o.kv_num("process_limit", s.process_limit);
  o.kv_num("spawned", s.spawned);
  o.kv_num("crashed", s.crashed);
  o.kv_num("supervisor_restarts", s.supervisor_restarts);
}

void write_schedulers(Text& o, Runtime& rt) {
  const std::vector<SchedulerStats> stats = rt.scheduler_stats();
  const std::vector<const RunningSlot*> slots = rt.running_slots();
  const BehaviourIds& ids = rt.behaviour_ids();
  for (size_t i = 0; i < stats.size(); ++i) {
    const SchedulerStats& s = stats[i];
    std::string id = "scheduler:" + std::to_string(s.id);
    o.section(id);
    const uint64_t pid = i < slots.size() ? slots[i]->pid.load(std::memory_order_relaxed) : 0;
    o.kv_str("state", pid != 0 ? "running" : "idle");
    o.kv("utilization", [&] {
      o.real(s.wall_ns == 0 ? 0.0 : static_cast<double>(s.busy_ns) / static_cast<double>(s.wall_ns));
    });
    o.kv_num("run_queue", s.run_queue_length);
    o.kv_num("slices", s.slices);
    o.kv_num("exhausted_slices", s.exhausted_slices);
    o.kv_num("steals", s.steals);
    if (pid != 0) {
      o.kv("running_pid", [&] { o.pid(Pid::from_raw(pid)); });
      o.kv_str("running_behaviour", ids.fixed_name(slots[i]->behaviour.load(std::memory_order_relaxed)));
    }
  }
}

// One row per process, each read under its own meta lock only.
Totals write_processes(Text& o, Runtime& rt, const std::unordered_set<Pid>& supervisors) {
  o.section("processes");
  o.kv("columns", [&] {
    for (size_t i = 0; i < dump_format::kProcessColumns.size(); ++i) {
      if (i) o.tab();
      o.raw(dump_format::kProcessColumns[i]);
    }
  });
  Totals t;
  TypeNames types;
  const std::vector<std::string> behaviour_names = rt.behaviour_ids().names();
  const uint32_t now_ms = rt.now_ms();
  std::string name;
  std::vector<Pid> links, monitors;
  rt.for_each_process([&](const Process& p) {
    const uint64_t length = p.mailbox.length();
    const uint64_t bytes = p.mailbox.bytes();
    const uint64_t heap = p.heap_bytes();
    double oldest = 0;
    if (length > 0) {
      const uint32_t stamp = p.mailbox.oldest_stamp();
      oldest = now_ms > stamp ? (now_ms - stamp) / 1000.0 : 0.0;
    }
    name.clear();
    links.clear();
    monitors.clear();
    {
      SpinLockGuard lock(&p.meta_lock);
      if (p.meta) {
        name = p.meta->name;
        links = p.meta->links;
        for (const auto& m : p.meta->monitoring) monitors.push_back(m.second);
      }
    }
    ++t.processes;
    t.heap += heap;
    t.mailbox_bytes += bytes;
    t.mailbox_messages += length;
    o.pid(p.pid);
    o.tab();
    o.value(name);
    o.tab();
    o.value(p.behaviour_id != 0 && p.behaviour_id < behaviour_names.size() ? behaviour_names[p.behaviour_id]
                                                                           : types.of(&p.behaviour_type));
    o.tab();
    o.raw(to_string(static_cast<ProcessStatus>(p.status.load(std::memory_order_relaxed))));
    o.tab();
    o.num(length);
    o.tab();
    o.num(bytes);
    o.tab();
    o.real(oldest);
    o.tab();
    o.num(heap);
    o.tab();
    o.num(p.reductions.load(std::memory_order_relaxed));
    o.tab();
    o.num(cycles_to_ns(p.cpu_cycles.load(std::memory_order_relaxed)));
    o.tab();
    for (size_t i = 0; i < links.size(); ++i) {
      if (i) o.raw(",");
      o.pid(links[i]);
    }
    o.tab();
    for (size_t i = 0; i < monitors.size(); ++i) {
      if (i) o.raw(",");
      o.pid(monitors[i]);
    }
    o.tab();
    if (supervisors.count(p.parent)) o.pid(p.parent);
    o.tab();
    o.value(types.of(p.current_type.load(std::memory_order_relaxed)));
    o.tab();
    o.num(p.dropped.load(std::memory_order_relaxed));
    o.end_line();
  });
  return t;
}

void write_supervisors(Text& o, const std::vector<std::shared_ptr<SupervisorState>>& states) {
  constexpr size_t kChildrenListed = 100;
  const uint64_t now = mono_ns();
  for (const auto& state : states) {
    const SupervisorStats s = state->snapshot(now);
    o.section("supervisor:" + s.pid.to_string());
    o.kv_str("name", s.name);
    o.kv_str("strategy", to_string(s.strategy));
    o.kv_num("intensity", state->flags().intensity);
    o.kv_num("period_ms", static_cast<uint64_t>(state->flags().period.count()));
    o.kv_num("restarts", s.restarts_total);
    o.kv_num("intensity_exceeded", s.intensity_exceeded);
    o.kv_num("restart_budget_remaining", s.restart_budget_remaining);
    o.kv_num("children", s.children.size());
    for (size_t i = 0; i < s.children.size() && i < kChildrenListed; ++i) {
      const ChildInfo& c = s.children[i];
      // child: ID PID STATE RESTARTS (tab-separated; the id may hold spaces)
      o.kv("child", [&] {
        o.value(c.id);
        o.tab();
        o.pid(c.pid);
        o.tab();
        o.raw(to_string(c.state));
        o.tab();
        o.num(c.restarts);
        o.tab();
        o.value(c.last_exit_reason);
      });
    }
    if (s.children.size() > kChildrenListed) o.kv_num("children_not_listed", s.children.size() - kChildrenListed);
  }
}

uint64_t write_tables(Text& o, const std::vector<TableInfo>& tables) {
  uint64_t bytes = 0;
  for (const TableInfo& t : tables) {
    bytes += t.memory_bytes;
    o.section("table:" + std::to_string(t.id));
    o.kv_str("name", t.name);
    o.kv("owner", [&] { o.pid(t.owner); });
    o.kv_str("kind", to_string(t.kind));
    o.kv_num("entries", t.size);
    o.kv_num("memory_bytes", t.memory_bytes);
    o.kv_num("max_entries", t.max_entries);
    o.kv_num("max_bytes", t.max_bytes);
    o.kv_str("on_full", to_string(t.on_full));
    o.kv_num("evictions", t.counters.evictions());
  }
  return bytes;
}

void write_crash_reports(Text& o, const std::vector<CrashReport>& reports) {
  for (const CrashReport& r : reports) {
    o.section("crash_report:" + std::to_string(r.seq));
    o.kv_str("time", iso_time(r.time));
    o.kv("pid", [&] { o.pid(r.pid); });
    o.kv_str("name", r.registered_name);
    o.kv_str("behaviour", r.behaviour);
    std::string chain;
    for (const auto& s : r.supervisors) chain += (chain.empty() ? "" : " < ") + s;
    o.kv_str("supervisors", chain);
    o.kv_str("application", r.application);
    o.kv_str("hook", r.hook);
    o.kv_str("last_message_type", r.last_message_type);
    o.kv_str("reason", r.reason);
    o.kv_str("supervisor_action", to_string(r.action));
    o.kv("restarted_as", [&] { o.pid(r.restarted_as); });
  }
}

}  // namespace

Result<uint64_t> write_dump_to(Runtime& rt, const std::string& slogan, const std::string& version,
                               const std::vector<std::string>& log_tail, DumpSink& sink) {
  Text o(sink);
  write_header(o, rt, slogan, version);
  const std::vector<std::shared_ptr<SupervisorState>> states = rt.supervisor_states();
  std::unordered_set<Pid> supervisor_pids;
  for (const auto& s : states) supervisor_pids.insert(s->snapshot(0).pid);
  const std::vector<TableInfo> tables = canopy::tables(rt.facade());
  uint64_t table_bytes = 0;
  for (const TableInfo& t : tables) table_bytes += t.memory_bytes;
  // Memory by kind, from a quick pass of its own (a few atomic loads a
  // process), so a reader meets it before the long process table.
  Totals totals;
  rt.for_each_process([&](const Process& p) {
    totals.heap += p.heap_bytes();
    totals.mailbox_bytes += p.mailbox.bytes();
    totals.mailbox_messages += p.mailbox.length();
  });
  o.section("memory");
  o.kv_num("total", resident_bytes());
  o.kv_num("processes", totals.heap);
  o.kv_num("mailboxes", totals.mailbox_bytes);
  o.kv_num("tables", table_bytes);
  o.kv_num("mailbox_messages", totals.mailbox_messages);
  write_schedulers(o, rt);
  write_supervisors(o, states);
  write_tables(o, tables);
  (void)write_processes(o, rt, supervisor_pids);
  write_crash_reports(o, rt.dumps().crashes().list(CrashQuery{SIZE_MAX, ""}));
  if (!log_tail.empty()) {
    o.section("log");
    for (const std::string& line : log_tail) {
      o.value(line);
      o.end_line();
    }
  }
  o.raw("=end\n");
  const uint64_t bytes = o.bytes();
  if (!o.finish()) return Error(Errc::io_error, "writing the dump failed");
  return bytes;
}

}  // namespace canopy::detail
