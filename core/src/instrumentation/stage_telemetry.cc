#include "instrumentation/stage_telemetry.hpp"

#include "instrumentation/metric_def.hpp"

#include <string>

namespace canopy::detail {

namespace {
using telemetry::EventName;
using telemetry::MetricDef;
using telemetry::MetricType;
using telemetry::Unit;

// Help and labels come from the metric table (metric_names.cc).
MetricDef def(MetricType type, std::string name, std::string event, std::string measurement) {
  return metric_def(type, std::move(name), EventName{"canopy", "stage", std::move(event)}, std::move(measurement));
}
constexpr auto has = has_measurement;
}  // namespace

std::vector<MetricDef> stage_metric_defs() {
  std::vector<MetricDef> defs;
  // Counters: the events carry the count since the stage's last report.
  defs.push_back(def(MetricType::sum, "canopy_stage_events_in_total", "events_in", "count"));
  defs.push_back(def(MetricType::sum, "canopy_stage_events_out_total", "events_out", "count"));
  defs.push_back(def(MetricType::sum, "canopy_stage_dropped_total", "drop", "count"));
  defs.push_back(def(MetricType::sum, "canopy_stage_acks_total", "ack", "count"));
  defs.push_back(def(MetricType::sum, "canopy_stage_redeliveries_total", "redeliver", "count"));
  defs.push_back(def(MetricType::sum, "canopy_stage_failed_events_total", "failed", "count"));
  // Gauges: the stage reports its state whenever it changes.
  for (auto [name, m] : {std::pair{"canopy_stage_demand_outstanding", "demand_outstanding"},
                         std::pair{"canopy_stage_buffer_length", "buffer_length"}}) {
    MetricDef d = def(MetricType::last_value, name, "state", m);
    d.keep = has(m);
    defs.push_back(std::move(d));
  }
  MetricDef duration =
      def(MetricType::distribution, "canopy_stage_processing_duration_seconds", "processed", "duration");
  duration.unit_from = Unit::native_time;
  duration.unit_to = Unit::second;
  duration.buckets = {0.000'01, 0.000'1, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5};
  defs.push_back(std::move(duration));
  return defs;
}

}  // namespace canopy::detail
