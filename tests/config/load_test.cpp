// Loading valid configs: every section read into its struct.
#include <catch2/catch.hpp>

#include "support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_config_load_test {

using namespace std::chrono_literals;
using namespace canopy::config;
using canopy::config::test::lines;

TEST_CASE("an empty file is the defaults", "[config][load]") {
  for (const char* text : {"", "# nothing but a comment\n", "---\n"}) {
    const LoadResult r = load_string(text, "empty.yaml");
    REQUIRE_LOADS(r);
    CHECK(r.config->node.name == "canopy");
    CHECK(r.config->server.listen == "127.0.0.1:9568");
    CHECK(r.config->telemetry.poll_interval == 1s);
    CHECK(r.config->alerts.rules.empty());
  }
}

TEST_CASE("every section is read into its options", "[config][load]") {
  const LoadResult r =
      load_string(lines({
                      "node:",
                      "  name: edge-1",
                      "  labels: {region: eu, role: demo}",
                      "server:",
                      "  listen: \"[::1]:0\"",
                      "  threads: 2",
                      "  max_connections: 64",
                      "  request_timeout: 2s",
                      "  idle_timeout: 1m",
                      "  max_request_bytes: 1MiB",
                      "  gzip: false",
                      "  tls: {cert_file: /etc/c.pem, key_file: /etc/k.pem}",
                      "  push: {url: 'http://127.0.0.1:9091', job: batch, interval: 1m}",
                      "runtime:",
                      "  schedulers: 3",
                      "  max_processes: 1_000",
                      "  reductions_per_slice: 500",
                      "  shutdown_report_after: 1.5s",
                      "  mailbox: {capacity: 100, overflow: reject, high_watermark: 80, low_watermark: 20}",
                      "  system_monitor: {long_schedule: 20ms, large_heap: 64MiB}",
                      "telemetry:",
                      "  enabled: false",
                      "  poll_interval: 250ms",
                      "  top_n: 5",
                      "  orphan_min_age: 5m",
                      "  max_series_per_metric: 50",
                      "logging: {level: debug, format: json, file: /var/log/canopy.log}",
                      "workload:",
                      "  enabled: false",
                      "  workers: 7",
                      "  producers: 1",
                      "  message_rate: 10",
                      "  crash_interval: 0s",
                      "  table_entries: 3",
                      "  faults: [runaway, orphans]",
                  }),
                  "full.yaml");
  REQUIRE_LOADS(r);
  const Config& c = *r.config;
  CHECK(c.node.name == "edge-1");
  CHECK(c.node.labels == std::map<std::string, std::string>{{"region", "eu"}, {"role", "demo"}});
  CHECK(c.server.listen == "[::1]:0");
  CHECK(c.server.threads == 2);
  CHECK(c.server.max_connections == 64);
  CHECK(c.server.request_timeout == 2s);
  CHECK(c.server.idle_timeout == 1min);
  CHECK(c.server.max_request_bytes == 1024 * 1024);
  CHECK_FALSE(c.server.gzip);
  CHECK(c.server.tls.cert_file == "/etc/c.pem");
  CHECK(c.server.tls.key_file == "/etc/k.pem");
  CHECK(c.server.push.url == "http://127.0.0.1:9091");
  CHECK(c.server.push.job == "batch");
  CHECK(c.server.push.interval == 1min);
  CHECK(c.runtime.schedulers == 3);
  CHECK(c.runtime.max_processes == 1000);
  CHECK(c.runtime.reductions_per_slice == 500);
  CHECK(c.runtime.shutdown_report_after == 1500ms);
  CHECK(c.runtime.mailbox.capacity == 100);
  CHECK(c.runtime.mailbox.overflow == canopy::OverflowPolicy::reject);
  CHECK(c.runtime.mailbox.high_watermark == 80);
  CHECK(c.runtime.mailbox.low_watermark == 20);
  CHECK(c.runtime.system_monitor.long_schedule == 20ms);
  CHECK(c.runtime.system_monitor.large_heap_bytes == 64u * 1024 * 1024);
  CHECK_FALSE(c.telemetry.enabled);
  CHECK(c.telemetry.poll_interval == 250ms);
  CHECK(c.telemetry.top_n == 5);
  CHECK(c.telemetry.orphan_min_age == 5min);
  CHECK(c.telemetry.max_series_per_metric == 50);
  CHECK(c.logging.level == LogLevel::debug);
  CHECK(c.logging.format == LogFormat::json);
  CHECK(c.logging.file == "/var/log/canopy.log");
  CHECK_FALSE(c.workload.enabled);
  CHECK(c.workload.workers == 7);
  CHECK(c.workload.producers == 1);
  CHECK(c.workload.message_rate == 10);
  CHECK(c.workload.crash_interval == 0ms);
  CHECK(c.workload.table_entries == 3);
  CHECK(c.workload.faults == std::vector<std::string>{"runaway", "orphans"});
}

