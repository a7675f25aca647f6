#pragma once
// The runtime's telemetry: its bus with the runtime events resolved once,
// the built-in metric set, the poller, and the whole-population views the
// poller refreshes. Thread-safe.
#include <memory>
#include <vector>

#include "canopy/core/options.hpp"
#include "canopy/telemetry/bus.hpp"
#include "canopy/telemetry/detail/mutex.hpp"
#include "canopy/telemetry/metrics.hpp"
#include "canopy/telemetry/poller.hpp"

namespace canopy::detail {

struct RuntimeEvents {
  const telemetry::Event* spawn;
  const telemetry::Event* exit;
  const telemetry::Event* mailbox_high;
  const telemetry::Event* mailbox_low;
  const telemetry::Event* long_schedule;
  const telemetry::Event* large_heap;
  const telemetry::Event* drop;
  const telemetry::Event* crash;
  const telemetry::Event* supervisor_restart;
  const telemetry::Event* supervisor_intensity_exceeded;
  const telemetry::Event* supervisor_boot_failure;
  const telemetry::Event* table_evict;
  const telemetry::Event* table_expire;
  const telemetry::Event* code_upgrade;
  // poller events
  const telemetry::Event* vm_memory;
  const telemetry::Event* vm_run_queue;
  const telemetry::Event* vm_system_counts;
  const telemetry::Event* scheduler_utilization;
  const telemetry::Event* process_info;
  const telemetry::Event* table_info;
  const telemetry::Event* supervisor_info;
};

class RuntimeTelemetry {
 public:
  RuntimeTelemetry(const TelemetryOptions& options, std::shared_ptr<spdlog::logger> logger);

  telemetry::Bus& bus() { return bus_; }
  telemetry::Metrics& metrics() { return metrics_; }
  telemetry::Poller& poller() { return poller_; }
  const RuntimeEvents& events() const { return events_; }
  const TelemetryOptions& options() const { return options_; }

  // Families the poller computes whole (population histograms, poller stats).
  void set_snapshot(std::vector<telemetry::Family> families) EXCLUDES(snapshot_mu_);
  // Everything: metric aggregates plus the snapshot families.
  std::vector<telemetry::Family> collect() const EXCLUDES(snapshot_mu_);
  // The same, streamed.
  void collect_into(telemetry::FamilySink& sink) const EXCLUDES(snapshot_mu_);

 private:
  void add_builtin_metrics();

  const TelemetryOptions options_;
  const std::shared_ptr<spdlog::logger> logger_;
  telemetry::Bus bus_;
  RuntimeEvents events_;
  telemetry::Metrics metrics_;
  telemetry::Poller poller_;
  mutable Mutex snapshot_mu_;
  std::vector<telemetry::Family> snapshot_ GUARDED_BY(snapshot_mu_);
};

}  // namespace canopy::detail
