// Every class of error, with its exact file:line:column, key path and message.
#include <catch2/catch.hpp>

#include "support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_config_errors_test {

using canopy::config::test::errors_of;
using canopy::config::test::lines;
using Errors = std::vector<std::string>;

TEST_CASE("an unknown key is an error with a did-you-mean", "[config][errors]") {
  CHECK(errors_of(lines({"telemetry:", "  pol_interval: 1s"})) ==
        Errors{"test.yaml:2:3: telemetry.pol_interval: unknown key 'pol_interval' (did you mean 'poll_interval'?)"});
  CHECK(errors_of(lines({"telemetri:", "  poll_interval: 1s"})) ==
        Errors{"test.yaml:1:1: telemetri: unknown key 'telemetri' (did you mean 'telemetry'?)"});
  CHECK(errors_of(lines({"runtime:", "  mailbox:", "    lowwatermark: 3"})) ==
        Errors{
            "test.yaml:3:5: runtime.mailbox.lowwatermark: unknown key 'lowwatermark' (did you mean 'low_watermark'?)"});
  // A key of another section says where it belongs.
  CHECK(errors_of(lines({"poll_interval: 1s"})) ==
        Errors{"test.yaml:1:1: poll_interval: unknown key 'poll_interval' (did you mean 'telemetry.poll_interval'?)"});
  // Nothing close: no suggestion.
  CHECK(errors_of(lines({"node:", "  colour: red"})) == Errors{"test.yaml:2:3: node.colour: unknown key 'colour'"});
  // The admin token itself is not a config key: it lives in a file.
  CHECK(errors_of(lines({"server:", "  admin_token: s3cret"})) ==
        Errors{"test.yaml:2:3: server.admin_token: unknown key 'admin_token' (did you mean 'admin_token_file'?)"});
}

TEST_CASE("a value of the wrong type says what was expected", "[config][errors]") {
  CHECK(errors_of(lines({"runtime:", "  schedulers: many"})) ==
        Errors{"test.yaml:2:15: runtime.schedulers: expected a whole number, got 'many'"});
  CHECK(errors_of(lines({"runtime:", "  max_processes: -5"})) ==
        Errors{"test.yaml:2:18: runtime.max_processes: expected a whole number, got '-5'"});
  CHECK(errors_of(lines({"runtime:", "  max_processes: 0"})) ==
        Errors{"test.yaml:2:18: runtime.max_processes: must be at least 1, got 0"});
  CHECK(errors_of(lines({"node: [a, b]"})) == Errors{"test.yaml:1:7: node: expected a mapping, got a list"});
  CHECK(errors_of(lines({"workload:", "  enabled: maybe"})) ==
        Errors{"test.yaml:2:12: workload.enabled: expected true or false, got 'maybe'"});
  CHECK(errors_of(lines({"workload:", "  faults: [runaway, runaways, runaway]"})) ==
        Errors{"test.yaml:2:21: workload.faults[1]: unknown fault 'runaways' (did you mean 'runaway'?) (faults: "
               "mailbox_flood, table_leak, orphans, crash_loop, runaway, boot_failure, heap_leak)",
               "test.yaml:2:31: workload.faults[2]: duplicate fault 'runaway'"});
  CHECK(errors_of(lines({"telemetry:", "  metrics: {name: x}"})) ==
        Errors{"test.yaml:2:12: telemetry.metrics: expected a list of metric definitions, got a mapping"});
  CHECK(errors_of(lines({"logging:", "  level: warning"})) ==
        Errors{"test.yaml:2:10: logging.level: expected one of trace, debug, info, warn, error, critical, off, got "
               "'warning' (did you mean 'warn'?)"});
  CHECK(errors_of(lines({"runtime:", "  mailbox: {overflow: drop}"})) ==
        Errors{"test.yaml:2:23: runtime.mailbox.overflow: expected one of drop_newest, drop_oldest, reject, block, got "
               "'drop'"});
  CHECK(errors_of("[1, 2]\n") == Errors{"test.yaml:1:1: expected a mapping, got a list"});
}

