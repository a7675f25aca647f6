// The alerts section as a Prometheus rules file.
#include "canopy/config/rules.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "canopy/config/units.hpp"
#include "promql.hpp"

namespace canopy::config {
namespace {

std::string format_number(double v) {
  if (std::nearbyint(v) == v && std::fabs(v) < 1e15) return std::to_string(static_cast<long long>(v));
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(v);
}

std::string quote_label_value(const std::string& value) {
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string alert_expr(const AlertRule& rule) {
  if (!rule.expr.empty()) return rule.expr;
  std::string series = rule.metric;
  if (!rule.match.empty()) {
    series += "{";
    bool first = true;
    for (const auto& [label, value] : rule.match) {
      series += (first ? "" : ", ") + label + "=" + quote_label_value(value);
      first = false;
    }
    series += "}";
  }
  if (rule.function != RangeFunction::none) {
    series = std::string(to_string(rule.function)) + "(" + series + "[" + format_duration(rule.range) + "])";
  }
  if (rule.aggregation != Aggregation::none) {
    std::string by;
    for (const auto& label : rule.by) by += (by.empty() ? "" : ", ") + label;
    series = std::string(to_string(rule.aggregation)) + (by.empty() ? "" : " by (" + by + ")") + " (" + series + ")";
  }
  return series + " " + to_string(rule.comparison) + " " + format_number(rule.threshold);
}

std::string render_rules(const Config& config) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "groups" << YAML::Value << YAML::BeginSeq;
  out << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << config.alerts.group;
  if (config.alerts.interval.count() > 0) {
    out << YAML::Key << "interval" << YAML::Value << format_duration(config.alerts.interval);
  }
  out << YAML::Key << "rules" << YAML::Value << YAML::BeginSeq;
  for (const AlertRule& rule : config.alerts.rules) {
    out << YAML::BeginMap;
    out << YAML::Key << "alert" << YAML::Value << rule.name;
    out << YAML::Key << "expr" << YAML::Value << alert_expr(rule);
    if (rule.for_duration.count() > 0) out << YAML::Key << "for" << YAML::Value << format_duration(rule.for_duration);
    out << YAML::Key << "labels" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "severity" << YAML::Value << to_string(rule.severity);
    for (const auto& [k, v] : rule.labels) out << YAML::Key << k << YAML::Value << v;
    out << YAML::EndMap;
    if (!rule.summary.empty() || !rule.description.empty()) {
      out << YAML::Key << "annotations" << YAML::Value << YAML::BeginMap;
      if (!rule.summary.empty()) out << YAML::Key << "summary" << YAML::Value << rule.summary;
      if (!rule.description.empty()) out << YAML::Key << "description" << YAML::Value << rule.description;
      out << YAML::EndMap;
    }
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
  out << YAML::EndMap;
  out << YAML::EndSeq;
  out << YAML::EndMap;
  return "# Prometheus alerting rules rendered by `canopy rules` from the alerts section\n"
         "# of a canopy config. Edit the config, not this file.\n" +
         std::string(out.c_str()) + "\n";
}

std::vector<std::string> referenced_metrics(const Config& config) {
  std::vector<std::string> names;
  for (const AlertRule& rule : config.alerts.rules) {
    if (!rule.expr.empty()) {
      for (auto& id : promql::identifiers_with_prefix(rule.expr, "canopy_")) {
        names.push_back(promql::builtin_family(id).value_or(id));
      }
    } else if (!rule.metric.empty()) {
      names.push_back(promql::builtin_family(rule.metric).value_or(rule.metric));
    }
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

}  // namespace canopy::config
