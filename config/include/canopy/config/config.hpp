#pragma once
// canopy.yaml: the schema, the loader and the conversions into the options
// structs of the other layers.
//
//   canopy::config::LoadResult r = canopy::config::load_file("canopy.yaml");
//   if (!r.ok()) { for (auto& e : r.errors) std::cerr << e.to_string() << "\n"; return 1; }
//   canopy::Runtime rt(canopy::config::runtime_options(*r.config));
//
// Every default lives in exactly one place: the member initializers below,
// most of which take the value from the options struct they fill
// (canopy::MailboxOptions, canopy::TelemetryOptions, exporters::ServerOptions,
// ...). config/canopy.example.yaml documents every key with its default, and
// a test loads it and compares it with a default-constructed Config.
//
// No exception crosses this API: every problem, including a YAML syntax
// error, comes back as a ConfigError naming file:line:column and the key path.
// Threading rule: plain values; the functions are thread-safe.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "canopy/core/options.hpp"
#include "canopy/exporters/options.hpp"
#include "canopy/telemetry/event.hpp"
#include "canopy/telemetry/metrics.hpp"

namespace canopy::config {

// Where a key sits in the file; 1-based (0 = unknown).
struct Mark {
  int line = 0;
  int column = 0;
};

struct ConfigError {
  std::string file;  // as given to load_file / load_string
  int line = 0;      // 1-based; 0 when the error has no place in the file
  int column = 0;    // 1-based
  std::string path;  // key path, e.g. "telemetry.metrics[2].buckets"; may be empty
  std::string message;
  // "FILE:LINE:COL: KEY.PATH: message" (parts that are unknown are left out).
  std::string to_string() const;
};

// ---------------------------------------------------------------- node
struct NodeConfig {
  // Exported as label `node` on every series. Deliberately not the hostname:
  // the same config gives the same series everywhere unless you say otherwise.
  std::string name = "canopy";
  // Added as labels to every series.
  std::map<std::string, std::string> labels;
};

// ---------------------------------------------------------------- server
struct ServerConfig : exporters::ServerOptions {
  // File holding the admin bearer token (read by apply_admin_token; a
  // relative path is taken relative to the config file's directory).
  std::string admin_token_file;
  // gzip /metrics when the scraper accepts it.
  bool gzip = exporters::ExpositionOptions{}.gzip;
  exporters::PushOptions push;
};

// ---------------------------------------------------------------- runtime
struct RuntimeConfig {
  unsigned schedulers = RuntimeOptions{}.schedulers;
  uint32_t max_processes = RuntimeOptions{}.max_processes;
  uint32_t reductions_per_slice = RuntimeOptions{}.reductions_per_slice;
  std::chrono::milliseconds shutdown_report_after = RuntimeOptions{}.shutdown_report_after;
  MailboxOptions mailbox;  // RuntimeOptions::default_mailbox
  SystemMonitorOptions system_monitor;
};

// ---------------------------------------------------------------- telemetry
// A metric definition as YAML can express it (see telemetry::MetricDef).
struct UserMetric {
  std::string name;
  telemetry::MetricType type = telemetry::MetricType::counter;
  telemetry::EventName event;  // from [app, request, stop] or "app.request.stop"
  std::string measurement;
  std::vector<std::string> tags;
  telemetry::Unit unit_from = telemetry::Unit::none;
  telemetry::Unit unit_to = telemetry::Unit::none;
  std::vector<double> buckets;
  std::string description;
  size_t max_series = telemetry::MetricDef{}.max_series;
  // Count only events whose metadata has, for every key, one of the values.
  std::map<std::string, std::vector<std::string>> keep;
  // Skip events whose metadata has, for every key, one of the values.
  std::map<std::string, std::vector<std::string>> drop;
};

struct TelemetryConfig : TelemetryOptions {
  // false: no top-N per-process series (top_n is set to 0 when loading;
  // registered processes keep theirs).
  bool process_metrics = true;
  std::vector<UserMetric> metrics;
};

// ---------------------------------------------------------------- alerts
enum class Aggregation : uint8_t { none, sum, avg, max, min, count };
enum class Comparison : uint8_t { gt, ge, lt, le, eq, ne };
// Range function wrapped around the metric: rate(m[5m]), increase(m[10m]), deriv(m[30m]).
enum class RangeFunction : uint8_t { none, rate, increase, deriv };
enum class Severity : uint8_t { critical, warning, info };
const char* to_string(Aggregation a);
const char* to_string(Comparison c);  // ">", ">=", ...
const char* to_string(RangeFunction f);
const char* to_string(Severity s);

struct AlertRule {
  std::string name;  // the `alert` name; a valid metric name (CamelCase by convention)
  // The structured condition, used when `expr` is empty:
  //   <aggregation> by (<by>) (<function>(<metric>{<match>}[<range>])) <comparison> <threshold>
  std::string metric;
  std::map<std::string, std::string> match;  // label="value" matchers
  RangeFunction function = RangeFunction::none;
  std::chrono::milliseconds range{0};
  Aggregation aggregation = Aggregation::max;
  std::vector<std::string> by;
  Comparison comparison = Comparison::gt;
  double threshold = 0;
  // Raw PromQL instead of the structured condition.
  std::string expr;
  std::chrono::milliseconds for_duration{0};  // `for`; 0 = fire at once
  Severity severity = Severity::warning;
  std::string summary;  // annotation templates, passed through
  std::string description;
  std::map<std::string, std::string> labels;  // extra labels besides severity
};

struct AlertsConfig {
  std::string group = "canopy";
  // Group evaluation interval; 0 = Prometheus's global evaluation_interval.
  std::chrono::milliseconds interval{0};
  std::vector<AlertRule> rules;
};

// ---------------------------------------------------------------- logging
// Same order and values as spdlog::level::level_enum (static_cast is safe).
enum class LogLevel : uint8_t { trace, debug, info, warn, error, critical, off };
enum class LogFormat : uint8_t { text, json };
const char* to_string(LogLevel level);
const char* to_string(LogFormat format);

struct LoggingConfig {
  LogLevel level = LogLevel::info;
  LogFormat format = LogFormat::text;
  std::string file;  // empty = stderr
};

// ---------------------------------------------------------------- workload
// The demo scenario `canopy run` starts (consumed by the demo workload).
struct WorkloadConfig {
  bool enabled = true;
  uint32_t workers = 50;
  uint32_t producers = 4;
  uint32_t message_rate = 2'000;                     // messages per second, all producers together
  std::chrono::milliseconds crash_interval{15'000};  // a worker crashes this often; 0 = never
  uint64_t table_entries = 10'000;
  // The pricing server module loaded at start (relative: to the binary's
  // folder); empty = none.
  std::string pricing_module = "modules/libcanopy_pricing_v1.so";
  // Faults switched on at start (each also switchable at run time through
  // PUT /api/v1/workload/faults/{fault}); names from workload_fault_names().
  std::vector<std::string> faults;
};

// The demo workload's faults, one per classic failure mode.
const std::vector<std::string>& workload_fault_names();

// ---------------------------------------------------------------- crash reports, dumps
struct CrashReportsConfig {
  uint32_t max = CrashReportOptions{}.max;  // crash reports kept (1 and up)
};
struct DumpConfig {
  std::string dir = DumpOptions{}.dir;  // empty: the working directory
  uint32_t max_files = DumpOptions{}.max_files;
  // The binary dumps on fatal signals by default (DumpOptions leaves it off
  // for a runtime embedded in someone else's program).
  bool on_fatal_signal = true;
};

// ---------------------------------------------------------------- the file
struct Config {
  NodeConfig node;
  ServerConfig server;
  RuntimeConfig runtime;
  TelemetryConfig telemetry;
  AlertsConfig alerts;
  LoggingConfig logging;
  WorkloadConfig workload;
  CrashReportsConfig crash_reports;
  DumpConfig dump;

