// The alerts section rendered to a Prometheus rules file, checked by parsing
// it back and by the real promtool.
#include <yaml-cpp/yaml.h>

#include <catch2/catch.hpp>
#include <regex>
#include <set>

#include "canopy/config/rules.hpp"
#include "canopy/config/units.hpp"
#include "canopy/core/metric_names.hpp"
#include "canopy/exporters/metric_names.hpp"
#include "support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_config_rules_test {

using namespace std::chrono_literals;
using namespace canopy::config;
using canopy::config::test::example_path;
using canopy::config::test::lines;
using canopy::config::test::read_text;
using canopy::config::test::run;
using canopy::config::test::source_path;
using canopy::config::test::TempDir;
using canopy::config::test::write_text;

namespace {

const char* const kCommittedRules = "config/prometheus/canopy-rules.yml";

Config example() {
  LoadResult r = load_file(example_path());
  REQUIRE_LOADS(r);
  return *r.config;
}

std::string promtool() {
  const std::string path = CANOPY_PROMTOOL;
  if (path.empty()) FAIL("promtool was not found when cmake ran: apt-get install prometheus, then re-run cmake");
  return path;
}

}  // namespace

TEST_CASE("structured conditions render to PromQL", "[config][rules]") {
  AlertRule r;
  r.metric = "canopy_process_mailbox_length";
  r.by = {"process"};
  r.threshold = 1000;
  CHECK(alert_expr(r) == "max by (process) (canopy_process_mailbox_length) > 1000");

  r = AlertRule{};
  r.metric = "canopy_supervisor_restarts_total";
  r.function = RangeFunction::rate;
  r.range = 5min;
  r.aggregation = Aggregation::sum;
  r.by = {"instance", "supervisor"};
  r.comparison = Comparison::ge;
  r.threshold = 0.1;
  CHECK(alert_expr(r) == "sum by (instance, supervisor) (rate(canopy_supervisor_restarts_total[5m])) >= 0.1");

  r = AlertRule{};
  r.metric = "up";
  r.match = {{"job", "canopy"}, {"env", "a\"b"}};
  r.aggregation = Aggregation::none;
  r.comparison = Comparison::eq;
  r.threshold = 0;
  CHECK(alert_expr(r) == "up{env=\"a\\\"b\", job=\"canopy\"} == 0");

  r = AlertRule{};
  r.metric = "canopy_mailbox_messages";
  r.function = RangeFunction::deriv;
  r.range = 90s;
  r.aggregation = Aggregation::avg;
  r.comparison = Comparison::lt;
  r.threshold = 2147483648.0;
  CHECK(alert_expr(r) == "avg (deriv(canopy_mailbox_messages[1m30s])) < 2147483648");

  r.expr = "vector(1) > 0";
  CHECK(alert_expr(r) == "vector(1) > 0");
}

TEST_CASE("rendered rules parse back with groups, alert, expr, for, labels, annotations", "[config][rules]") {
  const Config c = example();
  const YAML::Node doc = YAML::Load(render_rules(c));
  REQUIRE(doc["groups"].IsSequence());
  REQUIRE(doc["groups"].size() == 1);
  const YAML::Node group = doc["groups"][0];
  CHECK(group["name"].as<std::string>() == "canopy");
  CHECK_FALSE(group["interval"].IsDefined());  // 0s: Prometheus's own
  const YAML::Node rules = group["rules"];
  REQUIRE(rules.size() == c.alerts.rules.size());
  for (size_t i = 0; i < rules.size(); ++i) {
    const AlertRule& want = c.alerts.rules[i];
    const YAML::Node rule = rules[i];
    INFO(want.name);
    CHECK(rule["alert"].as<std::string>() == want.name);
    CHECK(rule["expr"].as<std::string>() == alert_expr(want));
    if (want.for_duration.count() > 0) {
      CHECK(rule["for"].as<std::string>() == format_duration(want.for_duration));
    } else {
      CHECK_FALSE(rule["for"].IsDefined());
    }
    CHECK(rule["labels"]["severity"].as<std::string>() == to_string(want.severity));
    for (const auto& [k, v] : want.labels) CHECK(rule["labels"][k].as<std::string>() == v);
    CHECK(rule["annotations"]["summary"].as<std::string>() == want.summary);
    CHECK(rule["annotations"]["description"].as<std::string>() == want.description);
    std::set<std::string> keys;
    for (auto it = rule.begin(); it != rule.end(); ++it) keys.insert(it->first.as<std::string>());
    std::set<std::string> allowed = {"alert", "expr", "for", "labels", "annotations"};
    CHECK(std::includes(allowed.begin(), allowed.end(), keys.begin(), keys.end()));
  }
  const YAML::Node first = rules[0];
  CHECK(first["expr"].as<std::string>() == "max by (node, instance, process) (canopy_process_mailbox_length) > 1000");
  CHECK(first["for"].as<std::string>() == "5m");
  CHECK(first["labels"]["component"].as<std::string>() == "mailbox");
}

