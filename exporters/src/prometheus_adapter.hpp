#pragma once
// Telemetry families as prometheus-cpp values. Private to the exporter layer.
#include <prometheus/metric_family.h>

#include <vector>

#include "canopy/telemetry/collect.hpp"

namespace canopy::exporters {

// Consumes the families: label strings move rather than copy (a scrape of
// 10,000 series would otherwise copy every label twice).
std::vector<prometheus::MetricFamily> to_prometheus(std::vector<telemetry::Family>&& families);

}  // namespace canopy::exporters
