#pragma once
// The one list of metric family names canopy exports: the contract shared by
// the exporter, the shipped dashboards and the alert rules (a test checks
// that they use no other name, and that the exporter serves each of them).
#include <string>
#include <vector>

namespace canopy {

struct MetricName {
  const char* name;
  const char* type;  // Prometheus type: counter, gauge, histogram, summary
  const char* help;
};

const std::vector<MetricName>& metric_names();
bool is_known_metric(const std::string& name);

}  // namespace canopy