TEST_CASE("every shipped rule keeps the node label, so an alert names its node", "[config][rules]") {
  // A fleet: every series carries `node` (node.name). An aggregation keeps
  // it only when its `by` lists it; a vector match only when its `on` does.
  const std::regex grouping(R"(\b(by|on)\s*\(([^)]*)\))");
  const std::regex bare_aggregation(R"(\b(sum|avg|max|min|count)\s*\()");
  const std::regex node_label(R"((^|[\s,])node([\s,]|$))");
  const YAML::Node doc = YAML::Load(render_rules(example()));
  for (const auto& rule : doc["groups"][0]["rules"]) {
    const std::string name = rule["alert"].as<std::string>();
    const std::string expr = rule["expr"].as<std::string>();
    INFO(name << ": " << expr);
    CHECK_FALSE(std::regex_search(expr, bare_aggregation));
    for (auto it = std::sregex_iterator(expr.begin(), expr.end(), grouping); it != std::sregex_iterator(); ++it) {
      INFO((*it)[0].str());
      CHECK(std::regex_search((*it)[2].str(), node_label));
    }
  }
}

TEST_CASE("a group interval is rendered when set", "[config][rules]") {
  const LoadResult r = load_string(lines({"alerts:", "  group: g", "  interval: 30s", "  rules: []"}));
  REQUIRE_LOADS(r);
  const YAML::Node doc = YAML::Load(render_rules(*r.config));
  CHECK(doc["groups"][0]["name"].as<std::string>() == "g");
  CHECK(doc["groups"][0]["interval"].as<std::string>() == "30s");
  CHECK(doc["groups"][0]["rules"].size() == 0);
}

TEST_CASE("the example's alerts read only metrics canopy exports", "[config][rules]") {
  const auto names = referenced_metrics(example());
  CHECK(names == std::vector<std::string>{
                     "canopy_boot_failures_total", "canopy_code_upgrades_total",
                     "canopy_long_schedules_total",
                     "canopy_mailbox_messages",
                     "canopy_mailbox_oldest_age_seconds",
                     "canopy_memory_bytes",
                     "canopy_orphan_processes",
                     "canopy_process_heap_bytes", "canopy_process_mailbox_length",
                     "canopy_process_usage_ratio",
                     "canopy_scheduler_utilization_ratio",
                     "canopy_supervisor_intensity_exceeded_total",
                     "canopy_supervisor_restarts_total",
                     "canopy_table_entries",
                     "canopy_table_memory_bytes",
                     "canopy_table_usage_ratio",
                     "up",
                 });
  for (const auto& name : names) {
    INFO(name);
    CHECK((canopy::exporters::is_served_metric(name) || name == "up"));
  }
}

