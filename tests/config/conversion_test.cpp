// From Config to the options structs of core, telemetry and exporters.
#include <catch2/catch.hpp>

#include "canopy/telemetry/bus.hpp"
#include "support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_config_conversion_test {

using namespace std::chrono_literals;
using namespace canopy::config;
using canopy::config::test::example_path;
using canopy::config::test::lines;

namespace {

// The value of the family `name`'s sample with label `label`=`value` (count for histograms).
double sample_value(const std::vector<canopy::telemetry::Family>& families, const std::string& name,
                    const std::string& label, const std::string& value) {
  for (const auto& f : families) {
    if (f.name != name) continue;
    for (const auto& s : f.samples) {
      for (const auto& [k, v] : s.labels) {
        if (k == label && v == value) {
          return f.type == canopy::telemetry::FamilyType::histogram ? static_cast<double>(s.count) : s.value;
        }
      }
    }
  }
  return -1;
}

}  // namespace

TEST_CASE("runtime_options carries the runtime and telemetry sections", "[config][conversion]") {
  const LoadResult r = load_string(lines({
      "runtime:",
      "  schedulers: 2",
      "  max_processes: 5000",
      "  reductions_per_slice: 100",
      "  shutdown_report_after: 2s",
      "  mailbox: {capacity: 64, overflow: drop_oldest, high_watermark: 50, low_watermark: 10}",
      "  system_monitor: {long_schedule: 5ms, large_heap: 1MiB}",
      "telemetry: {enabled: false, poll_interval: 2s, top_n: 3, orphan_min_age: 10s, max_series_per_metric: 7}",
  }));
  REQUIRE_LOADS(r);
  const canopy::RuntimeOptions o = runtime_options(*r.config);
  CHECK(o.schedulers == 2);
  CHECK(o.max_processes == 5000);
  CHECK(o.reductions_per_slice == 100);
  CHECK(o.shutdown_report_after == 2s);
  CHECK(o.default_mailbox.capacity == 64);
  CHECK(o.default_mailbox.overflow == canopy::OverflowPolicy::drop_oldest);
  CHECK(o.default_mailbox.high_watermark == 50);
  CHECK(o.default_mailbox.low_watermark == 10);
  CHECK(o.system_monitor.long_schedule == 5ms);
  CHECK(o.system_monitor.large_heap_bytes == 1024 * 1024);
  CHECK_FALSE(o.telemetry.enabled);
  CHECK(o.telemetry.poll_interval == 2s);
  CHECK(o.telemetry.top_n == 3);
  CHECK(o.telemetry.orphan_min_age == 10s);
  CHECK(o.telemetry.max_series_per_metric == 7);
}

TEST_CASE("exporter options come from node and server", "[config][conversion]") {
  const LoadResult r = load_string(lines({
      "node: {name: n1, labels: {dc: x}}",
      "server: {listen: '0.0.0.0:1', threads: 8, gzip: false, push: {url: 'https://gw', job: j, interval: 5s}}",
  }));
  REQUIRE_LOADS(r);
  const auto e = exposition_options(*r.config);
  CHECK(e.node_name == "n1");
  CHECK(e.node_labels == std::map<std::string, std::string>{{"dc", "x"}});
  CHECK_FALSE(e.gzip);
  const auto s = server_options(*r.config);
  CHECK(s.listen == "0.0.0.0:1");
  CHECK(s.threads == 8);
  const auto p = push_options(*r.config);
  CHECK(p.url == "https://gw");
  CHECK(p.job == "j");
  CHECK(p.interval == 5s);
}

TEST_CASE("the example's user metrics are accepted by telemetry::Metrics", "[config][conversion]") {
  const LoadResult r = load_file(example_path());
  REQUIRE_LOADS(r);
  canopy::telemetry::Bus bus;
  canopy::telemetry::Metrics metrics(bus);
  const auto defs = user_metrics(*r.config);
  REQUIRE(defs.size() == 2);
  for (size_t i = 0; i < defs.size(); ++i) {
    const std::string err = metrics.add(defs[i]);
    INFO(r.config->error_at("telemetry.metrics[" + std::to_string(i) + "]", err).to_string());
    CHECK(err.empty());
  }
  CHECK(defs[0].name == "app_request_duration_seconds");
  CHECK(defs[0].type == canopy::telemetry::MetricType::distribution);
  CHECK(defs[0].event == canopy::telemetry::EventName{"app", "request", "stop"});
  CHECK(defs[0].unit_from == canopy::telemetry::Unit::native_time);
  CHECK(defs[0].unit_to == canopy::telemetry::Unit::second);
  CHECK(defs[0].tags == std::vector<std::string>{"route", "status"});
  CHECK(defs[0].buckets.size() == 10);
}

TEST_CASE("keep and drop filter events by metadata", "[config][conversion]") {
  const LoadResult r = load_file(example_path());
  REQUIRE_LOADS(r);
  canopy::telemetry::Bus bus;
  canopy::telemetry::Metrics metrics(bus);
  for (const auto& d : user_metrics(*r.config)) REQUIRE(metrics.add(d).empty());
  // keep {status: [ok, error]}, drop {route: /healthz}
  const canopy::telemetry::EventName stop = {"app", "request", "stop"};
  bus.execute(stop, {{"duration", 1e6}}, {{"route", "/a"}, {"status", "ok"}});
  bus.execute(stop, {{"duration", 1e6}}, {{"route", "/a"}, {"status", "error"}});
  bus.execute(stop, {{"duration", 1e6}}, {{"route", "/b"}, {"status", "timeout"}});   // not kept
  bus.execute(stop, {{"duration", 1e6}}, {{"route", "/healthz"}, {"status", "ok"}});  // dropped
  bus.execute(stop, {{"duration", 1e6}}, {{"route", "/b"}});                          // no status: not kept
  const auto families = metrics.collect();
  CHECK(sample_value(families, "app_request_duration_seconds", "route", "/a") == 1);
  CHECK(sample_value(families, "app_request_duration_seconds", "status", "error") == 1);
  CHECK(sample_value(families, "app_request_duration_seconds", "route", "/b") == -1);
  CHECK(sample_value(families, "app_request_duration_seconds", "route", "/healthz") == -1);
}

TEST_CASE("drop with several keys drops only events matching all of them", "[config][conversion]") {
  UserMetric m;
  m.name = "x_total";
  m.event = {"x"};
  m.drop = {{"a", {"1"}}, {"b", {"2", "3"}}};
  const auto def = to_metric_def(m);
  REQUIRE(def.keep);
  const canopy::telemetry::Measurements none{};
  CHECK_FALSE(def.keep(none, {{"a", 1}, {"b", "3"}}));  // numbers compare by their text
  CHECK(def.keep(none, {{"a", 1}, {"b", "4"}}));
  CHECK(def.keep(none, {{"b", "2"}}));
  CHECK_FALSE(to_metric_def(UserMetric{}).keep);  // no predicate at all without keep/drop
}

}  // namespace test_config_conversion_test
