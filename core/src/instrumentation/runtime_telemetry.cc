// Room instrumentation/: what the runtime tells the world. It owns the
// telemetry events the runtime emits, the built-in metric definitions and
// the metric contract (metric_names.cc), and the poller's measurements
// of the whole runtime (runtime_poll.cc). It may use telemetry/ and read
// runtime/ and supervision/ state; the exporters read what it aggregates.
#include "instrumentation/runtime_telemetry.hpp"

#include <spdlog/spdlog.h>

#include "canopy/core/exit_reason.hpp"
#include "canopy/core/info.hpp"
#include "instrumentation/metric_def.hpp"
#include "instrumentation/stage_telemetry.hpp"

namespace canopy::detail {

namespace {
using telemetry::EventName;
using telemetry::MetricDef;
using telemetry::MetricType;

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
      ev({"canopy", "process", "crash"}),
      ev({"canopy", "supervisor", "restart"}),
      ev({"canopy", "supervisor", "intensity_exceeded"}),
      ev({"canopy", "supervisor", "boot_failure"}),
      ev({"canopy", "table", "evict"}),
      ev({"canopy", "table", "expire"}),
      ev({"canopy", "code", "upgrade"}),
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
  // Help and labels come from the metric table (metric_names.cc).
  auto gauge = [&](std::string name, EventName event, std::string m, bool monotonic = false) {
    MetricDef d = def(MetricType::last_value, std::move(name), std::move(event), m);
    d.keep = has(m);
    d.monotonic = monotonic;
    if (!d.tags.empty()) d.stale_after = per_poll;  // every gauge here is fed by the poller
    add(std::move(d));
  };
  auto counter = [&](std::string name, EventName event) {
    add(def(MetricType::counter, std::move(name), std::move(event), ""));
  };
  const EventName counts{"canopy", "vm", "system_counts"};
  const EventName memory{"canopy", "vm", "memory"};
  const EventName util{"canopy", "scheduler", "utilization"};
  const EventName pinfo{"canopy", "process", "info"};
  const EventName tinfo{"canopy", "table", "info"};
  const EventName sinfo{"canopy", "supervisor", "info"};
  constexpr bool monotonic = true;

  // Events.
  counter("canopy_process_spawns_total", {"canopy", "process", "spawn"});
  // Every reason class and every drop reason exists from the first scrape.
  counter("canopy_process_exits_total", {"canopy", "process", "exit"});
  for (ExitKind k :
       {ExitKind::normal, ExitKind::shutdown, ExitKind::kill, ExitKind::killed, ExitKind::noproc, ExitKind::error}) {
    defs.back().initial_series.push_back({std::string(canopy::to_string(k))});
  }
  counter("canopy_messages_dropped_total", {"canopy", "mailbox", "drop"});
  for (size_t r = 0; r < static_cast<size_t>(DropReason::count_); ++r) {
    defs.back().initial_series.push_back({std::string(canopy::to_string(static_cast<DropReason>(r)))});
  }
  counter("canopy_crashes_total", {"canopy", "process", "crash"});
  counter("canopy_long_schedules_total", {"canopy", "process", "long_schedule"});
  counter("canopy_large_heap_total", {"canopy", "process", "large_heap"});
  counter("canopy_mailbox_high_watermark_total", {"canopy", "process", "mailbox", "high"});
  counter("canopy_supervisor_restarts_total", {"canopy", "supervisor", "restart"});
  counter("canopy_supervisor_intensity_exceeded_total", {"canopy", "supervisor", "intensity_exceeded"});
  counter("canopy_boot_failures_total", {"canopy", "supervisor", "boot_failure"});
  // Code upgrades: one event per upgrade, dry run or not.
  counter("canopy_code_upgrades_total", {"canopy", "code", "upgrade"});
  MetricDef upgrade_duration =
      def(MetricType::distribution, "canopy_code_upgrade_duration_seconds", {"canopy", "code", "upgrade"}, "duration");
  upgrade_duration.buckets = {0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10};
  add(std::move(upgrade_duration));
  // The poller emits table evict/expire events with the count since its last round.
  add(def(MetricType::sum, "canopy_table_evictions_total", {"canopy", "table", "evict"}, "count"));
  add(def(MetricType::sum, "canopy_table_expirations_total", {"canopy", "table", "expire"}, "count"));

