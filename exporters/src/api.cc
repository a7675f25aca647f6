#include "api.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cctype>
#include <functional>
#include <iterator>
#include <string_view>

#include "canopy/core/crash.hpp"
#include "canopy/core/dump.hpp"
#include "canopy/core/runtime.hpp"
#include "canopy/exporters/exposition.hpp"
#include "canopy/exporters/json.hpp"

namespace canopy::exporters::api {

namespace {

Pid parse_pid(const std::string& text) { return Pid::parse(text); }

Reply error(int status, const std::string& message) { return Reply{status, json_error(message)}; }

// The members of a process's object (the caller opens and closes it).
void write_process_fields(JsonWriter& j, const ProcessInfo& p, bool full) {
  j.field("pid", p.pid.to_string());
  j.field("name", p.registered_name);
  j.field("behaviour", p.behaviour);
  j.field("status", to_string(p.status));
  j.field("mailbox_length", p.mailbox_length);
  j.field("mailbox_bytes", p.mailbox_bytes);
  j.field("mailbox_oldest_age_seconds", p.mailbox_oldest_age_seconds);
  j.field("mailbox_overloaded", p.mailbox_overloaded);
  j.field("heap_bytes", p.heap_bytes);
  j.field("reductions", p.reductions);
  j.field("cpu_seconds", static_cast<double>(p.cpu_ns) / 1e9);
  j.field("reductions_per_second", p.reductions_per_second);
  j.field("cpu_utilization", p.cpu_utilization);
  j.field("age_seconds", p.age_seconds);
  // The module and version it runs (empty when not spawned from a module).
  j.field("module", p.module);
  j.field("module_version", p.module_version);
  if (full) {
    j.field("parent", p.parent.valid() ? p.parent.to_string() : std::string());
    j.field("mailbox_capacity", p.mailbox_capacity);
    j.field("messages_dropped", p.messages_dropped);
    j.field("messages_handled", p.messages_handled);
    j.field("trap_exit", p.trap_exit);
    j.field("traced", p.traced);
    j.field("current_message_type", p.current_message_type);
    auto pids = [&](const char* key, const std::vector<Pid>& v) {
      j.key(key).begin_array();
      for (Pid x : v) j.value(x.to_string());
      j.end_array();
    };
    pids("links", p.links);
    pids("monitored_by", p.monitored_by);
    pids("monitors", p.monitors);
    j.key("registry_keys").begin_array();
    for (const auto& k : p.registry_keys) j.value(k);
    j.end_array();
    j.field("spawned_at_unix_seconds", std::chrono::duration<double>(p.spawned_at.time_since_epoch()).count());
  }
}

void write_process(JsonWriter& j, const ProcessInfo& p, bool full) {
  j.begin_object();
  write_process_fields(j, p, full);
  j.end_object();
}

void write_supervisor(JsonWriter& j, Runtime& rt, Pid pid, int depth) {
  const auto stats = supervisor::stats(rt, pid);
  if (!stats || depth > 64) {
    j.null();
    return;
  }
  j.begin_object();
  j.field("name", stats->name);
  j.field("pid", stats->pid.to_string());
  j.field("strategy", to_string(stats->strategy));
  j.field("restarts", stats->restarts_total);
  j.field("intensity_exceeded", stats->intensity_exceeded);
  j.field("restart_budget_remaining", stats->restart_budget_remaining);
  j.key("children").begin_array();
  for (const ChildInfo& c : stats->children) {
    j.begin_object();
    j.field("id", c.id);
    j.field("pid", c.pid.valid() ? c.pid.to_string() : std::string());
    j.field("type", to_string(c.type));
    j.field("restart", to_string(c.restart));
    j.field("state", to_string(c.state));
    j.field("optional", c.optional);
    j.field("restarts", c.restarts);
    j.field("last_exit_reason", c.last_exit_reason);
    j.field("last_start_error", c.last_start_error);
    if (c.type == ChildType::supervisor && c.pid.valid()) {
      j.key("supervisor");
      write_supervisor(j, rt, c.pid, depth + 1);
    }
    j.end_object();
  }
  j.end_array();
  j.end_object();
}

}  // namespace

std::pair<bool, std::string> readiness(Runtime& rt) {
  const auto r = rt.readiness();
  return {r.ready, r.ready ? "ready" : "not ready: " + r.reason};
}

namespace {

// The ?match= filter: a case-insensitive substring of the registered name or
// of the behaviour's type name.
bool contains_folded(std::string_view haystack, const std::string& lowered_needle) {
  if (lowered_needle.size() > haystack.size()) return false;
  auto fold = [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); };
  return std::search(haystack.begin(), haystack.end(), lowered_needle.begin(), lowered_needle.end(),
                     [&](char a, char b) { return fold(a) == b; }) != haystack.end();
}

}  // namespace