TEST_CASE("process_metrics false turns the top-N series off", "[config][load]") {
  const LoadResult r = load_string("telemetry: {top_n: 20, process_metrics: false}\n");
  REQUIRE_LOADS(r);
  CHECK(r.config->telemetry.top_n == 0);
  CHECK(runtime_options(*r.config).telemetry.top_n == 0);
}

TEST_CASE("a user metric's event is a dotted string or a list of atoms", "[config][load]") {
  const LoadResult r = load_string(lines({
      "telemetry:",
      "  metrics:",
      "    - {name: a_total, type: counter, event: app.request.stop}",
      "    - {name: b_total, type: counter, event: [app, request, stop]}",
      "    - {name: c_bytes, type: last_value, event: vm, measurement: total, unit: byte}",
      "    - name: d_seconds",
      "      type: summary",
      "      event: [db, query]",
      "      measurement: duration",
      "      unit: {from: native, to: millisecond}",
  }));
  REQUIRE_LOADS(r);
  const auto& m = r.config->telemetry.metrics;
  REQUIRE(m.size() == 4);
  const canopy::telemetry::EventName stop = {"app", "request", "stop"};
  CHECK(m[0].event == stop);
  CHECK(m[1].event == stop);
  CHECK(m[2].event == canopy::telemetry::EventName{"vm"});
  CHECK(m[2].unit_from == canopy::telemetry::Unit::byte);
  CHECK(m[2].unit_to == canopy::telemetry::Unit::byte);
  CHECK(m[3].type == canopy::telemetry::MetricType::summary);
  CHECK(m[3].unit_from == canopy::telemetry::Unit::native_time);
  CHECK(m[3].unit_to == canopy::telemetry::Unit::millisecond);
}

TEST_CASE("sections may come in any order and alerts may name user metrics", "[config][load]") {
  const LoadResult r = load_string(lines({
      "alerts:",
      "  rules:",
      "    - {name: Slow, metric: app_latency_seconds_count, rate: 5m, threshold: 1}",
      "telemetry:",
      "  metrics:",
      "    - {name: app_latency_seconds, type: distribution, event: a.b, measurement: d, buckets: [1, 2]}",
  }));
  REQUIRE_LOADS(r);
  CHECK(r.config->alerts.rules[0].function == RangeFunction::rate);
  CHECK(r.config->alerts.rules[0].range == 5min);
}

TEST_CASE("an alert threshold may be a size or a duration", "[config][load]") {
  const LoadResult r = load_string(lines({
      "alerts:",
      "  rules:",
      "    - {name: A, metric: canopy_memory_bytes, threshold: 2GiB}",
      "    - {name: B, metric: canopy_mailbox_oldest_age_seconds, threshold: 1m30s}",
      "    - {name: C, metric: canopy_process_usage_ratio, threshold: -0.5, comparison: lt}",
  }));
  REQUIRE_LOADS(r);
  CHECK(r.config->alerts.rules[0].threshold == 2147483648.0);
  CHECK(r.config->alerts.rules[1].threshold == 90.0);
  CHECK(r.config->alerts.rules[2].threshold == -0.5);
  CHECK(r.config->alerts.rules[2].comparison == Comparison::lt);
}

TEST_CASE("relative file paths are taken relative to the config file", "[config][load]") {
  canopy::config::test::TempDir dir;
  canopy::config::test::write_text(
      dir.file("c.yaml"), "server: {admin_token_file: token, tls: {cert_file: tls/c.pem, key_file: /abs/k.pem}}\n");
  const LoadResult r = load_file(dir.file("c.yaml"));
  REQUIRE_LOADS(r);
  CHECK(r.config->server.admin_token_file == dir.file("token"));
  CHECK(r.config->server.tls.cert_file == dir.file("tls/c.pem"));
  CHECK(r.config->server.tls.key_file == "/abs/k.pem");
}

TEST_CASE("where each key was found is kept for later errors", "[config][load]") {
  const LoadResult r = load_string(lines({
                                       "telemetry:",
                                       "  metrics:",
                                       "    - name: a_total",
                                       "      type: counter",
                                       "      event: a.b",
                                   }),
                                   "w.yaml");
  REQUIRE_LOADS(r);
  const Config& c = *r.config;
  CHECK(c.error_at("telemetry.metrics[0].type", "bad").to_string() == "w.yaml:4:7: telemetry.metrics[0].type: bad");
  // A path not in the file falls back to its nearest enclosing key.
  CHECK(c.error_at("telemetry.metrics[0].tags", "bad").to_string() == "w.yaml:3:7: telemetry.metrics[0].tags: bad");
  CHECK(c.error_at("logging.level", "bad").to_string() == "w.yaml: logging.level: bad");
}

}  // namespace test_config_load_test