TEST_CASE("a bad duration names the forms that work", "[config][errors]") {
  CHECK(errors_of(lines({"telemetry:", "  poll_interval: fast"})) ==
        Errors{"test.yaml:2:18: telemetry.poll_interval: expected a duration like 500ms or 5m, got 'fast'"});
  CHECK(errors_of(lines({"telemetry:", "  poll_interval: 5"})) ==
        Errors{"test.yaml:2:18: telemetry.poll_interval: expected a duration like 500ms or 5m, got '5'"});
  CHECK(errors_of(lines({"telemetry:", "  poll_interval: 0s"})) ==
        Errors{"test.yaml:2:18: telemetry.poll_interval: must be longer than 0"});
  CHECK(errors_of(lines({"runtime:", "  system_monitor:", "    long_schedule: 250us"})) ==
        Errors{"test.yaml:3:20: runtime.system_monitor.long_schedule: must be a whole number of milliseconds, got "
               "'250us'"});
}

TEST_CASE("a bad size names the forms that work", "[config][errors]") {
  CHECK(errors_of(lines({"runtime:", "  system_monitor:", "    large_heap: lots"})) ==
        Errors{"test.yaml:3:17: runtime.system_monitor.large_heap: expected a size like 64MiB or 512, got 'lots'"});
  CHECK(errors_of(lines({"server:", "  max_request_bytes: 1.5B"})) ==
        Errors{"test.yaml:2:22: server.max_request_bytes: expected a size like 64MiB or 512, got '1.5B'"});
}

TEST_CASE("the low watermark must be below the high one", "[config][errors]") {
  CHECK(errors_of(lines({"runtime:", "  mailbox:", "    high_watermark: 100", "    low_watermark: 100"})) ==
        Errors{"test.yaml:4:5: runtime.mailbox.low_watermark: must be below high_watermark (100), got 100"});
  // Only the high one given: the default low one (5000) is above it.
  CHECK(errors_of("runtime: {mailbox: {high_watermark: 10}}\n") ==
        Errors{"test.yaml:1:21: runtime.mailbox.low_watermark: must be below high_watermark (10), got 5000"});
  // A disabled watermark (0) takes any low one.
  CHECK(errors_of("runtime: {mailbox: {high_watermark: 0}}\n").empty());
}

TEST_CASE("histogram buckets must be strictly increasing", "[config][errors]") {
  CHECK(errors_of(lines({
            "telemetry:",
            "  metrics:",
            "    - {name: a_total, type: counter, event: a}",
            "    - {name: b_total, type: counter, event: b}",
            "    - name: c_seconds",
            "      type: distribution",
            "      event: c",
            "      measurement: duration",
            "      buckets: [1, 2, 2]",
        })) == Errors{"test.yaml:9:23: telemetry.metrics[2].buckets: must be increasing: 2 follows 2"});
  CHECK(errors_of(lines({
            "telemetry:",
            "  metrics:",
            "    - {name: c_seconds, type: distribution, event: c, measurement: d, buckets: [0.5, 0.25]}",
        })) == Errors{"test.yaml:3:86: telemetry.metrics[0].buckets: must be increasing: 0.25 follows 0.5"});
}

TEST_CASE("the listen address must be host:port", "[config][errors]") {
  CHECK(errors_of(lines({"server:", "  listen: localhost:99999"})) ==
        Errors{"test.yaml:2:11: server.listen: expected host:port with port 0-65535, got 'localhost:99999'"});
  CHECK(errors_of(lines({"server:", "  listen: \"9568\""})) ==
        Errors{"test.yaml:2:11: server.listen: expected host:port with port 0-65535, got '9568'"});
  CHECK(errors_of(lines({"server:", "  listen: ::1:9568"})) ==
        Errors{"test.yaml:2:11: server.listen: expected host:port with port 0-65535, got '::1:9568'"});
  CHECK(errors_of(lines({"server:", "  listen: 0.0.0.0:65535"})).empty());
}

