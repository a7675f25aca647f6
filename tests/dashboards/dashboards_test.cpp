// The shipped Grafana dashboards (dashboards/*.json): JSON model, variables,
// panels, and the PromQL of every query against the metric-name contract.
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <catch2/catch.hpp>
#include <cstdlib>

#include "dashboard_support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_dashboards_dashboards_test {

using namespace canopy::dashboard_test;

namespace {

const std::string kFilter = "job=\"$job\"";
const std::string kInstanceFilter = "instance=~\"$instance\"";
const std::string kNodeFilter = "node=~\"$node\"";

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::set<std::string> families_used(const Dashboard& d) {
  std::set<std::string> out;
  for (const auto& q : queries_of(d)) {
    for (const auto& t : metric_like_names(q.expr)) {
      if (auto f = family_of(t.text)) out.insert(*f);
    }
    for (const auto& s : selectors(q.expr)) {
      if (s.name == "ALERTS" || s.name == "up") out.insert(s.name);
    }
  }
  return out;
}

const Dashboard& by_uid(const std::vector<Dashboard>& all, const std::string& uid) {
  for (const auto& d : all) {
    if (d.file == uid) return d;
  }
  FAIL("no dashboard " << uid);
  throw std::logic_error("unreachable");
}

// The variables the end-to-end test substitutes ($datasource is Grafana's).
const std::set<std::string>& substituted_variables() {
  static const std::set<std::string> vars = {"job", "instance", "node", "__rate_interval", "process", "table", "supervisor"};
  return vars;
}

std::string substitute(std::string expr) {
  const std::vector<std::pair<std::string, std::string>> subs = {
      {"$__rate_interval", "1m"},   {"$instance", "127.0.0.1:9464"}, {"$job", "canopy"}, {"$node", "canopy"},
      {"$process", "order_intake"}, {"$table", "sessions"},          {"$supervisor", "orders"}};
  for (const auto& [from, to] : subs) {
    for (size_t at = expr.find(from); at != std::string::npos; at = expr.find(from, at + to.size())) {
      expr.replace(at, from.size(), to);
    }
  }
  return expr;
}

}  // namespace

TEST_CASE("the five dashboards are shipped", "[dashboards]") {
  for (const auto& uid : expected_uids()) {
    INFO(uid);
    CHECK(fs::is_regular_file(dashboards_dir() / (uid + ".json")));
  }
  CHECK(load_dashboards().size() == expected_uids().size());
}

TEST_CASE("every dashboard is a current Grafana JSON model with a stable uid", "[dashboards]") {
  const auto all = load_dashboards();
  REQUIRE_FALSE(all.empty());
  for (const auto& d : all) {
    INFO(d.file);
    const json& m = d.model;
    REQUIRE(m.is_object());
    REQUIRE(m.contains("schemaVersion"));
    CHECK(m["schemaVersion"].get<int>() >= 39);
    REQUIRE(m.contains("uid"));
    CHECK(m["uid"].get<std::string>() == d.file);
    CHECK(m["uid"].get<std::string>().size() <= 40);  // Grafana's uid limit
    REQUIRE(m.contains("title"));
    CHECK_FALSE(m["title"].get<std::string>().empty());
    // Importable anywhere: no instance-specific numeric id.
    CHECK((!m.contains("id") || m["id"].is_null()));
    REQUIRE(m.contains("panels"));
    CHECK(m["panels"].is_array());
    CHECK_FALSE(m["panels"].empty());
    REQUIRE(m.contains("templating"));
    CHECK(m["templating"]["list"].is_array());
    CHECK(m.contains("time"));
  }
  // Titles are distinct, so the dashboards are told apart in search.
  std::set<std::string> titles;
  for (const auto& d : all) titles.insert(d.model["title"].get<std::string>());
  CHECK(titles.size() == all.size());
}

