// Errors, names of the enums, the admin token, and the conversions into the
// options structs of the other layers.
#include "canopy/config/config.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "quote.hpp"

namespace canopy::config {

std::string ConfigError::to_string() const {
  // The loader escapes what it puts in path and message; a ConfigError made
  // elsewhere (or a file name with a newline) must not forge a line either.
  using detail::escape_control;
  std::string out = escape_control(file);
  if (line > 0) {
    out += ":" + std::to_string(line);
    if (column > 0) out += ":" + std::to_string(column);
  }
  if (!path.empty()) out += (out.empty() ? "" : ": ") + escape_control(path);
  out += (out.empty() ? "" : ": ") + escape_control(message);
  return out;
}

ConfigError Config::error_at(const std::string& path, std::string message) const {
  message = detail::escape_control(message);
  std::string p = path;
  while (!p.empty()) {
    if (auto it = locations.find(p); it != locations.end()) {
      return ConfigError{source, it->second.line, it->second.column, path, std::move(message)};
    }
    const size_t cut = p.find_last_of(".[");
    p = cut == std::string::npos ? std::string() : p.substr(0, cut);
  }
  return ConfigError{source, 0, 0, path, std::move(message)};
}

const char* to_string(Aggregation a) {
  switch (a) {
    case Aggregation::none:
      return "none";
    case Aggregation::sum:
      return "sum";
    case Aggregation::avg:
      return "avg";
    case Aggregation::max:
      return "max";
    case Aggregation::min:
      return "min";
    case Aggregation::count:
      return "count";
  }
  return "?";
}

const char* to_string(Comparison c) {
  switch (c) {
    case Comparison::gt:
      return ">";
    case Comparison::ge:
      return ">=";
    case Comparison::lt:
      return "<";
    case Comparison::le:
      return "<=";
    case Comparison::eq:
      return "==";
    case Comparison::ne:
      return "!=";
  }
  return "?";
}

const char* to_string(RangeFunction f) {
  switch (f) {
    case RangeFunction::none:
      return "none";
    case RangeFunction::rate:
      return "rate";
    case RangeFunction::increase:
      return "increase";
    case RangeFunction::deriv:
      return "deriv";
  }
  return "?";
}

const char* to_string(Severity s) {
  switch (s) {
    case Severity::critical:
      return "critical";
    case Severity::warning:
      return "warning";
    case Severity::info:
      return "info";
  }
  return "?";
}

const char* to_string(LogLevel level) {
  switch (level) {
    case LogLevel::trace:
      return "trace";
    case LogLevel::debug:
      return "debug";
    case LogLevel::info:
      return "info";
    case LogLevel::warn:
      return "warn";
    case LogLevel::error:
      return "error";
    case LogLevel::critical:
      return "critical";
    case LogLevel::off:
      return "off";
  }
  return "?";
}

const char* to_string(LogFormat format) {
  switch (format) {
    case LogFormat::text:
      return "text";
    case LogFormat::json:
      return "json";
  }
  return "?";
}

std::optional<ConfigError> apply_admin_token(Config& config) {
  if (const char* env = std::getenv("CANOPY_ADMIN_TOKEN"); env != nullptr && *env != '\0') {
    config.server.admin_token = env;
    return std::nullopt;
  }
  const std::string& file = config.server.admin_token_file;
  if (file.empty()) return std::nullopt;
  const std::string path = "server.admin_token_file";
  std::error_code ec;
  if (std::filesystem::is_directory(file, ec)) {
    return config.error_at(
        path, "cannot read admin token file " + detail::quote(file, detail::kFileNameMax) + ": it is a directory");
  }
  std::ifstream in(file, std::ios::binary);
  if (!in)
    return config.error_at(path, "cannot read admin token file " + detail::quote(file, detail::kFileNameMax) + ": " +
                                     std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad())
    return config.error_at(path, "cannot read admin token file " + detail::quote(file, detail::kFileNameMax) + ": " +
                                     std::strerror(errno));
  std::string token = text.str();
  while (!token.empty() &&
         (token.back() == '\n' || token.back() == '\r' || token.back() == ' ' || token.back() == '\t')) {
    token.pop_back();
  }
  if (token.empty())
    return config.error_at(path, "admin token file " + detail::quote(file, detail::kFileNameMax) + " is empty");
  config.server.admin_token = std::move(token);
  return std::nullopt;
}

RuntimeOptions runtime_options(const Config& config) {
  RuntimeOptions o;
  const RuntimeConfig& r = config.runtime;
  o.schedulers = r.schedulers;
  o.max_processes = r.max_processes;
  o.reductions_per_slice = r.reductions_per_slice;
  o.shutdown_report_after = r.shutdown_report_after;
  o.default_mailbox = r.mailbox;
  o.system_monitor = r.system_monitor;
  o.telemetry = config.telemetry;  // the TelemetryOptions part
  if (!config.telemetry.process_metrics) o.telemetry.top_n = 0;
  o.crash_reports.max = config.crash_reports.max;
  o.dump.dir = config.dump.dir;
  o.dump.max_files = config.dump.max_files;
  o.dump.on_fatal_signal = config.dump.on_fatal_signal;
  return o;
}

telemetry::MetricDef to_metric_def(const UserMetric& m) {
  telemetry::MetricDef d;
  d.type = m.type;
  d.name = m.name;
  d.event = m.event;
  d.measurement = m.measurement;
  d.tags = m.tags;
  d.unit_from = m.unit_from;
  d.unit_to = m.unit_to;
  d.description = m.description;
  d.buckets = m.buckets;
  d.max_series = m.max_series;
  if (!m.keep.empty() || !m.drop.empty()) {
    d.keep = [keep = m.keep, drop = m.drop](const telemetry::Measurements&, const telemetry::Metadata& md) {
      // A key matches when the event has it with one of the listed values.
      auto matches = [&md](const std::string& key, const std::vector<std::string>& values) {
        const telemetry::MetaValue* v = md.find(key);
        if (v == nullptr) return false;
        const std::string text = v->to_string();
        for (const auto& want : values) {
          if (text == want) return true;
        }
        return false;
      };
      for (const auto& [key, values] : keep) {
        if (!matches(key, values)) return false;
      }
      if (drop.empty()) return true;
      for (const auto& [key, values] : drop) {
        if (!matches(key, values)) return true;
      }
      return false;
    };
  }
  return d;
}

std::vector<telemetry::MetricDef> user_metrics(const Config& config) {
  std::vector<telemetry::MetricDef> defs;
  defs.reserve(config.telemetry.metrics.size());
  for (const auto& m : config.telemetry.metrics) defs.push_back(to_metric_def(m));
  return defs;
}

exporters::ServerOptions server_options(const Config& config) { return config.server; }

exporters::PushOptions push_options(const Config& config) { return config.server.push; }

exporters::ExpositionOptions exposition_options(const Config& config) {
  exporters::ExpositionOptions o;
  o.node_labels = config.node.labels;
  o.node_name = config.node.name;
  o.gzip = config.server.gzip;
  return o;
}

}  // namespace canopy::config