TEST_CASE("duplicate metric and alert names are errors", "[config][errors]") {
  CHECK(errors_of(lines({
            "telemetry:",
            "  metrics:",
            "    - name: a_total",
            "      type: counter",
            "      event: a",
            "    - name: a_total",
            "      type: counter",
            "      event: b",
        })) == Errors{"test.yaml:6:7: telemetry.metrics[1].name: duplicate metric name 'a_total' (first defined at "
                      "telemetry.metrics[0], line 3)"});
  CHECK(errors_of(lines({
            "alerts:",
            "  rules:",
            "    - {name: Down, metric: up, comparison: \"==\", threshold: 0}",
            "    - {name: Down, expr: up == 0}",
        })) == Errors{"test.yaml:4:8: alerts.rules[1].name: duplicate alert name 'Down' (first defined at "
                      "alerts.rules[0], line 3)"});
  CHECK(errors_of(lines({"node:", "  name: a", "  name: b"})) ==
        Errors{"test.yaml:3:3: node.name: duplicate key 'name' (first at line 2)"});
}

TEST_CASE("an alert has exactly one of metric and expr", "[config][errors]") {
  CHECK(errors_of(lines({
            "alerts:",
            "  rules:",
            "    - name: Both",
            "      metric: up",
            "      threshold: 0",
            "      expr: up == 0",
        })) == Errors{"test.yaml:6:7: alerts.rules[0].expr: give either metric or expr, not both"});
  CHECK(errors_of(lines({
            "alerts:",
            "  rules:",
            "    - name: Nothing",
            "      for: 5m",
        })) == Errors{"test.yaml:3:7: alerts.rules[0]: an alert needs either metric (a structured condition) or expr "
                      "(raw PromQL)"});
  CHECK(errors_of(lines({
            "alerts:",
            "  rules:",
            "    - name: Raw",
            "      expr: up == 0",
            "      threshold: 1",
        })) == Errors{"test.yaml:5:7: alerts.rules[0].threshold: only with metric (a structured condition), not with "
                      "expr"});
}

TEST_CASE("alert conditions are checked against canopy's metrics", "[config][errors]") {
  CHECK(errors_of(lines({
            "alerts:",
            "  rules:",
            "    - {name: A, metric: canopy_proces_usage_ratio, threshold: 1}",
        })) == Errors{"test.yaml:3:25: alerts.rules[0].metric: unknown metric 'canopy_proces_usage_ratio' (did you "
                      "mean 'canopy_process_usage_ratio'?): use a canopy metric, one of telemetry.metrics, or `up` (or "
                      "write expr)"});
  CHECK(errors_of(lines({
            "alerts:",
            "  rules:",
            "    - {name: A, metric: canopy_supervisor_restarts_total, threshold: 1}",
        })) == Errors{"test.yaml:3:25: alerts.rules[0].metric: 'canopy_supervisor_restarts_total' is a counter: add "
                      "rate: or increase: (e.g. rate: 5m)"});
  CHECK(errors_of(lines({
            "alerts:",
            "  rules:",
            "    - {name: A, metric: canopy_process_usage_ratio, rate: 5m, threshold: 1}",
        })) == Errors{"test.yaml:3:53: alerts.rules[0].rate: 'canopy_process_usage_ratio' is a gauge: use deriv (rate "
                      "is for counters)"});
  CHECK(errors_of(lines({
            "alerts:",
            "  rules:",
            "    - {name: A, expr: 'rate(canopy_long_schedule_total[5m]) > 1'}",
        })) == Errors{"test.yaml:3:23: alerts.rules[0].expr: unknown metric 'canopy_long_schedule_total' (did you "
                      "mean 'canopy_long_schedules_total'?)"});
  CHECK(errors_of(lines({
            "alerts:",
            "  rules:",
            "    - {name: A, expr: 'sum(rate(canopy_long_schedules_total[5m]) > 1'}",
        })) == Errors{"test.yaml:3:23: alerts.rules[0].expr: not valid PromQL: unclosed '('"});
  CHECK(errors_of(lines({
                      "alerts:",
                      "  rules:",
                      "    - {name: A, metric: up, comparison: >, threshold: 0}",
                  }))
            .size() == 1);
  CHECK(errors_of(lines({
            "alerts:",
            "  rules:",
            "    - {name: not-valid, metric: up, threshold: 0, severity: page, labels: {severity: x}}",
        })) == Errors{
                   "test.yaml:3:14: alerts.rules[0].name: 'not-valid' is not a valid alert name "
                   "([a-zA-Z_:][a-zA-Z0-9_:]*, e.g. CanopyMailboxOverload)",
                   "test.yaml:3:61: alerts.rules[0].severity: expected one of critical, warning, info, got 'page'",
                   "test.yaml:3:76: alerts.rules[0].labels.severity: set severity with the rule's severity key",
               });
}