TEST_CASE("every dashboard has the datasource, job, instance and node variables", "[dashboards]") {
  for (const auto& d : load_dashboards()) {
    INFO(d.file);
    const auto ds = variable(d.model, "datasource");
    REQUIRE(ds);
    CHECK((*ds)["type"] == "datasource");
    CHECK((*ds)["query"] == "prometheus");

    const auto job = variable(d.model, "job");
    REQUIRE(job);
    CHECK((*job)["type"] == "query");
    CHECK(variable_query(*job) == "label_values(up, job)");
    CHECK((*job)["current"]["value"] == "canopy");
    CHECK((*job)["datasource"]["uid"] == "${datasource}");

    const auto instance = variable(d.model, "instance");
    REQUIRE(instance);
    CHECK((*instance)["type"] == "query");
    CHECK(variable_query(*instance) == "label_values(up{job=\"$job\"}, instance)");
    CHECK((*instance)["multi"] == true);
    CHECK((*instance)["includeAll"] == true);
    // "All" must match every instance in instance=~"$instance".
    CHECK((*instance)["allValue"] == ".*");
    CHECK((*instance)["datasource"]["uid"] == "${datasource}");

    // A fleet: the node label every series carries (node.name), multi-select
    // with "All", listed from a series every node exports.
    const auto node = variable(d.model, "node");
    REQUIRE(node);
    CHECK((*node)["type"] == "query");
    CHECK(variable_query(*node) == "label_values(canopy_processes{job=\"$job\", instance=~\"$instance\"}, node)");
    CHECK((*node)["multi"] == true);
    CHECK((*node)["includeAll"] == true);
    CHECK((*node)["allValue"] == ".*");
    CHECK((*node)["current"]["value"] == json::array({"$__all"}));
    CHECK((*node)["datasource"]["uid"] == "${datasource}");
  }
}

TEST_CASE("every variable a query uses is defined, with a filtered query", "[dashboards]") {
  const auto all = load_dashboards();
  const std::map<std::string, std::string> needed = {
      {"canopy-processes", "process"}, {"canopy-tables", "table"}, {"canopy-supervision", "supervisor"}};
  for (const auto& [uid, name] : needed) {
    INFO(uid << " $" << name);
    const auto v = variable(by_uid(all, uid).model, name);
    REQUIRE(v);
    CHECK((*v)["type"] == "query");
    const std::string q = variable_query(*v);
    CHECK(q.rfind("label_values(", 0) == 0);
    CHECK(contains(q, kFilter));
    CHECK(contains(q, kInstanceFilter));
    CHECK(contains(q, kNodeFilter));
    CHECK(contains(q, ", " + name + ")"));
    CHECK((*v)["datasource"]["uid"] == "${datasource}");
  }
  for (const auto& d : all) {
    for (const auto& q : queries_of(d)) {
      for (const auto& var : variables_used(q.expr)) {
        if (var.rfind("__", 0) == 0) continue;  // Grafana's own
        INFO(q.where << ": $" << var);
        CHECK(variable(d.model, var).has_value());
      }
    }
  }
}

TEST_CASE("every panel has a title, a description, a unit and the datasource variable", "[dashboards]") {
  for (const auto& d : load_dashboards()) {
    for (const auto& p : panels_of(d.model)) {
      INFO(panel_name(d.file, p));
      CHECK_FALSE(p.value("title", std::string{}).empty());
      CHECK(p.value("description", std::string{}).size() >= 20);
      REQUIRE(p.contains("fieldConfig"));
      REQUIRE(p["fieldConfig"].contains("defaults"));
      CHECK_FALSE(p["fieldConfig"]["defaults"].value("unit", std::string{}).empty());
      REQUIRE(p.contains("datasource"));
      CHECK(p["datasource"]["type"] == "prometheus");
      CHECK(p["datasource"]["uid"] == "${datasource}");
      const std::set<std::string> kinds = {"timeseries", "stat", "gauge", "bargauge", "table"};
      CHECK(kinds.count(p.value("type", std::string{})) == 1);
    }
  }
}

