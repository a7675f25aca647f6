#pragma once
// The metric families canopy's runtime exports: name, type, help, unit and
// labels of each, in one table (core/src/instrumentation/metric_names.cc)
// from which the built-in metric definitions take their help and labels.
// The exporter serves a few families of its own (build info, scrape
// statistics, process_*): canopy/exporters/metric_names.hpp lists those and
// the union that the dashboards and alert rules are checked against.
// Thread-safe (constant after first use).
#include <string>
#include <vector>

#include "canopy/telemetry/collect.hpp"

namespace canopy {

struct MetricName {
  const char* name;
  const char* type;  // Prometheus type: counter, gauge, histogram, summary
  const char* help;
  const char* unit;                 // base unit ("seconds", "bytes", "ratio"); "" for a count
  std::vector<std::string> labels;  // label names of its series (node labels aside)
};

// The runtime's families (core and telemetry layer), not the exporter's own.
const std::vector<MetricName>& metric_names();
bool is_known_metric(const std::string& name);

// A family with m's name, help and type and no samples yet: for families
// computed whole at scrape time.
telemetry::Family empty_family(const MetricName& m);

}  // namespace canopy
