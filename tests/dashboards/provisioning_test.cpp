// The Grafana provisioning files (dashboards/provisioning/) and the README.
#include <yaml-cpp/yaml.h>

#include <catch2/catch.hpp>

#include "dashboard_support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_dashboards_provisioning_test {

using namespace canopy::dashboard_test;

namespace {

const fs::path kProvisioning = dashboards_dir() / "provisioning";
const std::string kDashboardsPath = "/etc/grafana/dashboards/canopy";

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("provisioning: the datasource file provides Prometheus with uid prometheus", "[dashboards][provisioning]") {
  const fs::path file = kProvisioning / "datasources" / "prometheus.yml";
  REQUIRE(fs::is_regular_file(file));
  const std::string text = read_text(file);
  CHECK(contains(text, "uid: prometheus"));
  CHECK(contains(text, "url: http://127.0.0.1:9090"));

  const YAML::Node doc = YAML::LoadFile(file.string());
  CHECK(doc["apiVersion"].as<int>() == 1);
  REQUIRE(doc["datasources"].IsSequence());
  REQUIRE(doc["datasources"].size() == 1);
  const YAML::Node ds = doc["datasources"][0];
  CHECK(ds["type"].as<std::string>() == "prometheus");
  CHECK(ds["uid"].as<std::string>() == "prometheus");
  CHECK(ds["url"].as<std::string>() == "http://127.0.0.1:9090");
  CHECK(ds["access"].as<std::string>() == "proxy");
  CHECK_FALSE(ds["name"].as<std::string>().empty());

  // Every dashboard's datasource variable defaults to the provisioned uid.
  for (const auto& d : load_dashboards()) {
    INFO(d.file);
    const auto v = variable(d.model, "datasource");
    REQUIRE(v);
    CHECK((*v)["current"]["value"] == ds["uid"].as<std::string>());
  }
}

TEST_CASE("provisioning: the dashboards file loads the dashboards folder", "[dashboards][provisioning]") {
  const fs::path file = kProvisioning / "dashboards" / "canopy.yml";
  REQUIRE(fs::is_regular_file(file));
  const std::string text = read_text(file);
  CHECK(contains(text, "type: file"));
  CHECK(contains(text, "path: " + kDashboardsPath));

  const YAML::Node doc = YAML::LoadFile(file.string());
  CHECK(doc["apiVersion"].as<int>() == 1);
  REQUIRE(doc["providers"].IsSequence());
  REQUIRE(doc["providers"].size() == 1);
  const YAML::Node p = doc["providers"][0];
  CHECK(p["type"].as<std::string>() == "file");
  CHECK(p["folder"].as<std::string>() == "canopy");
  CHECK(p["options"]["path"].as<std::string>() == kDashboardsPath);
  CHECK(p["updateIntervalSeconds"].as<int>() > 0);

  // Only the dashboards are JSON: the provider loads every *.json under its
  // path, provisioning/ included when the path is this folder.
  for (const auto& e : fs::recursive_directory_iterator(kProvisioning)) {
    INFO(e.path());
    CHECK(e.path().extension() != ".json");
  }
}

TEST_CASE("provisioning: the README explains import by UI and by provisioning", "[dashboards][provisioning]") {
  const fs::path file = dashboards_dir() / "README.md";
  REQUIRE(fs::is_regular_file(file));
  const std::string text = read_text(file);
  for (const auto& uid : expected_uids()) {
    INFO(uid);
    CHECK(contains(text, uid + ".json"));
  }
  for (const char* part : {"Dashboards → New → Import", "Upload dashboard JSON",
                           "provisioning/datasources/prometheus.yml", "provisioning/dashboards/canopy.yml",
                           "/etc/grafana/provisioning", "GF_PATHS_PROVISIONING", "/etc/grafana/dashboards/canopy",
                           "uid `prometheus`", "http://127.0.0.1:9090", "core/src/instrumentation/metric_names.cc"}) {
    INFO(part);
    CHECK(contains(text, part));
  }
}

}  // namespace test_dashboards_provisioning_test