TEST_CASE("every panel has targets with distinct refIds and an expr", "[dashboards]") {
  for (const auto& d : load_dashboards()) {
    for (const auto& p : panels_of(d.model)) {
      INFO(panel_name(d.file, p));
      REQUIRE(p.contains("targets"));
      REQUIRE(p["targets"].is_array());
      CHECK_FALSE(p["targets"].empty());
      std::set<std::string> refs;
      for (const auto& t : p["targets"]) {
        const std::string ref = t.value("refId", std::string{});
        CHECK_FALSE(ref.empty());
        CHECK(refs.insert(ref).second);
        CHECK_FALSE(t.value("expr", std::string{}).empty());
        if (t.contains("datasource")) {
          CHECK(t["datasource"]["type"] == "prometheus");
          CHECK(t["datasource"]["uid"] == "${datasource}");
        }
      }
    }
  }
}

TEST_CASE("panel ids are unique and gridPos lays the panels out without overlap", "[dashboards]") {
  for (const auto& d : load_dashboards()) {
    std::set<int> ids;
    std::set<std::pair<int, int>> cells;
    for (const auto& p : panels_of(d.model)) {
      INFO(panel_name(d.file, p));
      REQUIRE(p.contains("id"));
      CHECK(ids.insert(p["id"].get<int>()).second);
      REQUIRE(p.contains("gridPos"));
      const json& g = p["gridPos"];
      for (const char* k : {"x", "y", "w", "h"}) REQUIRE(g.contains(k));
      const int x = g["x"], y = g["y"], w = g["w"], h = g["h"];
      CHECK(x >= 0);
      CHECK(y >= 0);
      CHECK(w > 0);
      CHECK(h > 0);
      CHECK(x + w <= 24);
      for (int cx = x; cx < x + w; ++cx) {
        for (int cy = y; cy < y + h; ++cy) {
          if (!cells.insert({cx, cy}).second) FAIL_CHECK("overlaps another panel at " << cx << "," << cy);
        }
      }
    }
  }
}

TEST_CASE("units are Grafana unit ids", "[dashboards]") {
  const std::set<std::string> units = {"short", "none", "percent", "percentunit", "bytes", "decbytes", "s",
                                       "ms",    "ops",  "cps",     "reqps",       "Bps",   "binBps",   "dtdurations"};
  for (const auto& d : load_dashboards()) {
    for (const auto& p : panels_of(d.model)) {
      INFO(panel_name(d.file, p));
      CHECK(units.count(p["fieldConfig"]["defaults"].value("unit", std::string{})) == 1);
      for (const auto& o : p["fieldConfig"].value("overrides", json::array())) {
        for (const auto& prop : o.value("properties", json::array())) {
          if (prop.value("id", std::string{}) == "unit") CHECK(units.count(prop["value"].get<std::string>()) == 1);
        }
      }
    }
  }
}

TEST_CASE("every metric name in every query is in canopy::exporters::served_metric_names()", "[dashboards]") {
  size_t names = 0;
  for (const auto& d : load_dashboards()) {
    for (const auto& q : queries_of(d)) {
      INFO(q.where << ": " << q.expr);
      for (const auto& t : metric_like_names(q.expr)) {
        INFO(t.text);
        CHECK(family_of(t.text).has_value());
        ++names;
      }
      // Any other selector: only Prometheus's own up and ALERTS.
      for (const auto& s : selectors(q.expr)) {
        if (family_of(s.name)) continue;
        INFO("selector " << s.name);
        CHECK((s.name == "up" || s.name == "ALERTS"));
      }
    }
  }
  CHECK(names > 50);
}

