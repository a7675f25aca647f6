#pragma once
// Small builders for the built-in metric definitions (runtime_telemetry.cc,
// stage_telemetry.cc). Private to canopy::core.
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "canopy/telemetry/metrics.hpp"

namespace canopy::detail {

inline telemetry::MetricDef metric_def(telemetry::MetricType type, std::string name, telemetry::EventName event,
                                       std::string measurement, std::vector<std::string> tags,
                                       std::string description) {
  telemetry::MetricDef d;
  d.type = type;
  d.name = std::move(name);
  d.event = std::move(event);
  d.measurement = std::move(measurement);
  d.tags = std::move(tags);
  d.description = std::move(description);
  return d;
}

// A keep predicate: only events that carry `key` (events mix measurements).
inline std::function<bool(const telemetry::Measurements&, const telemetry::Metadata&)> has_measurement(
    std::string key) {
  return [key](const telemetry::Measurements& m, const telemetry::Metadata&) { return m.find(key) != nullptr; };
}

}  // namespace canopy::detail
