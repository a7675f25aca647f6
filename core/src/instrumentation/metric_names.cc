// The metric-name contract (see metric_names.hpp). Families served by the
// exporter itself (process_*, build info, scrape stats) are listed there.
#include "canopy/core/metric_names.hpp"

#include <algorithm>

namespace canopy {

const std::vector<MetricName>& metric_names() {
  static const std::vector<MetricName> names = {
      // processes
      {"canopy_processes", "gauge", "Live processes (named so, not _count: that suffix belongs to histograms)"},
      {"canopy_process_limit", "gauge", "Maximum number of processes (max_processes)"},
      {"canopy_process_usage_ratio", "gauge", "Live processes / process limit"},
      {"canopy_process_spawns_total", "counter", "Processes spawned"},
      {"canopy_process_exits_total", "counter", "Processes exited, by reason class"},
      {"canopy_orphan_processes", "gauge", "Processes not supervised, linked, monitored or registered, older than the orphan age"},
      {"canopy_registered_names", "gauge", "Registered process names and registry keys"},
      {"canopy_process_mailbox_length", "gauge", "Messages waiting in a process's mailbox (registered and top-N processes)"},
      {"canopy_process_mailbox_bytes", "gauge", "Bytes waiting in a process's mailbox (registered and top-N processes)"},
      {"canopy_process_mailbox_oldest_age_seconds", "gauge", "Age of the oldest message waiting in a process's mailbox"},
      {"canopy_process_heap_bytes", "gauge", "Heap bytes of a process (registered and top-N processes)"},
      {"canopy_process_reductions_total", "counter", "Reductions of a process (registered and top-N processes)"},
      {"canopy_process_cpu_seconds_total", "counter", "CPU time in a process's handlers (registered and top-N processes)"},
      {"canopy_processes_by_mailbox_length", "histogram", "Mailbox lengths of all processes, now (a snapshot, not a rate)"},
      {"canopy_processes_by_heap_bytes", "histogram", "Heap sizes of all processes, now (a snapshot, not a rate)"},
      {"canopy_long_schedules_total", "counter", "Handler invocations longer than the long_schedule threshold"},
      {"canopy_large_heap_total", "counter", "Processes crossing the large_heap threshold"},
      // messages and mailboxes
      {"canopy_messages_sent_total", "counter", "Messages accepted into a mailbox"},
      {"canopy_messages_dropped_total", "counter", "Messages dropped, by reason"},
      {"canopy_mailbox_messages", "gauge", "Messages waiting in all mailboxes"},
      {"canopy_mailbox_oldest_age_seconds", "gauge", "Age of the oldest waiting message on the node (head-of-line age)"},
      {"canopy_mailbox_high_watermark_total", "counter", "Mailboxes crossing their high watermark"},
      // schedulers
      {"canopy_scheduler_utilization_ratio", "gauge", "Busy time / wall time of a scheduler over the last poll interval"},
      {"canopy_scheduler_busy_seconds_total", "counter", "Time a scheduler spent running processes"},
      {"canopy_run_queue_length", "gauge", "Runnable processes waiting for a scheduler"},
      {"canopy_scheduler_steals_total", "counter", "Processes a scheduler stole from others"},
      {"canopy_scheduler_steal_attempts_total", "counter", "Times a scheduler went looking for work to steal"},
      {"canopy_scheduler_exhausted_slices_total", "counter", "Slices that used up their reduction budget"},
      // memory
      {"canopy_memory_bytes", "gauge", "Memory by kind: total (resident), processes, mailboxes, tables, system"},
      // tables
      {"canopy_tables", "gauge", "Tables"},
      {"canopy_table_entries", "gauge", "Entries in a table"},
      {"canopy_table_memory_bytes", "gauge", "Bytes held by a table"},
      {"canopy_table_usage_ratio", "gauge", "Table entries / max_entries or bytes / max_bytes, whichever is closer to its bound"},
      {"canopy_table_evictions_total", "counter", "Entries evicted from a table, by reason"},
      {"canopy_table_expirations_total", "counter", "Entries expired from a table"},
      // supervision
      {"canopy_supervisor_restarts_total", "counter", "Child restarts, by supervisor and child"},
      {"canopy_supervisor_restart_budget_remaining", "gauge", "Restarts a supervisor may still make in its current period"},
      {"canopy_supervisor_intensity_exceeded_total", "counter", "Times a supervisor gave up (restart intensity exceeded)"},
      {"canopy_boot_failures_total", "counter", "Children that failed to start during boot, by child"},
      // stages (backpressure)
      {"canopy_stage_events_in_total", "counter", "Events a stage received (consumers) or emitted (producers)"},
      {"canopy_stage_events_out_total", "counter", "Events a stage sent downstream (producers) or handled (consumers)"},
      {"canopy_stage_dropped_total", "counter", "Events a producer's buffer dropped or refused, by reason"},
      {"canopy_stage_acks_total", "counter", "Events acknowledged by consumers after processing"},
      {"canopy_stage_redeliveries_total", "counter", "Unacknowledged events put back for redelivery after their consumer exited"},
      {"canopy_stage_failed_events_total", "counter", "Events whose handler threw (reported with the reason in the event)"},
      {"canopy_stage_demand_outstanding", "gauge", "Demand asked by a stage's consumers and not yet met (consumers: asked upstream)"},
      {"canopy_stage_buffer_length", "gauge", "Events waiting in a stage's buffer for demand"},
      {"canopy_stage_processing_duration_seconds", "histogram", "Time a consumer spent handling one batch of events"},
      // the telemetry layer itself
      {"canopy_telemetry_series_dropped_total", "counter", "Values sent to a metric's overflow series by the cardinality guard"},
      {"canopy_telemetry_handler_failures_total", "counter", "Telemetry handlers detached because they threw"},
      {"canopy_poller_duration_seconds", "gauge", "Wall time of the last poller round"},
      {"canopy_poller_failures_total", "counter", "Poller measurements that threw"},
      // the exporter (served by canopy::exporters)
      {"canopy_build_info", "gauge", "Build information; always 1"},
      {"canopy_scrapes_total", "counter", "Scrapes of /metrics served"},
      {"canopy_scrape_duration_seconds", "gauge", "Time the last scrape took to collect and encode"},
      {"process_cpu_seconds_total", "counter", "User and system CPU time of the OS process"},
      {"process_resident_memory_bytes", "gauge", "Resident memory of the OS process"},
      {"process_virtual_memory_bytes", "gauge", "Virtual memory of the OS process"},
      {"process_open_fds", "gauge", "Open file descriptors"},
      {"process_max_fds", "gauge", "Maximum number of open file descriptors"},
      {"process_start_time_seconds", "gauge", "Start time of the OS process since the epoch"},
  };
  return names;
}

bool is_known_metric(const std::string& name) {
  const auto& names = metric_names();
  return std::any_of(names.begin(), names.end(), [&](const MetricName& m) { return name == m.name; });
}

}  // namespace canopy
