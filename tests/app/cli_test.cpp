// The canopy binary as a user runs it: exit codes, `run` on a free port,
// reload on SIGHUP, clean shutdown on SIGTERM.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../exporters/http_client.hpp"

extern char** environ;

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_app_cli_test {

namespace {

using namespace std::chrono_literals;

struct TempDir {
  TempDir() {
    char t[] = "/tmp/canopy-cli-XXXXXX";
    path = mkdtemp(t);
  }
  ~TempDir() { std::system(("rm -rf " + path).c_str()); }
  std::string file(const std::string& name, const std::string& content) const {
    const std::string p = path + "/" + name;
    std::ofstream(p) << content;
    return p;
  }
  std::string path;
};

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Runs canopy with `args`, stdout+stderr to `out`; returns the pid.
pid_t start(const std::vector<std::string>& args, const std::string& out) {
  std::vector<std::string> all = {CANOPY_BINARY};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, CANOPY_BINARY, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  REQUIRE(rc == 0);
  return pid;
}

// Waits (bounded) for the child's exit code; kills it if it overstays.
int finish(pid_t pid, std::chrono::seconds limit = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(10ms);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

int run_to_end(const std::vector<std::string>& args, std::string& output) {
  TempDir d;
  const std::string out = d.path + "/out.txt";
  const int code = finish(start(args, out));
  output = slurp(out);
  return code;
}

// The port a running canopy logged ("... at http://127.0.0.1:PORT").
int wait_for_port(const std::string& log) {
  const std::regex re("at https?://127\\.0\\.0\\.1:([0-9]+)");
  for (int i = 0; i < 3000; ++i) {
    std::smatch m;
    const std::string text = slurp(log);
    if (std::regex_search(text, m, re)) return std::stoi(m[1]);
    std::this_thread::sleep_for(10ms);
  }
  return 0;
}

bool eventually(const std::function<bool()>& pred, std::chrono::seconds limit = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

}  // namespace

TEST_CASE("canopy --version, --help and bad commands have the right exit codes", "[cli]") {
  std::string out;
  CHECK(run_to_end({"--version"}, out) == 0);
  CHECK(out.find("canopy 0.") == 0);
  CHECK(run_to_end({"--help"}, out) == 0);
  CHECK(out.find("usage: canopy") != std::string::npos);
  CHECK(run_to_end({"launch"}, out) == 2);
  CHECK(out.find("unknown command 'launch'") != std::string::npos);
  CHECK(run_to_end({"run", "--colour"}, out) == 2);
  CHECK(out.find("unknown option '--colour'") != std::string::npos);
  CHECK(run_to_end({}, out) == 2);
}

TEST_CASE("canopy check passes the shipped configs and lists every error of a bad one", "[cli][config]") {
  std::string out;
  CHECK(run_to_end({"check", CANOPY_SOURCE_DIR "/config/canopy.yaml"}, out) == 0);
  CHECK(run_to_end({"check", CANOPY_SOURCE_DIR "/config/canopy.example.yaml"}, out) == 0);
  TempDir d;
  const std::string bad = d.file("bad.yaml",
                                 "server:\n"
                                 "  listen: nowhere\n"
                                 "telemetry:\n"
                                 "  pol_interval: 1s\n");
  CHECK(run_to_end({"check", bad}, out) == 1);
  CHECK(out.find(bad + ":2:") != std::string::npos);
  CHECK(out.find(bad + ":4:3") != std::string::npos);
  CHECK(out.find("poll_interval") != std::string::npos);
  CHECK(run_to_end({"check", d.path + "/missing.yaml"}, out) == 1);
  CHECK(run_to_end({"check"}, out) == 2);
}

TEST_CASE("canopy rules renders the alerts of the shipped config", "[cli][rules]") {
  std::string out;
  CHECK(run_to_end({"rules", CANOPY_SOURCE_DIR "/config/canopy.example.yaml"}, out) == 0);
  CHECK(out.find("groups:") != std::string::npos);
  CHECK(out.find("alert:") != std::string::npos);
}

TEST_CASE("canopy run serves metrics, reloads on SIGHUP, keeps the old config on a bad reload and stops on SIGTERM",
          "[cli][run]") {
  TempDir d;
  const std::string log = d.path + "/canopy.log";
  // POST /-/reload below is an admin route: opt in to token-less admin.
  const std::string good =
      "server:\n  listen: \"127.0.0.1:0\"\n  admin_without_token: loopback\n"
      "workload:\n  enabled: false\n"
      "logging:\n  level: info\n";
  const std::string cfg = d.file("canopy.yaml", good);
  const pid_t pid = start({"run", "--config", cfg}, log);
  const int port = wait_for_port(log);
  REQUIRE(port > 0);
  CHECK(canopy::test::request(port, "GET", "/healthz").status == 200);
  auto metrics = canopy::test::request(port, "GET", "/metrics");
  CHECK(metrics.status == 200);
  CHECK(metrics.body.find("canopy_processes") != std::string::npos);
  // Token-less admin is on: canopy says so, and why it is dangerous.
  CHECK(eventually(
      [&] { return slurp(log).find("admin routes are open without a token to loopback peers") != std::string::npos; }));

  // A good reload changes the level live.
  std::ofstream(cfg) << "server:\n  listen: \"127.0.0.1:0\"\n  admin_without_token: loopback\nworkload:\n  enabled: "
                        "false\nlogging:\n  level: debug\n";
  REQUIRE(kill(pid, SIGHUP) == 0);
  CHECK(eventually([&] { return slurp(log).find("config reloaded") != std::string::npos; }));

  // A bad one is refused and the server keeps running.
  std::ofstream(cfg) << "server:\n  listen: \"127.0.0.1:0\"\ntelemetry:\n  poll_interval: soon\n";
  auto reload = canopy::test::request(port, "POST", "/-/reload");
  CHECK(reload.status == 400);
  CHECK(canopy::test::json_of(reload)["error"].get<std::string>().find("poll_interval") != std::string::npos);
  CHECK(canopy::test::request(port, "GET", "/healthz").status == 200);

  REQUIRE(kill(pid, SIGTERM) == 0);
  CHECK(finish(pid) == 0);
  CHECK(slurp(log).find("canopy stopped") != std::string::npos);
}

TEST_CASE("canopy run's workload, tables and alerts answer valid JSON, and its JSON log lines are valid JSON",
          "[cli][run][json]") {
  using canopy::test::json_of;
  using canopy::test::request;
  TempDir d;
  const std::string log = d.path + "/canopy.log";
  // The fault switches are admin routes: opt in to token-less admin.
  const std::string cfg = d.file("canopy.yaml",
                                 "server:\n  listen: \"127.0.0.1:0\"\n  admin_without_token: loopback\n"
                                 "workload:\n  enabled: true\n  workers: 2\n  producers: 1\n  message_rate: 100\n"
                                 "  crash_interval: 0s\n"
                                 "logging:\n  level: info\n  format: json\n");
  const pid_t pid = start({"run", "--config", cfg}, log);
  const int port = wait_for_port(log);
  REQUIRE(port > 0);
  const std::string faults = "/api/v1/workload/faults";

  // The workload starts after the server: its routes answer once it runs.
  canopy::test::HttpResponse list;
  CHECK(eventually([&] { return (list = request(port, "GET", faults)).status == 200; }));
  const nlohmann::json all = json_of(list);
  REQUIRE(all.is_array());
  CHECK(all.size() == 7);
  CHECK(all[0]["fault"] == "mailbox_flood");
  CHECK(all[0]["enabled"] == false);
  CHECK(all[0]["culprit"].is_string());

  // Regression: the unknown fault's name was put into the error unescaped.
  auto quoted = request(port, "PUT", faults + "/a%22b", R"({"enabled": true})");
  CHECK(quoted.status == 404);
  CHECK(json_of(quoted)["error"].get<std::string>().find("no fault 'a\"b' (faults: mailbox_flood,") == 0);

  // The body is parsed: "enabled" as a string value is not the member.
  auto on = request(port, "PUT", faults + "/runaway", R"({"note": "enabled", "x": false, "enabled": true})");
  CHECK(on.status == 200);
  CHECK(json_of(on) == nlohmann::json::parse(R"({"fault": "runaway", "enabled": true, "culprit": "report_builder",
      "description": "report_builder spins for 300 ms in each handler"})"));
  auto off = request(port, "PUT", faults + "/runaway", R"({"enabled": false})");
  CHECK(off.status == 200);
  CHECK(json_of(off)["enabled"] == false);
  auto no_member = request(port, "PUT", faults + "/runaway", R"({"note": "enabled", "x": true})");
  CHECK(no_member.status == 400);
  CHECK(json_of(no_member)["error"].is_string());
  auto wrong_method = request(port, "POST", faults + "/a%22b");
  CHECK(wrong_method.status == 405);
  CHECK(json_of(wrong_method)["error"].get<std::string>().find("/api/v1/workload/faults/a\"b") != std::string::npos);

  auto tables = request(port, "GET", "/api/v1/tables");
  CHECK(tables.status == 200);
  const nlohmann::json t = json_of(tables);
  REQUIRE(t.is_array());
  bool cache = false;
  for (const auto& table : t) {
    if (table["name"] != "order_cache") continue;
    cache = true;
    CHECK(table["max_entries"] == 10000);
    CHECK(table["default_ttl_seconds"] == 30);
  }
  CHECK(cache);
  auto alerts = request(port, "GET", "/api/v1/alerts");
  CHECK(alerts.status == 200);
  const nlohmann::json a = json_of(alerts);
  REQUIRE(a.is_array());
  for (const auto& rule : a) CHECK(rule["expr"].is_string());

  REQUIRE(kill(pid, SIGTERM) == 0);
  CHECK(finish(pid) == 0);
  // Every log line is one JSON object, the fault switches among them.
  std::istringstream lines(slurp(log));
  std::string line;
  int switched = 0;
  while (std::getline(lines, line)) {
    INFO(line);
    const nlohmann::json entry = nlohmann::json::parse(line);
    if (entry["message"] == "workload fault runaway switched on") ++switched;
  }
  CHECK(switched == 1);
}

TEST_CASE("canopy run refuses token-less admin routes by default, and says how to allow them", "[cli][run]") {
  ::unsetenv("CANOPY_ADMIN_TOKEN");
  TempDir d;
  const std::string log = d.path + "/canopy.log";
  const std::string cfg = d.file("canopy.yaml", "server:\n  listen: \"127.0.0.1:0\"\nworkload:\n  enabled: false\n");
  const pid_t pid = start({"run", "--config", cfg}, log);
  const int port = wait_for_port(log);
  REQUIRE(port > 0);
  auto level = canopy::test::request(port, "PUT", "/api/v1/log-level", R"({"level": "debug"})");
  CHECK(level.status == 403);
  CHECK(canopy::test::json_of(level)["error"].get<std::string>().find("server.admin_without_token: loopback") !=
        std::string::npos);
  CHECK(canopy::test::request(port, "POST", "/-/reload").status == 403);
  CHECK(canopy::test::request(port, "GET", "/healthz").status == 200);
  CHECK(slurp(log).find("admin routes are open without a token") == std::string::npos);
  REQUIRE(kill(pid, SIGTERM) == 0);
  CHECK(finish(pid) == 0);
}

TEST_CASE("canopy run with a broken config exits 1 and names the error", "[cli][run]") {
  TempDir d;
  const std::string cfg = d.file("canopy.yaml", "runtime:\n  max_processes: lots\n");
  std::string out;
  CHECK(run_to_end({"run", "--config", cfg}, out) == 1);
  CHECK(out.find(cfg + ":2:") != std::string::npos);
}

}  // namespace test_app_cli_test
