#pragma once
// The metric families the exporter serves itself (build info, scrape
// statistics, and the process_* families as the Prometheus client libraries
// define them), and everything a scrape of canopy serves: these plus the
// runtime's canopy::metric_names(). The shipped dashboards and alert rules
// are checked against served_metric_names(). Header-only, so that
// canopy::config can check alert rules with the exporters' headers alone.
// Thread-safe (constant after first use).
#include <algorithm>
#include <string>
#include <vector>

#include "canopy/core/metric_names.hpp"

namespace canopy::exporters {

inline const std::vector<MetricName>& exporter_metric_names() {
  static const std::vector<MetricName> names = {
      {"canopy_build_info", "gauge", "Build information; always 1", "", {"version", "compiler"}},
      {"canopy_scrapes_total", "counter", "Scrapes of /metrics served", "", {}},
      {"canopy_scrape_duration_seconds", "gauge", "Time the last scrape took to collect and encode", "seconds", {}},
      {"process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", "seconds", {}},
      {"process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", "bytes", {}},
      {"process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", "bytes", {}},
      {"process_open_fds", "gauge", "Number of open file descriptors.", "", {}},
      {"process_max_fds", "gauge", "Maximum number of open file descriptors.", "", {}},
      {"process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.", "seconds", {}},
  };
  return names;
}

// The runtime's families and the exporter's, in that order.
inline const std::vector<MetricName>& served_metric_names() {
  static const std::vector<MetricName> names = [] {
    std::vector<MetricName> all = metric_names();
    const auto& own = exporter_metric_names();
    all.insert(all.end(), own.begin(), own.end());
    return all;
  }();
  return names;
}

// The row named `name` in `names`; nullptr if there is none.
inline const MetricName* find_metric_in(const std::vector<MetricName>& names, const std::string& name) {
  auto it = std::find_if(names.begin(), names.end(), [&](const MetricName& m) { return name == m.name; });
  return it == names.end() ? nullptr : &*it;
}

// The row of a served family; nullptr for any other name.
inline const MetricName* find_served_metric(const std::string& name) {
  return find_metric_in(served_metric_names(), name);
}

inline bool is_served_metric(const std::string& name) { return find_served_metric(name) != nullptr; }

// An exporter family (no samples yet) with name, help and type from its row.
inline telemetry::Family exporter_family(const std::string& name) {
  if (const MetricName* row = find_metric_in(exporter_metric_names(), name)) return empty_family(*row);
  telemetry::Family f;  // not in the list: the exporters' contract test names it
  f.name = name;
  return f;
}

}  // namespace canopy::exporters
