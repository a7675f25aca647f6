// The metric contract (see canopy/core/metric_names.hpp): one row per
// family the runtime exports. The built-in metric definitions
// (runtime_telemetry.cc, stage_telemetry.cc) and the families computed whole
// (runtime_poll.cc) take their help and labels from these rows; a test checks
// every exported family's name, type, help and labels against them. The
// exporter's own families are listed in canopy/exporters/metric_names.hpp.
#include "canopy/core/metric_names.hpp"

#include <algorithm>

#include "instrumentation/metric_def.hpp"

namespace canopy {

const std::vector<MetricName>& metric_names() {
  static const std::vector<MetricName> names = {
      // processes
      // Named so, not canopy_process_count: the _count suffix belongs to histograms.
      {"canopy_processes", "gauge", "Live processes", "", {}},
      {"canopy_process_limit", "gauge", "Maximum number of processes (max_processes)", "", {}},
      {"canopy_process_usage_ratio", "gauge", "Live processes / process limit", "ratio", {}},
      {"canopy_process_spawns_total", "counter", "Processes spawned", "", {}},
      {"canopy_process_exits_total", "counter", "Processes exited, by reason class", "", {"reason"}},
      {"canopy_orphan_processes",
       "gauge",
       "Processes not supervised, linked, monitored or registered, older than the orphan age, by behaviour",
       "",
       {"behaviour"}},
      {"canopy_registered_names", "gauge", "Registered process names and registry keys", "", {}},
      {"canopy_process_mailbox_length",
       "gauge",
       "Messages waiting in a process's mailbox (registered and top-N processes)",
       "",
       {"process"}},
      {"canopy_process_mailbox_bytes",
       "gauge",
       "Bytes waiting in a process's mailbox (registered and top-N processes)",
       "bytes",
       {"process"}},
      {"canopy_process_mailbox_oldest_age_seconds",
       "gauge",
       "Age of the oldest message waiting in a process's mailbox",
       "seconds",
       {"process"}},
      {"canopy_process_heap_bytes",
       "gauge",
       "Heap bytes of a process (registered and top-N processes)",
       "bytes",
       {"process"}},
      {"canopy_process_reductions_total",
       "counter",
       "Reductions of a process (registered and top-N processes)",
       "",
       {"process"}},
      {"canopy_process_cpu_seconds_total",
       "counter",
       "CPU time in a process's handlers (registered and top-N processes)",
       "seconds",
       {"process"}},
      // Snapshots of the whole population, exported as gauges: they fall as
      // well as rise, so not as a histogram, whose _bucket/_count/_sum series
      // rate(), increase() and remote-write read as counters. Named as an
      // OpenMetrics gauge histogram's (_gcount, _gsum) where promtool allows
      // it; the bound label is at_most, as le and _bucket belong to histograms
      // (a query label_replace()s at_most to le for histogram_quantile).
      {"canopy_processes_by_mailbox_length",
       "gauge",
       "Processes with at most at_most messages in their mailbox, now: a snapshot of the population, cumulative by "
       "at_most (+Inf: every process), not a histogram",
       "",
       {"at_most"}},
      {"canopy_processes_by_mailbox_length_gcount",
       "gauge",
       "Processes in the canopy_processes_by_mailbox_length snapshot, now (its at_most=\"+Inf\" value)",
       "",
       {}},
      {"canopy_processes_by_mailbox_length_gsum",
       "gauge",
       "Mailbox lengths summed over the canopy_processes_by_mailbox_length snapshot, now",
       "",
       {}},
      {"canopy_processes_by_heap_bytes",
       "gauge",
       "Processes with a heap of at most at_most bytes, now: a snapshot of the population, cumulative by at_most "
       "(+Inf: every process), not a histogram",
       "",
       {"at_most"}},
      {"canopy_processes_by_heap_bytes_gcount",
       "gauge",
       "Processes in the canopy_processes_by_heap_bytes snapshot, now (its at_most=\"+Inf\" value)",
       "",
       {}},
      {"canopy_processes_by_heap_bytes_gsum",
       "gauge",
       "Heap bytes summed over the canopy_processes_by_heap_bytes snapshot, now",
       "bytes",
       {}},
      {"canopy_long_schedules_total", "counter", "Handler invocations longer than the long_schedule threshold", "", {}},
      {"canopy_large_heap_total", "counter", "Processes crossing the large_heap threshold", "", {}},
      // messages and mailboxes
      {"canopy_messages_sent_total", "counter", "Messages accepted into a mailbox", "", {}},
      {"canopy_messages_dropped_total", "counter", "Messages dropped, by reason", "", {"reason"}},
      {"canopy_mailbox_messages", "gauge", "Messages waiting in all mailboxes", "", {}},
      {"canopy_mailbox_oldest_age_seconds",
       "gauge",
       "Age of the oldest waiting message on the node (head-of-line age)",
       "seconds",
       {}},
      {"canopy_mailbox_high_watermark_total", "counter", "Mailboxes crossing their high watermark", "", {}},
      // behaviours (behaviour_stats.hpp)
      {"canopy_behaviour_processes", "gauge", "Live processes, by behaviour", "", {"behaviour"}},
      {"canopy_behaviour_messages_total", "counter", "Messages handled, by behaviour", "", {"behaviour"}},
      {"canopy_behaviour_mailbox_wait_seconds",
       "histogram",
       "Time from enqueue to handler start (1 message in 64 per scheduler), by behaviour",
       "seconds",
       {"behaviour"}},
      {"canopy_behaviour_processing_seconds",
       "histogram",
       "Handler duration (1 message in 64 per scheduler), by behaviour",
       "seconds",
       {"behaviour"}},
      // schedulers
      {"canopy_scheduler_utilization_ratio",
       "gauge",
       "Busy time / wall time of a scheduler over the last poll interval",
       "ratio",
       {"scheduler"}},
      {"canopy_scheduler_busy_seconds_total",
       "counter",
       "Time a scheduler spent running processes",
       "seconds",
       {"scheduler"}},
      {"canopy_run_queue_length", "gauge", "Runnable processes waiting for a scheduler", "", {"scheduler"}},
      {"canopy_scheduler_steals_total", "counter", "Processes a scheduler stole from others", "", {"scheduler"}},
      {"canopy_scheduler_steal_attempts_total",
       "counter",
       "Times a scheduler went looking for work to steal",
       "",
       {"scheduler"}},
      {"canopy_scheduler_exhausted_slices_total",
       "counter",
       "Slices that used up their reduction budget",
       "",
       {"scheduler"}},
      // memory
      {"canopy_memory_bytes",
       "gauge",
       "Memory by kind: total (resident), processes, mailboxes, tables, allocator_free (freed memory malloc keeps for "
       "reuse), system",
       "bytes",
       {"kind"}},
      // tables
      {"canopy_tables", "gauge", "Tables", "", {}},
      {"canopy_table_entries", "gauge", "Entries in a table", "", {"table"}},
      {"canopy_table_memory_bytes", "gauge", "Bytes held by a table", "bytes", {"table"}},
      {"canopy_table_usage_ratio",
       "gauge",
       "Table entries / max_entries or bytes / max_bytes, whichever is closer to its bound; policy: what a write "
       "at the bound does (reject, evict_oldest, evict_lru)",
       "ratio",
       {"table", "policy"}},
      {"canopy_table_evictions_total", "counter", "Entries evicted from a table, by reason", "", {"table", "reason"}},
      {"canopy_table_expirations_total", "counter", "Entries expired from a table", "", {"table"}},
      {"canopy_crashes_total",
       "counter",
       "Process crashes (an exception escaped a handler or terminate()), by behaviour; the last ones are at "
       "/api/v1/crashes",
       "",
       {"behaviour"}},
      // supervision
      {"canopy_supervisor_restarts_total",
       "counter",
       "Child restarts, by supervisor and child",
       "",
       {"supervisor", "child"}},
      {"canopy_supervisor_restart_budget_remaining",
       "gauge",
       "Restarts a supervisor may still make in its current period",
       "",
       {"supervisor"}},
      {"canopy_supervisor_intensity_exceeded_total",
       "counter",
       "Times a supervisor gave up (restart intensity exceeded)",
       "",
       {"supervisor"}},
      {"canopy_boot_failures_total", "counter", "Children that failed to start during boot, by child", "", {"child"}},
      // code upgrades
      {"canopy_code_upgrades_total",
       "counter",
       "Code upgrades by module and result (committed, rolled_back, dry_run_ok, dry_run_failed)",
       "",
       {"module", "result"}},
      {"canopy_code_upgrade_duration_seconds",
       "histogram",
       "Wall time of a code upgrade, load to resume",
       "seconds",
       {"module"}},
      {"canopy_module_info", "gauge", "A loaded module version (1 per version)", "", {"module", "version"}},
      // stages (backpressure)
      {"canopy_stage_events_in_total",
       "counter",
       "Events a stage received (consumers) or emitted (producers)",
       "",
       {"stage"}},
      {"canopy_stage_events_out_total",
       "counter",
       "Events a stage sent downstream (producers) or handled (consumers)",
       "",
       {"stage"}},
      {"canopy_stage_dropped_total",
       "counter",
       "Events a producer's buffer dropped or refused, by reason",
       "",
       {"stage", "reason"}},
      {"canopy_stage_acks_total", "counter", "Events acknowledged by consumers after processing", "", {"stage"}},
      {"canopy_stage_redeliveries_total",
       "counter",
       "Unacknowledged events put back for redelivery after their consumer exited",
       "",
       {"stage"}},
      {"canopy_stage_failed_events_total",
       "counter",
       "Events whose handler threw (reported with the reason in the event)",
       "",
       {"stage"}},
      {"canopy_stage_demand_outstanding",
       "gauge",
       "Demand asked by a stage's consumers and not yet met (consumers: asked upstream)",
       "",
       {"stage"}},
      {"canopy_stage_buffer_length", "gauge", "Events waiting in a stage's buffer for demand", "", {"stage"}},
      {"canopy_stage_processing_duration_seconds",
       "histogram",
       "Time a consumer spent handling one batch of events",
       "seconds",
       {"stage"}},
      // the telemetry layer itself
      {"canopy_telemetry_series_dropped_total",
       "counter",
       "Values that went to a metric's overflow series because it reached its series cap",
       "",
       {"metric"}},
      {"canopy_telemetry_handler_failures_total", "counter", "Telemetry handlers detached because they threw", "", {}},
      {"canopy_poller_duration_seconds", "gauge", "Wall time of the last poller round", "seconds", {}},
      {"canopy_poller_failures_total", "counter", "Poller measurements that threw", "", {}},
  };
  return names;
}

bool is_known_metric(const std::string& name) { return detail::builtin_metric(name) != nullptr; }

telemetry::Family empty_family(const MetricName& m) {
  telemetry::Family f;
  f.name = m.name;
  f.help = m.help;
  const std::string type = m.type;
  f.type = type == "counter"     ? telemetry::FamilyType::counter
           : type == "histogram" ? telemetry::FamilyType::histogram
           : type == "summary"   ? telemetry::FamilyType::summary
                                 : telemetry::FamilyType::gauge;
  return f;
}

namespace detail {

const MetricName* builtin_metric(std::string_view name) {
  const auto& names = metric_names();
  auto it = std::find_if(names.begin(), names.end(), [&](const MetricName& m) { return name == m.name; });
  return it == names.end() ? nullptr : &*it;
}

telemetry::Family builtin_family(std::string_view name) {
  if (const MetricName* m = builtin_metric(name)) return empty_family(*m);
  telemetry::Family f;  // not in the table: the contract test names it
  f.name = std::string(name);
  return f;
}

}  // namespace detail

}  // namespace canopy
