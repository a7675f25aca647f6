#pragma once
// Small builders for the built-in metrics (runtime_telemetry.cc,
// stage_telemetry.cc, runtime_poll.cc): each takes the family's help and
// labels from its row in the metric table (metric_names.cc), so a definition
// cannot drift from the contract. Private to canopy::core. Thread-safe.
#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "canopy/core/metric_names.hpp"
#include "canopy/telemetry/metrics.hpp"

namespace canopy::detail {

// The table row of a built-in family; nullptr for a name not in the table.
const MetricName* builtin_metric(std::string_view name);

// A family computed whole (no samples yet), with name, help and type from the table.
telemetry::Family builtin_family(std::string_view name);

// A metric definition fed by `event`; help and tags (the row's labels) from
// the table. A name missing from the table gets neither (the contract test
// in tests/telemetry fails on it).
inline telemetry::MetricDef metric_def(telemetry::MetricType type, std::string name, telemetry::EventName event,
                                       std::string measurement) {
  telemetry::MetricDef d;
  d.type = type;
  if (const MetricName* row = builtin_metric(name)) {
    d.description = row->help;
    d.tags = row->labels;
  }
  d.name = std::move(name);
  d.event = std::move(event);
  d.measurement = std::move(measurement);
  return d;
}

// A keep predicate: only events that carry `key` (events mix measurements).
inline std::function<bool(const telemetry::Measurements&, const telemetry::Metadata&)> has_measurement(
    std::string key) {
  return [key](const telemetry::Measurements& m, const telemetry::Metadata&) { return m.find(key) != nullptr; };
}

}  // namespace canopy::detail