TEST_CASE("referenced_metrics reads canopy_* names out of raw expr, not out of strings", "[config][rules]") {
  Config c;
  AlertRule a;
  a.expr = "rate(canopy_long_schedules_total[5m]) > 0 unless on() my_canopy_x{job=\"canopy_not_a_metric\"}";
  c.alerts.rules.push_back(a);
  CHECK(referenced_metrics(c) == std::vector<std::string>{"canopy_long_schedules_total"});
}

TEST_CASE("the committed canopy-rules.yml is render_rules of the example", "[config][rules]") {
  const std::string rendered = render_rules(example());
  const std::string path = source_path(kCommittedRules);
  if (const char* update = std::getenv("CANOPY_UPDATE_RULES"); update != nullptr && std::string(update) == "1") {
    write_text(path, rendered);
  }
  INFO("regenerate with: CANOPY_UPDATE_RULES=1 canopy_config_tests '[rules]'");
  CHECK(read_text(path) == rendered);
}

TEST_CASE("promtool check rules accepts the rendered example rules", "[config][rules][promtool]") {
  const std::string tool = promtool();
  TempDir dir;
  write_text(dir.file("canopy-rules.yml"), render_rules(example()));
  const auto result = run("'" + tool + "' check rules '" + dir.file("canopy-rules.yml") + "'");
  INFO(result.output);
  CHECK(result.exit_code == 0);
  CHECK(result.output.find("SUCCESS: 16 rules found") != std::string::npos);
}

TEST_CASE("promtool check rules refuses what it should (the check is real)", "[config][rules][promtool]") {
  const std::string tool = promtool();
  TempDir dir;
  Config c;
  AlertRule bad;
  bad.name = "Broken";
  bad.expr = "sum(rate(canopy_long_schedules_total[5m]) by";  // not PromQL
  c.alerts.rules.push_back(bad);
  write_text(dir.file("bad.yml"), render_rules(c));
  const auto result = run("'" + tool + "' check rules '" + dir.file("bad.yml") + "'");
  INFO(result.output);
  CHECK(result.exit_code != 0);
}

TEST_CASE("rules.test.yml has, for each shipped alert, a firing case and a quiet case", "[config][rules]") {
  const Config c = example();
  const YAML::Node tests = YAML::LoadFile(source_path("config/prometheus/rules.test.yml"));
  REQUIRE(tests["rule_files"][0].as<std::string>() == "canopy-rules.yml");
  std::set<std::string> fires, quiet;
  for (const auto& t : tests["tests"]) {
    for (const auto& a : t["alert_rule_test"]) {
      const std::string name = a["alertname"].as<std::string>();
      if (a["exp_alerts"].IsDefined() && a["exp_alerts"].size() > 0) {
        fires.insert(name);
      } else {
        quiet.insert(name);
      }
    }
  }
  for (const auto& rule : c.alerts.rules) {
    INFO(rule.name);
    CHECK(fires.count(rule.name) == 1);
    CHECK(quiet.count(rule.name) == 1);
  }
}

TEST_CASE("a built-in histogram is read through its _bucket, _sum and _count series", "[config][rules]") {
  std::string histogram;
  for (const auto& m : canopy::metric_names()) {
    if (std::string(m.type) == "histogram") histogram = m.name;
  }
  if (histogram.empty()) return;  // none in the list (nothing to check)
  INFO(histogram);
  const LoadResult bare = load_string("alerts: {rules: [{name: A, metric: " + histogram + ", threshold: 1}]}\n");
  REQUIRE(bare.errors.size() == 1);
  CHECK(bare.errors[0].message.find("is a histogram or summary") != std::string::npos);

  const LoadResult r = load_string(lines({
      "alerts:",
      "  rules:",
      ("    - {name: A, metric: " + histogram + "_count, threshold: 1}").c_str(),
      ("    - {name: B, expr: 'histogram_quantile(0.99, sum by (le) (" + histogram + "_bucket)) > 10'}").c_str(),
  }));
  REQUIRE_LOADS(r);
  CHECK(referenced_metrics(*r.config) == std::vector<std::string>{histogram});
}

}  // namespace test_config_rules_test