TEST_CASE("user metric definitions are checked like Metrics::add would", "[config][errors]") {
  CHECK(errors_of(lines({
            "telemetry:",
            "  metrics:",
            "    - {name: canopy_mine_total, type: counter, event: a}",
            "    - {name: 9lives, type: counter, event: a}",
            "    - {type: counter, event: a}",
        })) == Errors{
                   "test.yaml:3:14: telemetry.metrics[0].name: 'canopy_mine_total': the canopy_ prefix is reserved for "
                   "built-in metrics",
                   "test.yaml:4:14: telemetry.metrics[1].name: '9lives' is not a valid Prometheus metric name "
                   "([a-zA-Z_:][a-zA-Z0-9_:]*)",
                   "test.yaml:5:7: telemetry.metrics[2]: missing required key 'name'",
               });
  CHECK(errors_of(lines({
            "telemetry:",
            "  metrics:",
            "    - {name: a_total, type: counter, event: a, measurement: n}",
            "    - {name: b_sum, type: sum, event: a}",
            "    - {name: c, type: distribution, event: a, measurement: d}",
            "    - {name: d, type: gauge, event: a}",
        })) == Errors{
                   "test.yaml:3:61: telemetry.metrics[0].measurement: a counter counts events and takes no "
                   "measurement (type sum adds one up)",
                   "test.yaml:4:7: telemetry.metrics[1]: missing required key 'measurement' (a sum needs one)",
                   "test.yaml:5:7: telemetry.metrics[2]: missing required key 'buckets' (a distribution needs bucket "
                   "upper bounds)",
                   "test.yaml:6:23: telemetry.metrics[3].type: expected one of counter, sum, last_value, summary, "
                   "distribution, got 'gauge'",
               });
  CHECK(errors_of(lines({
            "telemetry:",
            "  metrics:",
            "    - {name: a, type: sum, event: a, measurement: n, unit: {from: byte, to: second}}",
            "    - {name: b, type: sum, event: a, measurement: n, unit: seconds}",
            "    - {name: c, type: counter, event: 'a..b', tags: [ok, not-ok, ok]}",
        })) == Errors{
                   "test.yaml:3:60: telemetry.metrics[0].unit: cannot convert byte to second",
                   "test.yaml:4:60: telemetry.metrics[1].unit: expected one of none, native, nanosecond, microsecond, "
                   "millisecond, second, byte, kilobyte, megabyte, got 'seconds' (did you mean 'second'?) (or {from: "
                   "native, to: second} to convert)",
                   "test.yaml:5:39: telemetry.metrics[2].event: expected an event like app.request.stop or [app, "
                   "request, stop], got 'a..b'",
                   "test.yaml:5:58: telemetry.metrics[2].tags[1]: 'not-ok' is not a valid label name "
                   "([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)",
                   "test.yaml:5:66: telemetry.metrics[2].tags[2]: duplicate tag 'ok'",
               });
}

TEST_CASE("list entries must be mappings", "[config][errors]") {
  CHECK(
      errors_of(lines({"telemetry:", "  metrics:", "    - just a name", "alerts:", "  rules:", "    -", "    - {}"})) ==
      Errors{
          "test.yaml:3:7: telemetry.metrics[0]: expected a mapping, got 'just a name'",
          "test.yaml:7:5: alerts.rules[0]: empty entry: expected an alert rule (a mapping)",
          "test.yaml:7:7: alerts.rules[1]: missing required key 'name'",
          "test.yaml:7:7: alerts.rules[1]: an alert needs either metric (a structured condition) or expr (raw PromQL)",
      });
}

