// The real HTTP server on a free loopback port, driven with real requests.
#include <zlib.h>

#include <canopy/core/core.hpp>
#include <canopy/exporters/http_server.hpp>
#include <canopy/exporters/metric_names.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <thread>

#include "canopy_test/wait.hpp"
#include "http_client.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_exporters_http_server_test {

using namespace canopy;
using namespace std::chrono_literals;
using nlohmann::json;
using test::json_of;
using test::request;

namespace {

class Idle final : public Actor {
 public:
  void handle(Message&) override {}
};

using exporters::AdminWithoutToken;

struct Server {
  explicit Server(std::string token = "", exporters::ServerHooks hooks = {},
                  AdminWithoutToken without_token = AdminWithoutToken::refuse)
      : exposition({.node_name = "test"}) {
    exposition.add_source([this] { return rt.collect(); });
    exporters::ServerOptions o;
    o.listen = "127.0.0.1:0";
    o.threads = 2;
    o.max_request_bytes = 1024;
    o.admin_token = std::move(token);
    o.admin_without_token = without_token;
    server = std::make_unique<exporters::HttpServer>(rt, exposition, o, std::move(hooks));
    const Status st = server->start();
    REQUIRE(st.ok());
    port = server->port();
    REQUIRE(port > 0);
  }
  Runtime rt{RuntimeOptions{.schedulers = 2}};
  exporters::Exposition exposition;
  std::unique_ptr<exporters::HttpServer> server;
  int port = 0;
};

std::string gunzip(const std::string& in) {
  z_stream zs{};
  inflateInit2(&zs, 15 + 16);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  std::string out;
  char buf[65536];
  int rc = Z_OK;
  while (rc == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(buf, sizeof buf - zs.avail_out);
  }
  inflateEnd(&zs);
  return out;
}

// Pipes a scrape through the real `promtool check metrics` (which parses
// and lints); returns its exit code and what it printed.
std::pair<int, std::string> promtool_check_metrics(const std::string& scrape) {
  char dir[] = "/tmp/canopy-promtool-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  const std::string in = std::string(dir) + "/scrape.txt", out = std::string(dir) + "/out.txt";
  std::ofstream(in) << scrape;
  const std::string cmd = std::string(CANOPY_PROMTOOL) + " check metrics < " + in + " > " + out + " 2>&1";
  const int rc = std::system(cmd.c_str());
  std::ifstream result(out);
  const std::string report((std::istreambuf_iterator<char>(result)), std::istreambuf_iterator<char>());
  std::remove(in.c_str());
  std::remove(out.c_str());
  rmdir(dir);
  return {rc, report};
}

}  // namespace

TEST_CASE("healthz answers ok and readyz says why it is not ready", "[http]") {
  Server s;
  auto h = request(s.port, "GET", "/healthz");
  CHECK(h.status == 200);
  CHECK(h.body == "ok\n");
  auto r = request(s.port, "GET", "/readyz");
  CHECK(r.status == 503);
  CHECK(r.body.find("no application") != std::string::npos);

  SupervisorSpec spec{.name = "root", .children = {ChildSpec::worker<Idle>("idle")}};
  REQUIRE(s.rt.start_application("app", spec).ok());
  r = request(s.port, "GET", "/readyz");
  CHECK(r.status == 200);
  CHECK(r.body == "ready\n");
}

TEST_CASE("metrics are served in the text format, gzipped on request, with the node label", "[http][metrics]") {
  Server s;
  s.rt.poll_now();
  auto m = request(s.port, "GET", "/metrics");
  REQUIRE(m.status == 200);
  CHECK(m.headers["content-type"].find("text/plain; version=0.0.4") == 0);
  CHECK(m.body.find("# TYPE canopy_processes gauge") != std::string::npos);
  CHECK(m.body.find("canopy_processes{node=\"test\"}") != std::string::npos);
  CHECK(m.body.find("process_resident_memory_bytes") != std::string::npos);
  CHECK(m.body.find("canopy_build_info{") != std::string::npos);

  auto z = request(s.port, "GET", "/metrics", "", {{"Accept-Encoding", "gzip, deflate"}});
  REQUIRE(z.status == 200);
  CHECK(z.headers["content-encoding"] == "gzip");
  const std::string plain = gunzip(z.body);
  CHECK(plain.find("# TYPE canopy_processes gauge") != std::string::npos);
  CHECK(z.body.size() < plain.size());
  // The server counts its own scrapes.
  auto again = request(s.port, "GET", "/metrics");
  CHECK(again.body.find("canopy_scrapes_total{node=\"test\"} 2") != std::string::npos);
}

