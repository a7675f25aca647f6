#pragma once
// Renders the `alerts` section of canopy.yaml to a Prometheus rules file
// (what `canopy rules FILE` prints and `promtool check rules` accepts).
// Thread-safe (pure functions).
#include <string>
#include <vector>

#include "canopy/config/config.hpp"

namespace canopy::config {

// The PromQL condition of one rule: its `expr` as written, or the structured
// condition rendered, e.g. `max by (process) (canopy_process_mailbox_length) > 1000`
// or `sum by (supervisor) (rate(canopy_supervisor_restarts_total[5m])) > 0.1`.
std::string alert_expr(const AlertRule& rule);

// groups: [{name: <alerts.group>, rules: [{alert, expr, for, labels, annotations}]}]
std::string render_rules(const Config& config);

// Metric family names the rules read, sorted and unique: `metric` of
// structured conditions, and every canopy_* identifier in a raw `expr`
// (outside quoted strings); a built-in histogram's _bucket/_sum/_count
// series count as the histogram's name.
std::vector<std::string> referenced_metrics(const Config& config);

}  // namespace canopy::config