TEST_CASE("histograms are read through their _bucket, _sum and _count series", "[dashboards]") {
  for (const auto& d : load_dashboards()) {
    for (const auto& q : queries_of(d)) {
      for (const auto& t : metric_like_names(q.expr)) {
        const canopy::MetricName* m = find_metric(t.text);
        INFO(q.where << ": " << t.text);
        CHECK((m == nullptr || std::string(m->type) != "histogram"));
      }
    }
  }
}

TEST_CASE("the population snapshots are gauges: never rated, at_most renamed le for histogram_quantile",
          "[dashboards]") {
  size_t uses = 0;
  for (const auto& d : load_dashboards()) {
    for (const auto& q : queries_of(d)) {
      bool population = false;
      for (const auto& t : metric_like_names(q.expr)) {
        if (t.text.rfind("canopy_processes_by_", 0) != 0) continue;
        population = true;
        const canopy::MetricName* m = find_metric(t.text);
        INFO(q.where << ": " << t.text);
        REQUIRE(m != nullptr);
        CHECK(std::string(m->type) == "gauge");
      }
      if (!population) continue;
      ++uses;
      INFO(q.where << ": " << q.expr);
      // Not even around another function: a snapshot's fall is no counter reset.
      for (const char* fn : {"rate(", "increase(", "resets("}) CHECK_FALSE(contains(q.expr, fn));
      // The bound label is at_most; histogram_quantile and Grafana's heatmap format want le.
      if (contains(q.expr, "histogram_quantile(") || contains(q.expr, "by (le)")) {
        CHECK(contains(q.expr, "label_replace("));
        CHECK(contains(q.expr, "\"le\", \"$1\", \"at_most\", \"(.*)\")"));
      }
    }
  }
  CHECK(uses >= 10);
}

TEST_CASE("every canopy selector is filtered by job, instance and node", "[dashboards]") {
  for (const auto& d : load_dashboards()) {
    for (const auto& q : queries_of(d)) {
      // The job, instance and node variables list what the filters select from.
      if (q.where == d.file + ": variable job" || q.where == d.file + ": variable instance") continue;
      const bool node_variable = q.where == d.file + ": variable node";
      for (const auto& s : selectors(q.expr)) {
        INFO(q.where << ": " << s.name << "{" << s.matchers << "}");
        CHECK(s.has_braces);
        CHECK(contains(s.matchers, kInstanceFilter));
        if (!node_variable) CHECK(contains(s.matchers, kNodeFilter));
        // ALERTS carry the labels their rule keeps (instance), not job.
        if (s.name != "ALERTS") CHECK(contains(s.matchers, kFilter));
        if (s.name == "ALERTS") CHECK(contains(s.matchers, "alertstate=\"firing\""));
      }
    }
  }
}

TEST_CASE("a query that splits by instance splits by node too; legends name the node", "[dashboards]") {
  // Across a fleet a node is what people name; sums either go across every
  // selected node (no grouping) or keep `node`.
  for (const auto& d : load_dashboards()) {
    for (const auto& q : queries_of(d)) {
      for (size_t at = q.expr.find("by ("); at != std::string::npos; at = q.expr.find("by (", at + 1)) {
        const std::string labels = q.expr.substr(at, q.expr.find(')', at) - at);
        INFO(q.where << ": " << labels);
        if (contains(labels, "instance")) CHECK(contains(labels, "node"));
      }
    }
    for (const auto& panel : panels_of(d.model)) {
      for (const auto& t : panel.value("targets", json::array())) {
        const std::string legend = t.value("legendFormat", std::string{});
        INFO(d.file << ": " << panel.value("title", std::string{}) << ": legend " << legend);
        CHECK_FALSE(contains(legend, "{{instance}}"));
      }
    }
  }
}