TEST_CASE("every family served is in the metric-name contract", "[http][metrics]") {
  Server s;
  s.rt.poll_now();
  auto m = request(s.port, "GET", "/metrics");
  REQUIRE(m.status == 200);
  std::set<std::string> served;
  size_t at = 0;
  while ((at = m.body.find("# TYPE ", at)) != std::string::npos) {
    at += 7;
    served.insert(m.body.substr(at, m.body.find(' ', at) - at));
  }
  REQUIRE(!served.empty());
  for (const auto& name : served) {
    INFO(name);
    CHECK(exporters::is_served_metric(name));
  }
}

TEST_CASE("promtool check metrics finds nothing wrong with a live scrape", "[http][metrics][promtool]") {
  Server s;
  // Some activity, so tagged counters have series.
  auto pid = s.rt.spawn<Idle>().value();
  REQUIRE(s.rt.register_name("idle", pid).ok());
  (void)s.rt.send(Pid::from_parts(12345, 9), 1);
  s.rt.poll_now();
  auto m = request(s.port, "GET", "/metrics");
  REQUIRE(m.status == 200);
  const auto [rc, report] = promtool_check_metrics(m.body);
  INFO(report);
  CHECK(rc == 0);
  CHECK(report.empty());
}

TEST_CASE("a metric description with newlines and backslashes keeps the scrape valid for promtool",
          "[http][metrics][promtool]") {
  Server s;
  // A user metric as the config's telemetry.metrics would define it, with a
  // multi-line description (a YAML block scalar) holding a Windows path.
  telemetry::MetricDef def;
  def.type = telemetry::MetricType::counter;
  def.name = "app_jobs_processed_total";
  def.event = {"app", "job", "done"};
  def.tags = {"queue"};
  def.description = "Jobs processed.\nCounted per queue, e.g. C:\\queues\\in \"fast\" mode.\n";
  REQUIRE(s.rt.metrics().add(def).empty());
  s.rt.telemetry_bus().execute(def.event, {{"count", 1}}, {{"queue", "a\\b\nc"}});
  auto m = request(s.port, "GET", "/metrics");
  REQUIRE(m.status == 200);
  CHECK(m.body.find("# HELP app_jobs_processed_total Jobs processed.\\nCounted per queue, e.g. "
                    "C:\\\\queues\\\\in \"fast\" mode.\\n\n# TYPE app_jobs_processed_total counter\n") !=
        std::string::npos);
  const auto [rc, report] = promtool_check_metrics(m.body);
  INFO(report);
  CHECK(rc == 0);
  CHECK(report.empty());
}