  // The name the config was loaded under, and where each key was found
  // ("telemetry.metrics[1].name" -> line/column), for errors found later.
  std::string source;
  std::map<std::string, Mark> locations;
  // An error placed at `path`, or at its nearest enclosing key found in the file.
  ConfigError error_at(const std::string& path, std::string message) const;
};

struct LoadResult {
  std::optional<Config> config;     // set when errors is empty
  std::vector<ConfigError> errors;  // all of them, in file order
  // Key paths the loader understands at every level it visited, with list
  // indices written "[]" ("telemetry.metrics[].buckets"): the schema, as far
  // as the file exercised it. For tooling and the example-completeness test.
  std::vector<std::string> known_keys;
  bool ok() const { return errors.empty() && config.has_value(); }
};

// Reads and validates a file. Relative paths inside it (admin_token_file,
// tls.cert_file, tls.key_file) are resolved against the file's directory.
LoadResult load_file(const std::string& path);
// Validates YAML text; `name` stands for the file in errors.
LoadResult load_string(const std::string& text, const std::string& name = "<string>");

// Reads the admin token from server.admin_token_file into server.admin_token
// (trailing whitespace trimmed); a non-empty $CANOPY_ADMIN_TOKEN overrides it
// (and the file is then not read). Returns an error naming the file when it
// cannot be read or is empty.
std::optional<ConfigError> apply_admin_token(Config& config);

// ---------------------------------------------------------------- conversions
RuntimeOptions runtime_options(const Config& config);
// One MetricDef per telemetry.metrics entry, in order: metrics[i] came from
// "telemetry.metrics[i]" (use config.error_at on what Metrics::add returns).
std::vector<telemetry::MetricDef> user_metrics(const Config& config);
telemetry::MetricDef to_metric_def(const UserMetric& metric);
exporters::ServerOptions server_options(const Config& config);
exporters::PushOptions push_options(const Config& config);
exporters::ExpositionOptions exposition_options(const Config& config);

}  // namespace canopy::config