TEST_CASE("counters are read through rate() or increase(), gauges are not", "[dashboards]") {
  const std::set<std::string> counter_fns = {"rate", "increase", "irate"};
  for (const auto& d : load_dashboards()) {
    for (const auto& q : queries_of(d)) {
      if (q.where.find(": variable ") != std::string::npos) continue;
      for (const auto& t : metric_like_names(q.expr)) {
        const canopy::MetricName* m = find_metric(t.text);
        if (m == nullptr) continue;
        const std::string fn = enclosing_function(q.expr, t.begin);
        INFO(q.where << ": " << t.text << " inside " << (fn.empty() ? "(top level)" : fn + "()"));
        if (std::string(m->type) == "counter") CHECK(counter_fns.count(fn) == 1);
        if (std::string(m->type) == "gauge") CHECK(counter_fns.count(fn) == 0);
      }
    }
  }
}

TEST_CASE("queries use only the variables the end-to-end test substitutes", "[dashboards]") {
  for (const auto& d : load_dashboards()) {
    for (const auto& q : queries_of(d)) {
      INFO(q.where << ": " << q.expr);
      CHECK_FALSE(contains(q.expr, "${"));  // the e2e test substitutes $name only
      CHECK_FALSE(contains(q.expr, "$__range"));
      CHECK_FALSE(contains(q.expr, "$__interval"));
      for (const auto& v : variables_used(q.expr)) {
        INFO("$" << v);
        CHECK(substituted_variables().count(v) == 1);
      }
    }
  }
}

TEST_CASE("series that may not exist yet fall back to 0", "[dashboards]") {
  // Series that do not exist until something happens: a healthy node may
  // never have dropped a message, so the query must still return a value.
  const std::set<std::string> event_born = {
      "canopy_process_spawns_total", "canopy_process_exits_total", "canopy_messages_dropped_total",
      "canopy_long_schedules_total", "canopy_large_heap_total", "canopy_mailbox_high_watermark_total",
      "canopy_supervisor_restarts_total", "canopy_supervisor_intensity_exceeded_total", "canopy_boot_failures_total",
      "canopy_table_evictions_total", "canopy_table_expirations_total",
      // A healthy pipeline drops, redelivers and fails nothing.
      "canopy_stage_dropped_total", "canopy_stage_redeliveries_total", "canopy_stage_failed_events_total",
      // Per-table series: a healthy node may have no table at all.
      "canopy_table_entries", "canopy_table_memory_bytes", "canopy_table_usage_ratio"};
  for (const auto& d : load_dashboards()) {
    for (const auto& q : queries_of(d)) {
      if (q.where.find(": variable ") != std::string::npos) continue;
      bool needs_zero = false;
      for (const auto& t : metric_like_names(q.expr)) needs_zero = needs_zero || event_born.count(t.text) == 1;
      for (const auto& s : selectors(q.expr)) needs_zero = needs_zero || s.name == "ALERTS";
      if (!needs_zero) continue;
      INFO(q.where << ": " << q.expr);
      CHECK(contains(q.expr, "vector(0)"));
    }
  }
}

TEST_CASE("every query has balanced brackets", "[dashboards]") {
  for (const auto& d : load_dashboards()) {
    for (const auto& q : queries_of(d)) {
      INFO(q.where << ": " << q.expr);
      CHECK(balanced(q.expr));
    }
  }
}