  // Poller: node-wide.
  gauge("canopy_processes", counts, "process_count");
  gauge("canopy_process_limit", counts, "process_limit");
  gauge("canopy_process_usage_ratio", counts, "process_usage_ratio");
  gauge("canopy_registered_names", counts, "registered_count");
  gauge("canopy_tables", counts, "table_count");
  // canopy_orphan_processes{behaviour}: computed whole by the poller (behaviour_families).
  gauge("canopy_messages_sent_total", counts, "messages_sent", monotonic);
  gauge("canopy_mailbox_messages", counts, "mailbox_messages");
  gauge("canopy_mailbox_oldest_age_seconds", counts, "mailbox_oldest_age_seconds");
  gauge("canopy_memory_bytes", memory, "bytes");
  gauge("canopy_run_queue_length", {"canopy", "vm", "run_queue"}, "length");
  gauge("canopy_scheduler_utilization_ratio", util, "utilization");
  gauge("canopy_scheduler_busy_seconds_total", util, "busy_seconds", monotonic);
  gauge("canopy_scheduler_steals_total", util, "steals", monotonic);
  gauge("canopy_scheduler_steal_attempts_total", util, "steal_attempts", monotonic);
  gauge("canopy_scheduler_exhausted_slices_total", util, "exhausted_slices", monotonic);

  // Poller: per process (registered + top N), per table, per supervisor.
  gauge("canopy_process_mailbox_length", pinfo, "mailbox_length");
  gauge("canopy_process_mailbox_bytes", pinfo, "mailbox_bytes");
  gauge("canopy_process_mailbox_oldest_age_seconds", pinfo, "mailbox_oldest_age_seconds");
  gauge("canopy_process_heap_bytes", pinfo, "heap_bytes");
  gauge("canopy_process_reductions_total", pinfo, "reductions", monotonic);
  gauge("canopy_process_cpu_seconds_total", pinfo, "cpu_seconds", monotonic);
  gauge("canopy_table_entries", tinfo, "entries");
  gauge("canopy_table_memory_bytes", tinfo, "bytes");
  gauge("canopy_table_usage_ratio", tinfo, "usage_ratio");
  gauge("canopy_supervisor_restart_budget_remaining", sinfo, "restart_budget_remaining");

  // Stages (backpressure): canopy_stage_*.
  for (auto& d : stage_metric_defs()) add(std::move(d));

  for (auto& d : defs) {
    const std::string error = metrics_.add(std::move(d));
    if (!error.empty()) logger_->error("built-in metric rejected: {}", error);
  }
}

void RuntimeTelemetry::set_snapshot(std::vector<telemetry::Family> families) {
  MutexLock lock(&snapshot_mu_);
  snapshot_ = std::move(families);
}

std::vector<telemetry::Family> RuntimeTelemetry::collect() const {
  telemetry::FamilyBuilder builder;
  collect_into(builder);
  return std::move(builder.families());
}

void RuntimeTelemetry::collect_into(telemetry::FamilySink& sink) const {
  metrics_.collect_into(sink);
  telemetry::Family failures = builtin_family("canopy_telemetry_handler_failures_total");
  failures.samples.push_back(telemetry::Sample{{}, static_cast<double>(bus_.handler_failures()), {}, 0, 0});
  telemetry::emit(failures, sink);
  MutexLock lock(&snapshot_mu_);
  for (const auto& f : snapshot_) telemetry::emit(f, sink);
}

}  // namespace canopy::detail
