#include "instrumentation/stage_telemetry.hpp"

#include "instrumentation/metric_def.hpp"

#include <string>

namespace canopy::detail {

namespace {
using telemetry::EventName;
using telemetry::MetricDef;
using telemetry::MetricType;
using telemetry::Unit;

MetricDef def(MetricType type, std::string name, std::string event, std::string measurement,
              std::vector<std::string> tags, std::string description) {
  return metric_def(type, std::move(name), EventName{"canopy", "stage", std::move(event)}, std::move(measurement),
                    std::move(tags), std::move(description));
}
constexpr auto has = has_measurement;
}  // namespace

std::vector<MetricDef> stage_metric_defs() {
  std::vector<MetricDef> defs;
  // Counters: the events carry the count since the stage's last report.
  defs.push_back(def(MetricType::sum, "canopy_stage_events_in_total", "events_in", "count", {"stage"},
                     "Events a stage received (consumers) or emitted (producers)"));
  defs.push_back(def(MetricType::sum, "canopy_stage_events_out_total", "events_out", "count", {"stage"},
                     "Events a stage sent downstream (producers) or handled (consumers)"));
  defs.push_back(def(MetricType::sum, "canopy_stage_dropped_total", "drop", "count", {"stage", "reason"},
                     "Events a producer's buffer dropped or refused, by reason"));
  defs.push_back(def(MetricType::sum, "canopy_stage_acks_total", "ack", "count", {"stage"},
                     "Events acknowledged by consumers after processing"));
  defs.push_back(def(MetricType::sum, "canopy_stage_redeliveries_total", "redeliver", "count", {"stage"},
                     "Unacknowledged events put back for redelivery after their consumer exited"));
  defs.push_back(def(MetricType::sum, "canopy_stage_failed_events_total", "failed", "count", {"stage"},
                     "Events whose handler threw (reported with the reason in the event)"));
  // Gauges: the stage reports its state whenever it changes.
  for (auto [name, m, help] :
       {std::tuple{"canopy_stage_demand_outstanding", "demand_outstanding",
                   "Demand asked by a stage's consumers and not yet met (consumers: asked upstream)"},
        std::tuple{"canopy_stage_buffer_length", "buffer_length", "Events waiting in a stage's buffer for demand"}}) {
    MetricDef d = def(MetricType::last_value, name, "state", m, {"stage"}, help);
    d.keep = has(m);
    defs.push_back(std::move(d));
  }
  MetricDef duration = def(MetricType::distribution, "canopy_stage_processing_duration_seconds", "processed",
                           "duration", {"stage"}, "Time a consumer spent handling one batch of events");
  duration.unit_from = Unit::native_time;
  duration.unit_to = Unit::second;
  duration.buckets = {0.000'01, 0.000'1, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5};
  defs.push_back(std::move(duration));
  return defs;
}

}  // namespace canopy::detail