TEST_CASE("every panel query parses as PromQL (promtool check rules)", "[dashboards]") {
  const std::string promtool = CANOPY_PROMTOOL;
  if (promtool.empty()) {
    FAIL("promtool not found: install the prometheus package (apt-get install prometheus) and re-run cmake");
  }
  // Each expr, with the variables substituted as the end-to-end test does,
  // as a recording rule: promtool parses it with Prometheus's own parser.
  YAML::Emitter out;
  out << YAML::BeginMap << YAML::Key << "groups" << YAML::Value << YAML::BeginSeq;
  out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << "dashboards";
  out << YAML::Key << "rules" << YAML::Value << YAML::BeginSeq;
  size_t n = 0;
  for (const auto& d : load_dashboards()) {
    for (const auto& p : panels_of(d.model)) {
      for (const auto& t : p.value("targets", json::array())) {
        out << YAML::BeginMap << YAML::Key << "record" << YAML::Value << "dashboard:query_" + std::to_string(++n);
        out << YAML::Key << "expr" << YAML::Value << YAML::DoubleQuoted << substitute(t.value("expr", std::string{}));
        out << YAML::EndMap;
      }
    }
  }
  out << YAML::EndSeq << YAML::EndMap << YAML::EndSeq << YAML::EndMap;
  REQUIRE(n > 50);
  const fs::path dir = fs::temp_directory_path() / ("canopy-dashboards-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path rules = dir / "queries.yml";
  const fs::path log = dir / "promtool.log";
  {
    std::ofstream f(rules);
    f << out.c_str() << "\n";
  }
  const std::string cmd = "'" + promtool + "' check rules '" + rules.string() + "' > '" + log.string() + "' 2>&1";
  const int rc = std::system(cmd.c_str());
  const std::string output = read_text(log);
  INFO(output);
  CHECK(rc == 0);
  CHECK(contains(output, "SUCCESS: " + std::to_string(n) + " rules found"));
  fs::remove_all(dir);
}

TEST_CASE("the dashboards have the panels the spec asks for", "[dashboards]") {
  const auto all = load_dashboards();
  const std::map<std::string, std::set<std::string>> required = {
      {"canopy-overview",
       {"canopy_scheduler_utilization_ratio", "canopy_run_queue_length", "canopy_processes", "canopy_process_limit",
        "canopy_process_usage_ratio", "canopy_memory_bytes", "canopy_messages_sent_total",
        "canopy_messages_dropped_total", "canopy_mailbox_messages", "canopy_mailbox_oldest_age_seconds",
        "canopy_supervisor_restarts_total", "ALERTS", "canopy_orphan_processes", "canopy_long_schedules_total", "up"}},
      {"canopy-processes",
       {"canopy_process_mailbox_length", "canopy_process_heap_bytes", "canopy_process_reductions_total",
        "canopy_process_cpu_seconds_total", "canopy_process_mailbox_oldest_age_seconds",
        "canopy_processes_by_mailbox_length", "canopy_processes_by_mailbox_length_gcount",
        "canopy_processes_by_mailbox_length_gsum", "canopy_processes_by_heap_bytes",
        "canopy_processes_by_heap_bytes_gcount", "canopy_processes_by_heap_bytes_gsum"}},
      {"canopy-tables",
       {"canopy_tables", "canopy_table_entries", "canopy_table_memory_bytes", "canopy_table_usage_ratio",
        "canopy_table_evictions_total", "canopy_table_expirations_total"}},
      {"canopy-supervision",
       {"canopy_supervisor_restarts_total", "canopy_supervisor_restart_budget_remaining",
        "canopy_supervisor_intensity_exceeded_total", "canopy_boot_failures_total", "canopy_orphan_processes"}},
      {"canopy-stages",
       {"canopy_stage_events_in_total", "canopy_stage_events_out_total", "canopy_stage_dropped_total",
        "canopy_stage_acks_total", "canopy_stage_redeliveries_total", "canopy_stage_failed_events_total",
        "canopy_stage_demand_outstanding", "canopy_stage_buffer_length", "canopy_stage_processing_duration_seconds"}},
  };
  for (const auto& [uid, metrics] : required) {
    const auto used = families_used(by_uid(all, uid));
    for (const auto& m : metrics) {
      INFO(uid << " uses " << m);
      CHECK(used.count(m) == 1);
    }
  }
  auto exprs = [&](const std::string& uid) {
    std::string s;
    for (const auto& q : queries_of(by_uid(all, uid))) s += q.expr + "\n";
    return s;
  };
  CHECK(contains(exprs("canopy-processes"), "topk(10, canopy_process_mailbox_length"));
  CHECK(contains(exprs("canopy-processes"), "histogram_quantile("));
  CHECK(contains(exprs("canopy-processes"), "process=\"$process\""));
  CHECK(contains(exprs("canopy-tables"), "deriv(canopy_table_entries"));
  CHECK(contains(exprs("canopy-tables"), "table=\"$table\""));
  CHECK(contains(exprs("canopy-supervision"), "sum by (supervisor, child)"));
  CHECK(contains(exprs("canopy-supervision"), "supervisor=\"$supervisor\""));
  CHECK(contains(exprs("canopy-overview"), "count(ALERTS{alertstate=\"firing\""));
}

TEST_CASE("the metric name checks catch names outside the list", "[dashboards]") {
  // The extraction itself, so the checks above cannot pass vacuously.
  const std::string expr =
      "sum by (process) (rate(canopy_process_reductions_total{job=\"$job\", process=\"$process\"}[$__rate_interval]))"
      " / canopy_made_up_metric{job=\"$job\"} + histogram_quantile(0.9, "
      "canopy_stage_processing_duration_seconds_bucket)"
      " + process_open_fds + canopy_processes_count + node_load1{job=\"x\"}";
  std::vector<std::string> names;
  for (const auto& t : metric_like_names(expr)) names.push_back(t.text);
  CHECK(names == std::vector<std::string>{"canopy_process_reductions_total", "canopy_made_up_metric",
                                          "canopy_stage_processing_duration_seconds_bucket", "process_open_fds",
                                          "canopy_processes_count"});
  CHECK(family_of("canopy_process_reductions_total") == std::optional<std::string>("canopy_process_reductions_total"));
  CHECK_FALSE(family_of("canopy_made_up_metric").has_value());
  CHECK(family_of("canopy_stage_processing_duration_seconds_bucket") ==
        std::optional<std::string>("canopy_stage_processing_duration_seconds"));
  CHECK(family_of("canopy_stage_processing_duration_seconds_count") ==
        std::optional<std::string>("canopy_stage_processing_duration_seconds"));
  // _count of a gauge is not a histogram series.
  CHECK_FALSE(family_of("canopy_processes_count").has_value());
  CHECK_FALSE(family_of("canopy_memory_bytes_sum").has_value());
  // The population snapshots are gauges: their old histogram series names are no family.
  CHECK_FALSE(family_of("canopy_processes_by_heap_bytes_bucket").has_value());
  CHECK_FALSE(family_of("canopy_processes_by_mailbox_length_count").has_value());
  CHECK(family_of("canopy_processes_by_mailbox_length_gcount") ==
        std::optional<std::string>("canopy_processes_by_mailbox_length_gcount"));

  std::vector<std::string> sel;
  for (const auto& s : selectors(expr)) sel.push_back(s.name);
  CHECK(std::find(sel.begin(), sel.end(), "node_load1") != sel.end());
  CHECK(std::find(sel.begin(), sel.end(), "by") == sel.end());

  const std::string rated = "sum(rate(canopy_messages_sent_total{a=\"b\"}[1m])) + canopy_processes";
  CHECK(enclosing_function(rated, rated.find("canopy_messages")) == "rate");
  CHECK(enclosing_function(rated, rated.find("canopy_processes")).empty());
  CHECK(enclosing_function("sum by (x) (foo)", 12) == "");
  CHECK(variables_used("a{b=\"$job\", c=~\"${instance}\"}[$__rate_interval]") ==
        std::set<std::string>{"job", "instance", "__rate_interval"});
  CHECK(variables_used("label_replace(a{b=\"$job\"}, \"le\", \"$1\", \"at_most\", \"(.*)\")") ==
        std::set<std::string>{"job"});
  CHECK(balanced("sum(rate(a{b=\")\"}[1m]))"));
  CHECK_FALSE(balanced("sum(rate(a[1m])"));
}

}  // namespace test_dashboards_dashboards_test