TEST_CASE("other cross-field rules", "[config][errors]") {
  CHECK(errors_of(lines({"server:", "  tls:", "    cert_file: c.pem"})) ==
        Errors{"test.yaml:3:5: server.tls: cert_file and key_file go together: set both (TLS on) or neither"});
  CHECK(errors_of(lines({"server:", "  push: {url: ftp://x}"})) ==
        Errors{"test.yaml:2:15: server.push.url: expected an http:// or https:// URL (or nothing), got 'ftp://x'"});
  CHECK(errors_of(lines({"node:", "  labels: {instance: a, bad-name: b}"})) ==
        Errors{"test.yaml:2:12: node.labels.instance: label 'instance' is set by Prometheus from the scrape target",
               "test.yaml:2:25: node.labels.bad-name: 'bad-name' is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, "
               "not starting with __)"});
}

TEST_CASE("a YAML syntax error is reported with its mark", "[config][errors]") {
  CHECK(errors_of(lines({"node:", "  name: [unclosed", "server: {}"})) ==
        Errors{"test.yaml:3:7: end of sequence flow not found"});
  CHECK(errors_of(lines({"node:", "  name: x", " bad indent: y"})) == Errors{"test.yaml:3:2: end of map not found"});
  CHECK(errors_of(lines({"node:", "\tname: x"})) ==
        Errors{"test.yaml:2:6: illegal map value (tabs are not allowed in YAML indentation)"});
}

TEST_CASE("a second YAML document is an error, not silently ignored", "[config][errors]") {
  CHECK(errors_of(lines({"node: {name: a}", "---", "node: {name: b}"})) ==
        Errors{"test.yaml:3:1: one YAML document per file, found 2"});
}

TEST_CASE("all errors are reported at once, in file order", "[config][errors]") {
  CHECK(errors_of(lines({
            "node:",
            "  nam: x",
            "runtime:",
            "  schedulers: lots",
            "logging:",
            "  level: loud",
        })) == Errors{
                   "test.yaml:2:3: node.nam: unknown key 'nam' (did you mean 'name'?)",
                   "test.yaml:4:15: runtime.schedulers: expected a whole number, got 'lots'",
                   "test.yaml:6:10: logging.level: expected one of trace, debug, info, warn, error, critical, off, got "
                   "'loud'",
               });
}

TEST_CASE("a file that cannot be opened is one error naming it", "[config][errors]") {
  const auto r = canopy::config::load_file("/nonexistent/canopy.yaml");
  CHECK_FALSE(r.ok());
  CHECK(canopy::config::test::error_texts(r) ==
        Errors{"/nonexistent/canopy.yaml: cannot open: No such file or directory"});
}

TEST_CASE("crash_reports and dump keys are checked and named in errors", "[config][errors]") {
  CHECK(errors_of(lines({"crash_reports:", "  max: 0"})) ==
        Errors{"test.yaml:2:8: crash_reports.max: must be from 1 to 1000000, got 0"});
  CHECK(errors_of(lines({"dump:", "  max_files: lots"})) ==
        Errors{"test.yaml:2:14: dump.max_files: expected a whole number, got 'lots'"});
  CHECK(errors_of(lines({"dump:", "  on_fatal_signal: sometimes"})) ==
        Errors{"test.yaml:2:20: dump.on_fatal_signal: expected true or false, got 'sometimes'"});
  CHECK(errors_of(lines({"dump:", "  folder: /tmp"})) ==
        Errors{"test.yaml:2:3: dump.folder: unknown key 'folder'"});
  // The binary's defaults: dumps in the working directory, on fatal signals too.
  const canopy::config::LoadResult r = canopy::config::load_string(lines({"dump:", "  max_files: 3"}), "test.yaml");
  REQUIRE(r.ok());
  CHECK(r.config->dump.dir.empty());
  CHECK(r.config->dump.on_fatal_signal);
  CHECK(canopy::config::runtime_options(*r.config).dump.max_files == 3);
  CHECK(canopy::config::runtime_options(*r.config).dump.on_fatal_signal);
  CHECK(canopy::config::runtime_options(*r.config).crash_reports.max == 100);
}

}  // namespace test_config_errors_test