TEST_CASE("the process API sorts, limits, filters and finds one process", "[http][api]") {
  Server s;
  auto a = s.rt.spawn<Idle>().value();
  REQUIRE(s.rt.register_name("alpha_one", a).ok());
  auto b = s.rt.spawn<Idle>().value();
  REQUIRE(s.rt.register_name("beta", b).ok());

  auto list = request(s.port, "GET", "/api/v1/processes?sort=heap&limit=1");
  CHECK(list.status == 200);
  const json listed = json_of(list);
  CHECK(listed["total"] == 2);  // before the spinner below
  CHECK(listed["sort"] == "heap");
  CHECK(listed["processes"].size() == 1);
  const json filtered = json_of(request(s.port, "GET", "/api/v1/processes?prefix=alpha"));
  REQUIRE(filtered["processes"].size() == 1);
  CHECK(filtered["processes"][0]["name"] == "alpha_one");

  // Ranked by the last poll window: a process spinning now comes first.
  struct Spin {
    int rounds;
  };
  auto busy = s.rt.spawn(std::make_unique<FunctionActor>([](FunctionActor& self, Message& m) {
                    if (auto* sp = m.as<Spin>(); sp && sp->rounds > 0)
                      (void)self.send(self.self(), Spin{sp->rounds - 1});
                  }))
                  .value();
  s.rt.poll_now();
  REQUIRE(s.rt.send(busy, Spin{20'000}).ok());
  REQUIRE(canopy_test::eventually([&] { return s.rt.process_info(busy)->messages_handled > 20'000; }));
  s.rt.poll_now();
  const json by_rate = json_of(request(s.port, "GET", "/api/v1/processes?sort=reductions_rate&limit=1"));
  CHECK(by_rate["sort"] == "reductions_rate");
  REQUIRE(by_rate["processes"].size() == 1);
  CHECK(by_rate["processes"][0]["pid"] == busy.to_string());
  CHECK(by_rate["processes"][0]["reductions_per_second"].get<double>() > 0);
  CHECK(json_of(request(s.port, "GET", "/api/v1/processes?sort=cpu_rate&limit=1"))["processes"].size() == 1);

  for (const char* bad : {"sort=age", "limit=0", "limit=ten", "colour=red"}) {
    INFO(bad);
    auto r = request(s.port, "GET", std::string("/api/v1/processes?") + bad);
    CHECK(r.status == 400);
    CHECK(json_of(r)["error"].is_string());
  }

  auto one = request(s.port, "GET", "/api/v1/processes/" + a.to_string().substr(1, a.to_string().size() - 2));
  CHECK(one.status == 200);
  const json found = json_of(one);
  CHECK(found["name"] == "alpha_one");
  CHECK(found["pid"] == a.to_string());
  CHECK(found["links"] == json::array());
  auto encoded =
      request(s.port, "GET",
              "/api/v1/processes/%3C0." + std::to_string(a.index()) + "." + std::to_string(a.generation()) + "%3E");
  CHECK(encoded.status == 200);
  CHECK(json_of(encoded)["pid"] == a.to_string());
  auto gone = request(s.port, "GET", "/api/v1/processes/0.999999.1");
  CHECK(gone.status == 404);
  CHECK(json_of(gone)["error"].get<std::string>().find("no process") == 0);
  auto not_pid = request(s.port, "GET", "/api/v1/processes/not-a-pid");
  CHECK(not_pid.status == 400);
  CHECK(json_of(not_pid)["error"].get<std::string>().find("'not-a-pid' is not a pid") == 0);
}

TEST_CASE("the observer page is served at / as HTML, with its script and style sheet, under 300 KB", "[http][observer]") {
  Server s;
  auto page = request(s.port, "GET", "/");
  REQUIRE(page.status == 200);
  CHECK(page.headers["content-type"] == "text/html; charset=utf-8");
  CHECK(page.body.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(page.body.find("<script src=\"/observer.js\">") != std::string::npos);
  CHECK(page.body.find("href=\"/observer.css\"") != std::string::npos);
  auto js = request(s.port, "GET", "/observer.js");
  REQUIRE(js.status == 200);
  CHECK(js.headers["content-type"] == "text/javascript; charset=utf-8");
  CHECK(js.body.find("/api/v1/processes") != std::string::npos);
  auto css = request(s.port, "GET", "/observer.css");
  REQUIRE(css.status == 200);
  CHECK(css.headers["content-type"] == "text/css; charset=utf-8");
  CHECK(page.headers["cache-control"] == "no-cache");
  // The whole page, as a browser loads it.
  CHECK(page.body.size() + js.body.size() + css.body.size() < 300 * 1024);
  CHECK(request(s.port, "HEAD", "/").status == 200);
  auto post = request(s.port, "POST", "/", "{}");
  CHECK(post.status == 405);
  CHECK(json_of(post)["error"] == "method POST is not allowed on / (allowed: GET, HEAD)");
  CHECK(request(s.port, "GET", "/observer.map").status == 404);
}

TEST_CASE("the process API filters by a part of the name or behaviour with match=, and sorts by oldest message",
          "[http][api]") {
  Server s;
  auto intake = s.rt.spawn<Idle>().value();
  REQUIRE(s.rt.register_name("order_intake", intake).ok());
  auto ledger = s.rt.spawn<Idle>().value();
  REQUIRE(s.rt.register_name("slow_ledger", ledger).ok());
  struct Other final : Actor {
    void handle(Message&) override {}
  };
  (void)s.rt.spawn<Other>().value();

  const json one = json_of(request(s.port, "GET", "/api/v1/processes?match=LEDGER"));
  CHECK(one["total"] == 1);
  REQUIRE(one["processes"].size() == 1);
  CHECK(one["processes"][0]["name"] == "slow_ledger");
  // The behaviour's type name counts too: both Idle processes, not Other.
  const json idle = json_of(request(s.port, "GET", "/api/v1/processes?match=idle&limit=10"));
  CHECK(idle["total"] == 2);
  const json none = json_of(request(s.port, "GET", "/api/v1/processes?match=no%20such%20thing"));
  CHECK(none["total"] == 0);
  CHECK(none["processes"] == json::array());
  const json both = json_of(request(s.port, "GET", "/api/v1/processes?match=o&prefix=order"));
  REQUIRE(both["processes"].size() == 1);
  CHECK(both["processes"][0]["name"] == "order_intake");

  for (const std::string& bad : {std::string("match="), "match=" + std::string(201, 'x'), std::string("match=a%01b")}) {
    INFO(bad);
    auto r = request(s.port, "GET", "/api/v1/processes?" + bad);
    CHECK(r.status == 400);
    CHECK(json_of(r)["error"].get<std::string>().rfind("match must be 1 to 200 printable characters", 0) == 0);
  }
  auto unknown = request(s.port, "GET", "/api/v1/processes?filter=x");
  CHECK(unknown.status == 400);
  CHECK(json_of(unknown)["error"] == "unknown query parameter 'filter' (use sort, limit, prefix, match)");

  // A message waiting in a suspended mailbox is the oldest; nothing else waits.
  struct Hold {};
  auto held = s.rt.spawn(std::make_unique<FunctionActor>([](FunctionActor&, Message& m) {
                    if (m.as<Hold>()) std::this_thread::sleep_for(400ms);
                  }))
                  .value();
  for (int i = 0; i < 3; ++i) REQUIRE(s.rt.send(held, Hold{}).ok());
  REQUIRE(canopy_test::eventually([&] {
    const json top = json_of(request(s.port, "GET", "/api/v1/processes?sort=oldest&limit=1"));
    return top["sort"] == "oldest" && top["processes"].size() == 1 && top["processes"][0]["pid"] == held.to_string() &&
           top["processes"][0]["mailbox_oldest_age_seconds"].get<double>() > 0;
  }));
}

TEST_CASE("a traced process's detail says so and lists its trace lines", "[http][api]") {
  Server s;
  auto p = s.rt.spawn<Idle>().value();
  CHECK(json_of(request(s.port, "GET", "/api/v1/processes/" + p.to_string()))["traced"] == false);
  REQUIRE(s.rt.trace(p, true).ok());
  struct Ping {};
  REQUIRE(s.rt.send(p, Ping{}).ok());
  json detail;
  REQUIRE(canopy_test::eventually([&] {
    detail = json_of(request(s.port, "GET", "/api/v1/processes/" + p.to_string()));
    return !detail["trace_lines"].empty();
  }));
  CHECK(detail["traced"] == true);
  const std::string line = detail["trace_lines"][0]["text"];
  CHECK(line.rfind("in ", 0) == 0);
  CHECK(line.find("Ping from outside") != std::string::npos);
  CHECK(detail["trace_lines"][0]["at_unix_seconds"].get<double>() > 1.6e9);
}

TEST_CASE("supervision tree, schedulers and system answer JSON", "[http][api]") {
  Server s;
  SupervisorSpec spec{.name = "root", .children = {ChildSpec::worker<Idle>("idle")}};
  REQUIRE(s.rt.start_application("shop", spec).ok());
  auto tree = request(s.port, "GET", "/api/v1/supervision-tree");
  CHECK(tree.status == 200);
  const json t = json_of(tree);
  REQUIRE(t["applications"].size() == 1);
  CHECK(t["applications"][0]["name"] == "shop");
  REQUIRE(t["applications"][0]["root"]["children"].size() == 1);
  CHECK(t["applications"][0]["root"]["children"][0]["id"] == "idle");
  CHECK(t["ready"].is_boolean());
  auto sched = request(s.port, "GET", "/api/v1/schedulers");
  CHECK(sched.status == 200);
  const json sj = json_of(sched);
  REQUIRE(sj["schedulers"].size() == 2);
  CHECK(sj["schedulers"][1]["id"] == 1);
  CHECK(sj["schedulers"][0]["busy_seconds"].is_number());
  auto sys = request(s.port, "GET", "/api/v1/system");
  CHECK(sys.status == 200);
  const json system = json_of(sys);
  CHECK(system["process_count"].is_number_unsigned());
  CHECK(system["messages_dropped"]["dead_process"].is_number_unsigned());
  CHECK(system["schedulers"] == 2);
}

TEST_CASE("the orphan audit lists unsupervised processes, not supervised or registered ones", "[http][api]") {
  Server s;
  SupervisorSpec spec{.name = "root", .children = {ChildSpec::worker<Idle>("idle")}};
  REQUIRE(s.rt.start_application("shop", spec).ok());
  const Pid orphan = s.rt.spawn<Idle>().value();
  const Pid named = s.rt.spawn<Idle>().value();
  REQUIRE(s.rt.register_name("named", named).ok());

  auto all = request(s.port, "GET", "/api/v1/orphans?min_age_s=0");
  CHECK(all.status == 200);
  const json orphans = json_of(all);
  CHECK(orphans["total"] == 1);
  CHECK(orphans["min_age_seconds"] == 0);
  REQUIRE(orphans["processes"].size() == 1);
  CHECK(orphans["processes"][0]["pid"] == orphan.to_string());
  CHECK(orphans["processes"][0]["behaviour"].get<std::string>().find("Idle") != std::string::npos);
  CHECK(orphans["processes"][0]["name"] == "");
  // The runtime's default minimum age (60 s) hides the young orphan.
  auto young = request(s.port, "GET", "/api/v1/orphans");
  CHECK(young.status == 200);
  CHECK(json_of(young)["total"] == 0);
  CHECK(request(s.port, "GET", "/api/v1/orphans?min_age_s=soon").status == 400);
  CHECK(request(s.port, "GET", "/api/v1/orphans?min_age_s=-1").status == 400);
  CHECK(request(s.port, "GET", "/api/v1/orphans?age=1").status == 400);
  CHECK(request(s.port, "POST", "/api/v1/orphans").status == 405);
}

TEST_CASE("admin routes need the bearer token when one is configured", "[http][admin]") {
  Server s("s3cret");
  auto victim = s.rt.spawn<Idle>().value();
  const std::string path = "/api/v1/processes/" + victim.to_string().substr(1, victim.to_string().size() - 2) + "/kill";
  auto none = request(s.port, "POST", path);
  CHECK(none.status == 401);
  CHECK(none.headers.count("www-authenticate") == 1);
  CHECK(json_of(none)["error"].get<std::string>().find("Authorization: Bearer") != std::string::npos);
  CHECK(request(s.port, "POST", path, "", {{"Authorization", "Bearer wrong"}}).status == 401);
  CHECK(request(s.port, "POST", path, "", {{"Authorization", "Bearer s3cre"}}).status == 401);
  CHECK(s.rt.alive(victim));
  auto ok = request(s.port, "POST", path, "", {{"Authorization", "Bearer s3cret"}});
  CHECK(ok.status == 200);
  CHECK(json_of(ok) == json{{"pid", victim.to_string()}, {"signal", "kill"}});
  for (int i = 0; i < 5000 && s.rt.alive(victim); ++i) std::this_thread::sleep_for(1ms);
  CHECK_FALSE(s.rt.alive(victim));
  CHECK(request(s.port, "POST", path, "", {{"Authorization", "Bearer s3cret"}}).status == 404);

  auto trace_path = "/api/v1/processes/" + s.rt.spawn<Idle>().value().to_string() + "/trace";
  auto traced = request(s.port, "POST", trace_path, "{\"on\": true}", {{"Authorization", "Bearer s3cret"}});
  CHECK(traced.status == 200);
  CHECK(json_of(traced)["trace"] == true);
  auto maybe = request(s.port, "POST", trace_path, "{\"on\": maybe}", {{"Authorization", "Bearer s3cret"}});
  CHECK(maybe.status == 400);
  CHECK(json_of(maybe)["error"].get<std::string>().find("trace: send") == 0);
}

TEST_CASE("without a token, admin routes are refused unless admin_without_token opts in", "[http][admin]") {
  std::string level_set;
  exporters::ServerHooks hooks;
  hooks.set_log_level = [&](const std::string& l) -> std::string {
    level_set = l;
    return "";
  };
  hooks.reload = [] { return std::string(); };
  Server s("", hooks);  // the default: refuse
  CHECK(exporters::ServerOptions{}.admin_without_token == AdminWithoutToken::refuse);
  const Pid victim = s.rt.spawn<Idle>().value();
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"PUT", "/api/v1/log-level"},
           {"POST", "/-/reload"},
           {"POST", "/api/v1/processes/" + victim.to_string() + "/kill"},
           {"POST", "/api/v1/processes/" + victim.to_string() + "/trace"},
       }) {
    INFO(method << " " << path);
    auto r = request(s.port, method, path, "{\"level\": \"debug\"}");
    CHECK(r.status == 403);
    // The refusal names both ways out.
    const std::string error = json_of(r)["error"];
    CHECK(error.find("server.admin_token_file") != std::string::npos);
    CHECK(error.find("CANOPY_ADMIN_TOKEN") != std::string::npos);
    CHECK(error.find("server.admin_without_token: loopback") != std::string::npos);
  }
  CHECK(level_set.empty());
  CHECK(s.rt.alive(victim));
  // Read-only routes stay open.
  CHECK(request(s.port, "GET", "/api/v1/processes").status == 200);
}

TEST_CASE("with a token configured, admin_without_token loopback does not let token-less requests in",
          "[http][admin]") {
  Server s("s3cret", {}, AdminWithoutToken::loopback);
  const Pid victim = s.rt.spawn<Idle>().value();
  const std::string path = "/api/v1/processes/" + victim.to_string() + "/kill";
  CHECK(request(s.port, "POST", path).status == 401);
  CHECK(s.rt.alive(victim));
  CHECK(request(s.port, "POST", path, "", {{"Authorization", "Bearer s3cret"}}).status == 200);
}

TEST_CASE("with admin_without_token loopback, admin routes are open to loopback peers without a token",
          "[http][admin]") {
  std::string level_set;
  exporters::ServerHooks hooks;
  hooks.set_log_level = [&](const std::string& l) -> std::string {
    if (l != "debug" && l != "info") return "unknown log level '" + l + "'";
    level_set = l;
    return "";
  };
  hooks.reload = [] { return std::string("canopy.yaml:3:5: server.listen: not host:port"); };
  Server s("", hooks, AdminWithoutToken::loopback);
  auto r = request(s.port, "PUT", "/api/v1/log-level", "{\"level\": \"debug\"}");
  CHECK(r.status == 200);
  CHECK(json_of(r) == json{{"level", "debug"}});
  CHECK(level_set == "debug");
  auto bare = request(s.port, "PUT", "/api/v1/log-level", "info\n");
  CHECK(bare.status == 200);
  CHECK(level_set == "info");
  auto bad = request(s.port, "PUT", "/api/v1/log-level", "{\"level\": \"loud\"}");
  CHECK(bad.status == 400);
  CHECK(json_of(bad)["error"] == "unknown log level 'loud'");
  auto reload = request(s.port, "POST", "/-/reload");
  CHECK(reload.status == 400);
  CHECK(json_of(reload)["error"] ==
        "reload refused, the old config stays: canopy.yaml:3:5: server.listen: not host:port");
}

TEST_CASE("unknown routes, wrong methods, big bodies and garbage get 4xx and the server lives on", "[http][errors]") {
  Server s;
  auto nf = request(s.port, "GET", "/nope");
  CHECK(nf.status == 404);
  CHECK(nf.headers["content-type"] == "application/json");
  CHECK(json_of(nf)["error"] == "no route /nope (try /, /metrics, /healthz, /readyz or /api/v1/)");
  auto api_nf = request(s.port, "GET", "/api/v1/nope");
  CHECK(api_nf.status == 404);
  CHECK(json_of(api_nf)["error"] == "no route /api/v1/nope");
  auto wrong = request(s.port, "POST", "/metrics", "x");
  CHECK(wrong.status == 405);
  CHECK(wrong.headers["allow"] == "GET, HEAD");
  CHECK(json_of(wrong)["error"] == "method POST is not allowed on /metrics (allowed: GET, HEAD)");
  auto del = request(s.port, "DELETE", "/api/v1/processes");
  CHECK(del.status == 405);
  CHECK(json_of(del)["error"].is_string());
  auto big = request(s.port, "PUT", "/api/v1/log-level", std::string(5000, 'x'));
  CHECK(big.status == 413);
  CHECK(json_of(big)["error"].get<std::string>().find("server.max_request_bytes") != std::string::npos);
  const auto garbage = test::raw_request(s.port, "BLAH\r\n\r\n");
  CHECK((garbage.status == 0 || (garbage.status >= 400 && garbage.status < 500)));
  const auto bad_version = test::raw_request(s.port, "GET /healthz HTTP/9.9\r\n\r\n");
  CHECK((bad_version.status == 0 || bad_version.status >= 400 || bad_version.status == 200));
  CHECK(request(s.port, "GET", "/healthz").status == 200);
}

TEST_CASE("an error quoting a path with a quote, a control character or invalid UTF-8 is still valid JSON",
          "[http][errors][json]") {
  Server s;
  auto quote = request(s.port, "GET", "/no%22pe%0Anext%09tab");
  CHECK(quote.status == 404);
  CHECK(json_of(quote)["error"].get<std::string>().find("no route /no\"pe\nnext\ttab (try") == 0);
  auto api_quote = request(s.port, "GET", "/api/v1/a%22b");
  CHECK(api_quote.status == 404);
  CHECK(json_of(api_quote)["error"] == "no route /api/v1/a\"b");
  auto bad_utf8 = request(s.port, "GET", "/api/v1/processes/%FF%22");
  CHECK(bad_utf8.status == 400);
  CHECK(json_of(bad_utf8)["error"].get<std::string>().find("'\xEF\xBF\xBD\"' is not a pid") == 0);
}

TEST_CASE("request bodies are parsed as JSON: keys inside strings do not count and escapes are decoded",
          "[http][admin][json]") {
  std::string level_set;
  exporters::ServerHooks hooks;
  hooks.set_log_level = [&](const std::string& l) -> std::string {
    level_set = l;
    return "";
  };
  Server s("", hooks, AdminWithoutToken::loopback);
  // The old substring search took the first "level" (a string value here)
  // and the value after the next colon ("debug").
  auto r = request(s.port, "PUT", "/api/v1/log-level", R"({"comment": "level", "x": "debug", "level": "info"})");
  CHECK(r.status == 200);
  CHECK(level_set == "info");

  // An escaped newline in the reason stays a newline (it used to become 'n').
  const Pid victim = s.rt.spawn<Idle>().value();
  const std::string kill = "/api/v1/processes/" + victim.to_string() + "/kill";
  auto killed = request(s.port, "POST", kill, R"({"reason": "disk full\nsee \"ops\""})");
  CHECK(killed.status == 200);
  CHECK(json_of(killed)["signal"] == "error: disk full\nsee \"ops\"");

  // "reason" as a string value is not the reason: the default (kill) applies.
  const Pid other = s.rt.spawn<Idle>().value();
  auto by_default = request(s.port, "POST", "/api/v1/processes/" + other.to_string() + "/kill",
                            R"({"note": "reason", "x": "shutdown"})");
  CHECK(by_default.status == 200);
  CHECK(json_of(by_default)["signal"] == "kill");
}

TEST_CASE("server.tls is refused at start, saying to terminate TLS in front of canopy", "[http][tls]") {
  Runtime rt{RuntimeOptions{.schedulers = 2}};
  exporters::Exposition exposition({.node_name = "tls"});
  exporters::ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.tls.cert_file = "/nonexistent/cert.pem";
  o.tls.key_file = "/nonexistent/key.pem";
  exporters::HttpServer server(rt, exposition, o);
  const Status st = server.start();
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().message().find("server.tls: canopy serves plain HTTP; terminate TLS in front of it") == 0);
}

}  // namespace test_exporters_http_server_test
