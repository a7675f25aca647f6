#pragma once
// The canopy_stage_* metric definitions, fed by the [canopy, stage, ...]
// events every stage emits (see canopy/core/stage.hpp). Part of the built-in
// metric set (RuntimeTelemetry::add_builtin_metrics). Thread-safe (pure).
#include <vector>

#include "canopy/telemetry/metrics.hpp"

namespace canopy::detail {

std::vector<telemetry::MetricDef> stage_metric_defs();

}  // namespace canopy::detail
