// config/canopy.example.yaml documents every key with its default, and is
// loaded here so it cannot drift; config/canopy.yaml is the shipped config.
#include <catch2/catch.hpp>

#include <set>

#include "support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_config_example_test {

using namespace canopy::config;
using canopy::config::test::example_path;
using canopy::config::test::read_text;
using canopy::config::test::source_path;

namespace {

std::vector<std::string> file_lines(const std::string& path) {
  std::vector<std::string> out;
  std::istringstream in(read_text(path));
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

size_t indent_of(const std::string& line) { return line.find_first_not_of(' '); }

bool is_comment(const std::string& line) {
  const size_t i = line.find_first_not_of(' ');
  if (i == std::string::npos) return false;
  return line.compare(i, 1, "#") == 0 || line.compare(i, 3, "- #") == 0;
}

bool is_key_line(const std::string& line) {
  const size_t i = line.find_first_not_of(' ');
  return i != std::string::npos && line[i] != '#' && line.find(':') != std::string::npos;
}

}  // namespace

TEST_CASE("the example config loads without errors", "[config][example]") {
  const LoadResult r = load_file(example_path());
  REQUIRE_LOADS(r);
  CHECK(r.config->telemetry.metrics.size() == 2);
  CHECK(r.config->alerts.rules.size() == 16);
}

namespace {

// Every value is the default, but admin_without_token is as given (the
// shipped canopy.yaml opts in to loopback for its demo).
void check_defaults(const std::string& path,
                    canopy::exporters::AdminWithoutToken admin_without_token = Config{}.server.admin_without_token) {
  INFO(path);
  const LoadResult r = load_file(path);
  REQUIRE_LOADS(r);
  const Config& c = *r.config;
  const Config d;
  CHECK(c.node.name == d.node.name);
  CHECK(c.node.labels == d.node.labels);
  CHECK(c.server.listen == d.server.listen);
  CHECK(c.server.threads == d.server.threads);
  CHECK(c.server.max_connections == d.server.max_connections);
  CHECK(c.server.request_timeout == d.server.request_timeout);
  CHECK(c.server.idle_timeout == d.server.idle_timeout);
  CHECK(c.server.max_request_bytes == d.server.max_request_bytes);
  CHECK(c.server.admin_token_file == d.server.admin_token_file);
  CHECK(c.server.admin_token == d.server.admin_token);
  CHECK(c.server.admin_without_token == admin_without_token);
  CHECK(c.server.gzip == d.server.gzip);
  CHECK(c.server.tls.cert_file == d.server.tls.cert_file);
  CHECK(c.server.tls.key_file == d.server.tls.key_file);
  CHECK(c.server.push.url == d.server.push.url);
  CHECK(c.server.push.job == d.server.push.job);
  CHECK(c.server.push.interval == d.server.push.interval);
  CHECK(c.runtime.schedulers == d.runtime.schedulers);
  CHECK(c.runtime.max_processes == d.runtime.max_processes);
  CHECK(c.runtime.reductions_per_slice == d.runtime.reductions_per_slice);
  CHECK(c.runtime.shutdown_report_after == d.runtime.shutdown_report_after);
  CHECK(c.runtime.mailbox.capacity == d.runtime.mailbox.capacity);
  CHECK(c.runtime.mailbox.overflow == d.runtime.mailbox.overflow);
  CHECK(c.runtime.mailbox.high_watermark == d.runtime.mailbox.high_watermark);
  CHECK(c.runtime.mailbox.low_watermark == d.runtime.mailbox.low_watermark);
  CHECK(c.runtime.system_monitor.long_schedule == d.runtime.system_monitor.long_schedule);
  CHECK(c.runtime.system_monitor.large_heap_bytes == d.runtime.system_monitor.large_heap_bytes);
  CHECK(c.telemetry.enabled == d.telemetry.enabled);
  CHECK(c.telemetry.poll_interval == d.telemetry.poll_interval);
  CHECK(c.telemetry.top_n == d.telemetry.top_n);
  CHECK(c.telemetry.process_metrics == d.telemetry.process_metrics);
  CHECK(c.telemetry.behaviour_metrics == d.telemetry.behaviour_metrics);
  CHECK(c.telemetry.orphan_min_age == d.telemetry.orphan_min_age);
  CHECK(c.telemetry.max_series_per_metric == d.telemetry.max_series_per_metric);
  CHECK(c.alerts.group == d.alerts.group);
  CHECK(c.alerts.interval == d.alerts.interval);
  CHECK(c.logging.level == d.logging.level);
  CHECK(c.logging.format == d.logging.format);
  CHECK(c.logging.file == d.logging.file);
  CHECK(c.workload.enabled == d.workload.enabled);
  CHECK(c.workload.workers == d.workload.workers);
  CHECK(c.workload.producers == d.workload.producers);
  CHECK(c.workload.message_rate == d.workload.message_rate);
  CHECK(c.workload.crash_interval == d.workload.crash_interval);
  CHECK(c.workload.table_entries == d.workload.table_entries);
  CHECK(c.workload.faults == d.workload.faults);
  CHECK(c.crash_reports.max == d.crash_reports.max);
  CHECK(c.dump.dir == d.dump.dir);
  CHECK(c.dump.max_files == d.dump.max_files);
  CHECK(c.dump.on_fatal_signal == d.dump.on_fatal_signal);
  // And the defaults are the options structs' own.
  const canopy::RuntimeOptions ro;
  CHECK(runtime_options(c).max_processes == ro.max_processes);
  CHECK(runtime_options(c).default_mailbox.high_watermark == ro.default_mailbox.high_watermark);
  CHECK(runtime_options(c).telemetry.poll_interval == ro.telemetry.poll_interval);
  CHECK(runtime_options(c).crash_reports.max == ro.crash_reports.max);
  CHECK(runtime_options(c).dump.max_files == ro.dump.max_files);
  CHECK(server_options(c).listen == canopy::exporters::ServerOptions{}.listen);
  // User metric fields the example leaves at their defaults where it says so.
  CHECK(c.telemetry.metrics[0].max_series == UserMetric{}.max_series);
}

}  // namespace

TEST_CASE("the example config's values are the defaults", "[config][example]") { check_defaults(example_path()); }

TEST_CASE("the example config sets every key canopy knows, each with a comment", "[config][example]") {
  const LoadResult r = load_file(example_path());
  REQUIRE_LOADS(r);
  std::set<std::string> present;
  std::map<std::string, Mark> first;  // schema path -> first place it is set
  for (const auto& [path, mark] : r.config->locations) {
    std::string schema;
    for (size_t i = 0; i < path.size(); ++i) {
      schema += path[i];
      if (path[i] == '[') {
        while (path[i + 1] != ']') ++i;
      }
    }
    present.insert(schema);
    auto it = first.find(schema);
    if (it == first.end() || std::pair(mark.line, mark.column) < std::pair(it->second.line, it->second.column)) {
      first[schema] = mark;
    }
  }
  const auto text = file_lines(example_path());
  for (const auto& key : r.known_keys) {
    INFO(key);
    CHECK(present.count(key) == 1);
    if (present.count(key) == 0) continue;
    // A comment directly above the key, or above the run of sibling keys it
    // starts with; keys inside a flow mapping share their parent's line.
    const int line = first[key].line;
    const std::string parent = key.substr(0, key.rfind('.'));
    if (key.find('.') != std::string::npos && first.count(parent) != 0 && first[parent].line == line) continue;
    REQUIRE(line >= 1);
    const size_t indent = indent_of(text[static_cast<size_t>(line - 1)]);
    bool documented = is_comment(text[static_cast<size_t>(line - 1)]);
    for (int l = line - 2; !documented && l >= 0; --l) {
      const std::string& above = text[static_cast<size_t>(l)];
      if (is_comment(above)) {
        documented = true;
      } else if (!is_key_line(above) || indent_of(above) != indent) {
        break;
      }
    }
    CHECK(documented);
  }
}

TEST_CASE("the shipped canopy.yaml loads and serves on 127.0.0.1:9568 with the demo workload", "[config][example]") {
  const LoadResult r = load_file(source_path("config/canopy.yaml"));
  REQUIRE_LOADS(r);
  CHECK(r.config->server.listen == "127.0.0.1:9568");
  CHECK(r.config->workload.enabled);
  CHECK_FALSE(r.config->alerts.rules.empty());
  // The demo's admin routes work from loopback without a token (it says why).
  CHECK(r.config->server.admin_without_token == canopy::exporters::AdminWithoutToken::loopback);
  check_defaults(source_path("config/canopy.yaml"), canopy::exporters::AdminWithoutToken::loopback);
}

}  // namespace test_config_example_test
