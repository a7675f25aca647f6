#pragma once
// Telemetry families as prometheus-cpp values. Private to the exporter layer.
#include <prometheus/metric_family.h>

#include <vector>

#include "canopy/telemetry/collect.hpp"

namespace canopy::exporters {

std::vector<prometheus::MetricFamily> to_prometheus(const std::vector<telemetry::Family>& families);

}  // namespace canopy::exporters
