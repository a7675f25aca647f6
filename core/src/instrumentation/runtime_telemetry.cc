// Room instrumentation/: what the runtime tells the world. It owns the
// telemetry events the runtime emits, the built-in metric definitions and
// the metric-name contract (metric_names.cc), and the poller's measurements
// of the whole runtime (runtime_poll.cc). It may use telemetry/ and read
// runtime/ and supervision/ state; the exporters read what it aggregates.
#include "instrumentation/runtime_telemetry.hpp"

#include <spdlog/spdlog.h>

#include "instrumentation/metric_def.hpp"
#include "instrumentation/stage_telemetry.hpp"

namespace canopy::detail {

namespace {
using telemetry::EventName;
using telemetry::MetricDef;
using telemetry::MetricType;
using telemetry::Unit;

constexpr auto def = metric_def;
constexpr auto has = has_measurement;
}  // namespace

RuntimeTelemetry::RuntimeTelemetry(const TelemetryOptions& options, std::shared_ptr<spdlog::logger> logger)
    : options_(options), logger_(logger), bus_(logger), metrics_(bus_), poller_(options.poll_interval, logger) {
  auto ev = [this](EventName n) { return &bus_.event(n); };
  events_ = RuntimeEvents{
      ev({"canopy", "process", "spawn"}),
      ev({"canopy", "process", "exit"}),
      ev({"canopy", "process", "mailbox", "high"}),
      ev({"canopy", "process", "mailbox", "low"}),
      ev({"canopy", "process", "long_schedule"}),
      ev({"canopy", "process", "large_heap"}),
      ev({"canopy", "mailbox", "drop"}),
      ev({"canopy", "supervisor", "restart"}),
      ev({"canopy", "supervisor", "intensity_exceeded"}),
      ev({"canopy", "supervisor", "boot_failure"}),
      ev({"canopy", "table", "evict"}),
      ev({"canopy", "table", "expire"}),
      ev({"canopy", "vm", "memory"}),
      ev({"canopy", "vm", "run_queue"}),
      ev({"canopy", "vm", "system_counts"}),
      ev({"canopy", "scheduler", "utilization"}),
      ev({"canopy", "process", "info"}),
      ev({"canopy", "table", "info"}),
      ev({"canopy", "supervisor", "info"}),
  };
  if (options_.enabled) add_builtin_metrics();
}

void RuntimeTelemetry::add_builtin_metrics() {
  const auto per_poll = std::chrono::milliseconds(options_.poll_interval.count() * 5 / 2);
  std::vector<MetricDef> defs;
  auto add = [&](MetricDef d) {
    d.max_series = options_.max_series_per_metric;
    defs.push_back(std::move(d));
  };
  auto gauge = [&](std::string name, EventName event, std::string m, std::vector<std::string> tags, std::string help,
                   bool monotonic = false, bool poller_fed = true) {
    MetricDef d = def(MetricType::last_value, std::move(name), std::move(event), m, std::move(tags), std::move(help));
    d.keep = has(m);
    d.monotonic = monotonic;
    if (poller_fed && !d.tags.empty()) d.stale_after = per_poll;
    add(std::move(d));
  };
  auto counter = [&](std::string name, EventName event, std::vector<std::string> tags, std::string help) {
    add(def(MetricType::counter, std::move(name), std::move(event), "", std::move(tags), std::move(help)));
  };
  const EventName counts{"canopy", "vm", "system_counts"};
  const EventName memory{"canopy", "vm", "memory"};
  const EventName util{"canopy", "scheduler", "utilization"};
  const EventName pinfo{"canopy", "process", "info"};
  const EventName tinfo{"canopy", "table", "info"};
  const EventName sinfo{"canopy", "supervisor", "info"};

  // Events.
  counter("canopy_process_spawns_total", {"canopy", "process", "spawn"}, {}, "Processes spawned");
  counter("canopy_process_exits_total", {"canopy", "process", "exit"}, {"reason"}, "Processes exited, by reason class");
  counter("canopy_messages_dropped_total", {"canopy", "mailbox", "drop"}, {"reason"}, "Messages dropped, by reason");
  counter("canopy_long_schedules_total", {"canopy", "process", "long_schedule"}, {},
          "Handler invocations longer than the long_schedule threshold");
  counter("canopy_large_heap_total", {"canopy", "process", "large_heap"}, {}, "Processes crossing the large_heap threshold");
  counter("canopy_mailbox_high_watermark_total", {"canopy", "process", "mailbox", "high"}, {},
          "Mailboxes crossing their high watermark");
  counter("canopy_supervisor_restarts_total", {"canopy", "supervisor", "restart"}, {"supervisor", "child"},
          "Child restarts, by supervisor and child");
  counter("canopy_supervisor_intensity_exceeded_total", {"canopy", "supervisor", "intensity_exceeded"}, {"supervisor"},
          "Times a supervisor gave up (restart intensity exceeded)");
  counter("canopy_boot_failures_total", {"canopy", "supervisor", "boot_failure"}, {"child"},
          "Children that failed to start during boot, by child");
  // The poller emits table evict/expire events with the count since its last round.
  add(def(MetricType::sum, "canopy_table_evictions_total", {"canopy", "table", "evict"}, "count", {"table", "reason"},
          "Entries evicted from a table, by reason"));
  add(def(MetricType::sum, "canopy_table_expirations_total", {"canopy", "table", "expire"}, "count", {"table"},
          "Entries expired from a table"));

  // Poller: node-wide.
  gauge("canopy_processes", counts, "process_count", {}, "Live processes");
  gauge("canopy_process_limit", counts, "process_limit", {}, "Maximum number of processes (max_processes)");
  gauge("canopy_process_usage_ratio", counts, "process_usage_ratio", {}, "Live processes / process limit");
  gauge("canopy_registered_names", counts, "registered_count", {}, "Registered process names and registry keys");
  gauge("canopy_tables", counts, "table_count", {}, "Tables");
  gauge("canopy_orphan_processes", counts, "orphan_count", {},
        "Processes not supervised, linked, monitored or registered, older than the orphan age");
  gauge("canopy_messages_sent_total", counts, "messages_sent", {}, "Messages accepted into a mailbox", true);
  gauge("canopy_mailbox_messages", counts, "mailbox_messages", {}, "Messages waiting in all mailboxes");
  gauge("canopy_mailbox_oldest_age_seconds", counts, "mailbox_oldest_age_seconds", {},
        "Age of the oldest waiting message on the node (head-of-line age)");
  gauge("canopy_memory_bytes", memory, "bytes", {"kind"}, "Memory by kind: total (resident), processes, mailboxes, tables, system");
  gauge("canopy_run_queue_length", {"canopy", "vm", "run_queue"}, "length", {"scheduler"},
        "Runnable processes waiting for a scheduler");
  gauge("canopy_scheduler_utilization_ratio", util, "utilization", {"scheduler"},
        "Busy time / wall time of a scheduler over the last poll interval");
  gauge("canopy_scheduler_busy_seconds_total", util, "busy_seconds", {"scheduler"}, "Time a scheduler spent running processes", true);
  gauge("canopy_scheduler_steals_total", util, "steals", {"scheduler"}, "Processes a scheduler stole from others", true);
  gauge("canopy_scheduler_steal_attempts_total", util, "steal_attempts", {"scheduler"},
        "Times a scheduler went looking for work to steal", true);
  gauge("canopy_scheduler_exhausted_slices_total", util, "exhausted_slices", {"scheduler"},
        "Slices that used up their reduction budget", true);

  // Poller: per process (registered + top N), per table, per supervisor.
  gauge("canopy_process_mailbox_length", pinfo, "mailbox_length", {"process"},
        "Messages waiting in a process's mailbox (registered and top-N processes)");
  gauge("canopy_process_mailbox_bytes", pinfo, "mailbox_bytes", {"process"},
        "Bytes waiting in a process's mailbox (registered and top-N processes)");
  gauge("canopy_process_mailbox_oldest_age_seconds", pinfo, "mailbox_oldest_age_seconds", {"process"},
        "Age of the oldest message waiting in a process's mailbox");
  gauge("canopy_process_heap_bytes", pinfo, "heap_bytes", {"process"}, "Heap bytes of a process (registered and top-N processes)");
  gauge("canopy_process_reductions_total", pinfo, "reductions", {"process"},
        "Reductions of a process (registered and top-N processes)", true);
  gauge("canopy_process_cpu_seconds_total", pinfo, "cpu_seconds", {"process"},
        "CPU time in a process's handlers (registered and top-N processes)", true);
  gauge("canopy_table_entries", tinfo, "entries", {"table"}, "Entries in a table");
  gauge("canopy_table_memory_bytes", tinfo, "bytes", {"table"}, "Bytes held by a table");
  gauge("canopy_table_usage_ratio", tinfo, "usage_ratio", {"table"},
        "Table entries / max_entries or bytes / max_bytes, whichever is closer to its bound");
  gauge("canopy_supervisor_restart_budget_remaining", sinfo, "restart_budget_remaining", {"supervisor"},
        "Restarts a supervisor may still make in its current period");

  // Stages (backpressure): canopy_stage_*.
  for (auto& d : stage_metric_defs()) add(std::move(d));

  for (auto& d : defs) {
    const std::string error = metrics_.add(std::move(d));
    if (!error.empty()) logger_->error("built-in metric rejected: {}", error);
  }
}

void RuntimeTelemetry::set_snapshot(std::vector<telemetry::Family> families) {
  std::lock_guard lock(snapshot_mu_);
  snapshot_ = std::move(families);
}

std::vector<telemetry::Family> RuntimeTelemetry::collect() const {
  std::vector<telemetry::Family> out = metrics_.collect();
  telemetry::Family failures;
  failures.name = "canopy_telemetry_handler_failures_total";
  failures.help = "Telemetry handlers detached because they threw";
  failures.type = telemetry::FamilyType::counter;
  failures.samples.push_back(telemetry::Sample{{}, static_cast<double>(bus_.handler_failures()), {}, 0, 0});
  out.push_back(std::move(failures));
  std::lock_guard lock(snapshot_mu_);
  out.insert(out.end(), snapshot_.begin(), snapshot_.end());
  return out;
}

}  // namespace canopy::detail