Reply processes(Runtime& rt, const std::map<std::string, std::string>& query) {
  static const std::map<std::string, ProcessRank> kRanks = {
      {"mailbox", ProcessRank::mailbox},
      {"heap", ProcessRank::heap},
      {"reductions", ProcessRank::reductions},
      {"cpu", ProcessRank::cpu},
      // Over the last poll interval (recon's proc_window), not lifetime totals.
      {"reductions_rate", ProcessRank::reductions_rate},
      {"cpu_rate", ProcessRank::cpu_rate},
      // The age of the oldest message waiting in the mailbox.
      {"oldest", ProcessRank::oldest_message},
  };
  for (const auto& [k, v] : query) {
    if (k != "sort" && k != "limit" && k != "prefix" && k != "match") {
      return error(400, "unknown query parameter '" + k + "' (use sort, limit, prefix, match)");
    }
  }
  const std::string sort = query.count("sort") ? query.at("sort") : "mailbox";
  auto rank = kRanks.find(sort);
  if (rank == kRanks.end())
    return error(400, "sort must be mailbox, heap, reductions, cpu, reductions_rate, cpu_rate or oldest, not '" +
                          sort + "'");
  size_t limit = 100;
  if (auto it = query.find("limit"); it != query.end()) {
    char* end = nullptr;
    const unsigned long long n = std::strtoull(it->second.c_str(), &end, 10);
    if (it->second.empty() || *end != '\0' || n == 0 || n > 100'000) {
      return error(400, "limit must be a whole number from 1 to 100000, not '" + it->second + "'");
    }
    limit = static_cast<size_t>(n);
  }
  const std::string prefix = query.count("prefix") ? query.at("prefix") : "";
  std::string match;
  if (auto it = query.find("match"); it != query.end()) {
    const std::string& m = it->second;
    const bool printable =
        std::all_of(m.begin(), m.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f; });
    if (m.empty() || m.size() > 200 || !printable) {
      return error(400, "match must be 1 to 200 printable characters (a part of a name or behaviour), not '" +
                            m.substr(0, 200) + "'");
    }
    std::transform(m.begin(), m.end(), std::back_inserter(match),
                   [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
  }
  std::function<bool(std::string_view, std::string_view)> filter;
  if (!prefix.empty() || !match.empty()) {
    filter = [&](std::string_view name, std::string_view behaviour) {
      if (!prefix.empty() && name.substr(0, prefix.size()) != prefix) return false;
      return match.empty() || contains_folded(name, match) || contains_folded(behaviour, match);
    };
  }
  const TopProcesses top = rt.top_processes(rank->second, limit, filter);
  JsonWriter j;
  j.begin_object();
  j.field("total", top.matched);
  j.field("sort", sort);
  j.key("processes").begin_array();
  for (const ProcessInfo& p : top.processes) write_process(j, p, false);
  j.end_array();
  j.end_object();
  return Reply{200, j.str()};
}

Reply orphans(Runtime& rt, const std::map<std::string, std::string>& query) {
  OrphanAudit audit;
  audit.min_age = rt.options().telemetry.orphan_min_age;
  for (const auto& [k, v] : query) {
    if (k != "min_age_s") return error(400, "unknown query parameter '" + k + "' (use min_age_s)");
    char* end = nullptr;
    const double seconds = std::strtod(v.c_str(), &end);
    if (v.empty() || end != v.c_str() + v.size() || !(seconds >= 0) || seconds > 1e9) {
      return error(400, "min_age_s must be a number of seconds >= 0, not '" + v + "'");
    }
    audit.min_age = std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  }
  const std::vector<ProcessInfo> found = rt.audit_orphans(audit);
  JsonWriter j;
  j.begin_object();
  j.field("total", static_cast<uint64_t>(found.size()));
  j.field("min_age_seconds", static_cast<double>(audit.min_age.count()) / 1000.0);
  j.key("processes").begin_array();
  for (const ProcessInfo& p : found) write_process(j, p, false);
  j.end_array();
  j.end_object();
  return Reply{200, j.str()};
}

Reply process(Runtime& rt, const std::string& pid_text) {
  const Pid pid = parse_pid(pid_text);
  if (!pid.valid())
    return error(400, "'" + pid_text + "' is not a pid (use <0.INDEX.GEN>, 0.INDEX.GEN or the raw number)");
  const auto info = rt.process_info(pid);
  if (!info) return error(404, "no process " + pid.to_string() + " (it exited or never existed)");
  JsonWriter j;
  j.begin_object();
  write_process_fields(j, *info, true);
  // What Runtime::trace logged for it lately (kept after tracing stops).
  j.key("trace_lines").begin_array();
  for (const TraceLine& t : rt.trace_lines(pid)) {
    j.begin_object();
    j.field("at_unix_seconds", std::chrono::duration<double>(t.at.time_since_epoch()).count());
    j.field("text", t.text);
    j.end_object();
  }
  j.end_array();
  j.end_object();
  return Reply{200, j.str()};
}

Reply kill(Runtime& rt, const std::string& pid_text, const std::string& body) {
  const Pid pid = parse_pid(pid_text);
  if (!pid.valid()) return error(400, "'" + pid_text + "' is not a pid");
  const std::string reason = json_string_member(body, "reason").value_or("kill");
  ExitReason r = reason == "kill"       ? ExitReason::kill()
                 : reason == "shutdown" ? ExitReason::shutdown()
                 : reason == "normal"   ? ExitReason::normal()
                                        : ExitReason::error(reason);
  const Status st = rt.exit(pid, r);
  if (!st.ok()) return error(404, st.error().message());
  JsonWriter j;
  j.begin_object().field("pid", pid.to_string()).field("signal", r.to_string()).end_object();
  return Reply{200, j.str()};
}

Reply trace(Runtime& rt, const std::string& pid_text, const std::string& body) {
  const Pid pid = parse_pid(pid_text);
  if (!pid.valid()) return error(400, "'" + pid_text + "' is not a pid");
  const std::optional<bool> on = json_bool_member(body, "on");
  if (!on) return error(400, "trace: send {\"on\": true} or {\"on\": false}");
  const Status st = rt.trace(pid, *on);
  if (!st.ok()) return error(404, st.error().message());
  JsonWriter j;
  j.begin_object().field("pid", pid.to_string()).field("trace", *on).end_object();
  return Reply{200, j.str()};
}

Reply supervision_tree(Runtime& rt) {
  JsonWriter j;
  j.begin_object();
  j.key("applications").begin_array();
  for (const auto& [name, root] : rt.applications()) {
    j.begin_object();
    j.field("name", name);
    j.key("root");
    write_supervisor(j, rt, root, 0);
    j.end_object();
  }
  j.end_array();
  const auto r = rt.readiness();
  j.field("ready", r.ready);
  j.field("reason", r.reason);
  j.end_object();
  return Reply{200, j.str()};
}

Reply schedulers(Runtime& rt) {
  JsonWriter j;
  j.begin_object();
  j.key("schedulers").begin_array();
  for (const SchedulerStats& s : rt.scheduler_stats()) {
    j.begin_object();
    j.field("id", s.id);
    j.field("busy_seconds", static_cast<double>(s.busy_ns) / 1e9);
    j.field("idle_seconds", static_cast<double>(s.idle_ns) / 1e9);
    j.field("utilization_since_start",
            s.wall_ns ? static_cast<double>(s.busy_ns) / static_cast<double>(s.wall_ns) : 0.0);
    j.field("run_queue_length", s.run_queue_length);
    j.field("slices", s.slices);
    j.field("exhausted_slices", s.exhausted_slices);
    j.field("steal_attempts", s.steal_attempts);
    j.field("steals", s.steals);
    j.field("parks", s.parks);
    j.end_object();
  }
  j.end_array();
  j.end_object();
  return Reply{200, j.str()};
}

Reply system(Runtime& rt) {
  const RuntimeStats s = rt.stats();
  JsonWriter j;
  j.begin_object();
  j.field("version", version());
  j.field("uptime_seconds", s.uptime_seconds);
  j.field("process_count", s.processes);
  j.field("process_limit", s.process_limit);
  j.field("spawned", s.spawned);
  j.field("exited", s.exited);
  j.field("crashed", s.crashed);
  j.field("messages_sent", s.messages_sent);
  j.field("mailbox_messages", s.mailbox_messages);
  j.key("messages_dropped").begin_object();
  for (size_t r = 0; r < static_cast<size_t>(DropReason::count_); ++r) {
    j.field(to_string(static_cast<DropReason>(r)), s.dropped[r]);
  }
  j.end_object();
  j.field("long_schedules", s.long_schedules);
  j.field("supervisor_restarts", s.supervisor_restarts);
  j.field("schedulers", static_cast<uint64_t>(rt.scheduler_stats().size()));
  // What the observer highlights: a mailbox at the high watermark, a heap
  // above the system monitor's large-heap size (0: not watched).
  j.key("watermarks").begin_object();
  j.field("mailbox_high", static_cast<uint64_t>(rt.default_mailbox().high_watermark));
  j.field("large_heap_bytes", rt.options().system_monitor.large_heap_bytes);
  j.end_object();
  j.key("memory").begin_object();
  for (const auto& f : rt.collect()) {
    if (f.name != "canopy_memory_bytes") continue;
    for (const auto& sample : f.samples) {
      for (const auto& [k, v] : sample.labels) {
        if (k == "kind") j.field(v, sample.value);
      }
    }
  }
  j.end_object();
  j.end_object();
  return Reply{200, j.str()};
}

Reply crashes(Runtime& rt, const std::map<std::string, std::string>& query) {
  for (const auto& [k, v] : query) {
    if (k != "limit" && k != "behaviour") {
      return error(400, "unknown query parameter '" + k + "' (use limit, behaviour)");
    }
  }
  CrashQuery q;
  if (auto it = query.find("limit"); it != query.end()) {
    char* end = nullptr;
    const unsigned long long n = std::strtoull(it->second.c_str(), &end, 10);
    if (it->second.empty() || *end != '\0' || it->second[0] == '-' || n == 0 || n > 100'000) {
      return error(400, "limit must be a whole number from 1 to 100000, not '" + it->second + "'");
    }
    q.limit = static_cast<size_t>(n);
  }
  if (auto it = query.find("behaviour"); it != query.end()) {
    if (it->second.empty()) return error(400, "behaviour must name a behaviour (the demangled type), not be empty");
    q.behaviour = it->second;
  }
  JsonWriter j;
  j.begin_object();
  j.field("total", crashes_total(rt));
  j.key("crashes").begin_array();
  for (const CrashReport& r : crash_reports(rt, q)) {
    j.begin_object();
    j.field("seq", r.seq);
    j.field("time_unix_seconds", std::chrono::duration<double>(r.time.time_since_epoch()).count());
    j.field("pid", r.pid.to_string());
    j.field("name", r.registered_name);
    j.field("behaviour", r.behaviour);
    j.key("supervisors").begin_array();
    for (const auto& s : r.supervisors) j.value(s);
    j.end_array();
    j.field("application", r.application);
    j.field("hook", r.hook);
    j.field("last_message_type", r.last_message_type);
    j.field("reason", r.reason);
    j.field("supervisor_action", to_string(r.action));
    j.field("restarted_as", r.restarted_as.valid() ? r.restarted_as.to_string() : std::string());
    j.end_object();
  }
  j.end_array();
  j.end_object();
  return Reply{200, j.str()};
}

Reply dump(Runtime& rt, const std::string& body) {
  std::string slogan = "on demand: POST /api/v1/dump";
  const bool blank = body.find_first_not_of(" \t\r\n") == std::string::npos;
  if (!blank) {
    std::optional<std::string> given = json_string_member(body, "slogan");
    if (!given) return error(400, "the body must be empty or a JSON object with a string member \"slogan\"");
    if (given->empty() || given->size() > 1000) return error(400, "slogan must be 1 to 1000 characters");
    slogan = "on demand: " + *given;
  }
  Result<std::string> r = write_dump(rt, slogan);
  if (!r.ok()) return error(500, r.error().message());
  JsonWriter j;
  j.begin_object().field("path", r.value()).field("slogan", slogan).end_object();
  return Reply{200, j.str()};
}

}  // namespace canopy::exporters::api
