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

#include "http_client.hpp"

using namespace canopy;
using namespace std::chrono_literals;
using test::request;

namespace {

class Idle final : public Actor {
 public:
  void handle(Message&) override {}
};

struct Server {
  explicit Server(std::string token = "", exporters::ServerHooks hooks = {}) : exposition({.node_name = "test"}) {
    exposition.add_source([this] { return rt.collect(); });
    exporters::ServerOptions o;
    o.listen = "127.0.0.1:0";
    o.threads = 2;
    o.max_request_bytes = 1024;
    o.admin_token = std::move(token);
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
  char dir[] = "/tmp/canopy-promtool-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  const std::string in = std::string(dir) + "/scrape.txt", out = std::string(dir) + "/out.txt";
  std::ofstream(in) << m.body;
  const std::string cmd = std::string(CANOPY_PROMTOOL) + " check metrics < " + in + " > " + out + " 2>&1";
  const int rc = std::system(cmd.c_str());
  std::ifstream result(out);
  const std::string report((std::istreambuf_iterator<char>(result)), std::istreambuf_iterator<char>());
  INFO(report);
  CHECK(rc == 0);
  CHECK(report.empty());
  std::remove(in.c_str());
  std::remove(out.c_str());
  rmdir(dir);
}

TEST_CASE("the process API sorts, limits, filters and finds one process", "[http][api]") {
  Server s;
  auto a = s.rt.spawn<Idle>().value();
  REQUIRE(s.rt.register_name("alpha_one", a).ok());
  auto b = s.rt.spawn<Idle>().value();
  REQUIRE(s.rt.register_name("beta", b).ok());

  auto list = request(s.port, "GET", "/api/v1/processes?sort=heap&limit=1");
  CHECK(list.status == 200);
  CHECK(list.body.find("\"total\":2") != std::string::npos);
  auto filtered = request(s.port, "GET", "/api/v1/processes?prefix=alpha");
  CHECK(filtered.body.find("alpha_one") != std::string::npos);
  CHECK(filtered.body.find("beta") == std::string::npos);

  auto bad_sort = request(s.port, "GET", "/api/v1/processes?sort=age");
  CHECK(bad_sort.status == 400);
  CHECK(bad_sort.body.find("{\"error\":") == 0);
  CHECK(request(s.port, "GET", "/api/v1/processes?limit=0").status == 400);
  CHECK(request(s.port, "GET", "/api/v1/processes?limit=ten").status == 400);
  CHECK(request(s.port, "GET", "/api/v1/processes?colour=red").status == 400);

  auto one = request(s.port, "GET", "/api/v1/processes/" + a.to_string().substr(1, a.to_string().size() - 2));
  CHECK(one.status == 200);
  CHECK(one.body.find("\"name\":\"alpha_one\"") != std::string::npos);
  CHECK(one.body.find("\"links\":[]") != std::string::npos);
  auto encoded = request(s.port, "GET", "/api/v1/processes/%3C0." + std::to_string(a.index()) + "." +
                                            std::to_string(a.generation()) + "%3E");
  CHECK(encoded.status == 200);
  CHECK(request(s.port, "GET", "/api/v1/processes/0.999999.1").status == 404);
  CHECK(request(s.port, "GET", "/api/v1/processes/not-a-pid").status == 400);
}

TEST_CASE("supervision tree, schedulers and system answer JSON", "[http][api]") {
  Server s;
  SupervisorSpec spec{.name = "root", .children = {ChildSpec::worker<Idle>("idle")}};
  REQUIRE(s.rt.start_application("shop", spec).ok());
  auto tree = request(s.port, "GET", "/api/v1/supervision-tree");
  CHECK(tree.status == 200);
  CHECK(tree.body.find("\"name\":\"shop\"") != std::string::npos);
  CHECK(tree.body.find("\"id\":\"idle\"") != std::string::npos);
  auto sched = request(s.port, "GET", "/api/v1/schedulers");
  CHECK(sched.status == 200);
  CHECK(sched.body.find("\"id\":1") != std::string::npos);
  auto sys = request(s.port, "GET", "/api/v1/system");
  CHECK(sys.status == 200);
  CHECK(sys.body.find("\"process_count\":") != std::string::npos);
  CHECK(sys.body.find("\"dead_process\":") != std::string::npos);
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
  CHECK(all.body.find("\"total\":1,") != std::string::npos);
  CHECK(all.body.find("\"pid\":\"" + orphan.to_string() + "\"") != std::string::npos);
  CHECK(all.body.find("Idle") != std::string::npos);
  CHECK(all.body.find("\"name\":\"named\"") == std::string::npos);
  // The runtime's default minimum age (60 s) hides the young orphan.
  auto young = request(s.port, "GET", "/api/v1/orphans");
  CHECK(young.status == 200);
  CHECK(young.body.find("\"total\":0,") != std::string::npos);
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
  CHECK(request(s.port, "POST", path, "", {{"Authorization", "Bearer wrong"}}).status == 401);
  CHECK(request(s.port, "POST", path, "", {{"Authorization", "Bearer s3cre"}}).status == 401);
  CHECK(s.rt.alive(victim));
  auto ok = request(s.port, "POST", path, "", {{"Authorization", "Bearer s3cret"}});
  CHECK(ok.status == 200);
  for (int i = 0; i < 5000 && s.rt.alive(victim); ++i) std::this_thread::sleep_for(1ms);
  CHECK_FALSE(s.rt.alive(victim));
  CHECK(request(s.port, "POST", path, "", {{"Authorization", "Bearer s3cret"}}).status == 404);

  auto trace_path = "/api/v1/processes/" + s.rt.spawn<Idle>().value().to_string() + "/trace";
  CHECK(request(s.port, "POST", trace_path, "{\"on\": true}", {{"Authorization", "Bearer s3cret"}}).status == 200);
  CHECK(request(s.port, "POST", trace_path, "{\"on\": maybe}", {{"Authorization", "Bearer s3cret"}}).status == 400);
}

TEST_CASE("without a token, admin routes are open to loopback peers", "[http][admin]") {
  std::string level_set;
  exporters::ServerHooks hooks;
  hooks.set_log_level = [&](const std::string& l) -> std::string {
    if (l != "debug" && l != "info") return "unknown log level '" + l + "'";
    level_set = l;
    return "";
  };
  hooks.reload = [] { return std::string("canopy.yaml:3:5: server.listen: not host:port"); };
  Server s("", hooks);
  auto r = request(s.port, "PUT", "/api/v1/log-level", "{\"level\": \"debug\"}");
  CHECK(r.status == 200);
  CHECK(level_set == "debug");
  auto bad = request(s.port, "PUT", "/api/v1/log-level", "{\"level\": \"loud\"}");
  CHECK(bad.status == 400);
  CHECK(bad.body.find("loud") != std::string::npos);
  auto reload = request(s.port, "POST", "/-/reload");
  CHECK(reload.status == 400);
  CHECK(reload.body.find("canopy.yaml:3:5") != std::string::npos);
}

TEST_CASE("unknown routes, wrong methods, big bodies and garbage get 4xx and the server lives on", "[http][errors]") {
  Server s;
  auto nf = request(s.port, "GET", "/nope");
  CHECK(nf.status == 404);
  CHECK(nf.body.find("{\"error\":") == 0);
  CHECK(request(s.port, "GET", "/api/v1/nope").status == 404);
  auto wrong = request(s.port, "POST", "/metrics", "x");
  CHECK(wrong.status == 405);
  CHECK(wrong.headers["allow"] == "GET, HEAD");
  CHECK(request(s.port, "DELETE", "/api/v1/processes").status == 405);
  auto big = request(s.port, "PUT", "/api/v1/log-level", std::string(5000, 'x'));
  CHECK(big.status == 413);
  const auto garbage = test::raw_request(s.port, "BLAH\r\n\r\n");
  CHECK((garbage.status == 0 || (garbage.status >= 400 && garbage.status < 500)));
  const auto bad_version = test::raw_request(s.port, "GET /healthz HTTP/9.9\r\n\r\n");
  CHECK((bad_version.status == 0 || bad_version.status >= 400 || bad_version.status == 200));
  CHECK(request(s.port, "GET", "/healthz").status == 200);
}

namespace {
// Runs a shell command, returns its stdout.
std::string run_capture(const std::string& command) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}
}  // namespace

TEST_CASE("with a certificate and key the server speaks TLS, or refuses at start saying why it cannot", "[http][tls]") {
  char dir_template[] = "/tmp/canopy-tls-test-XXXXXX";
  REQUIRE(mkdtemp(dir_template) != nullptr);
  const std::string dir = dir_template;
  // The folder holds an unencrypted key: it goes whatever the test's outcome.
  struct RemoveDir {
    std::string path;
    ~RemoveDir() { std::system(("rm -rf " + path).c_str()); }
  } remove_dir{dir};
  const std::string key = dir + "/key.pem", cert = dir + "/cert.pem";
  // A throwaway self-signed certificate, made by the real openssl.
  REQUIRE(std::system(("openssl req -x509 -newkey rsa:2048 -nodes -keyout " + key + " -out " + cert +
                       " -days 1 -subj /CN=127.0.0.1 >/dev/null 2>&1")
                          .c_str()) == 0);
  Runtime rt{RuntimeOptions{.schedulers = 2}};
  exporters::Exposition exposition({.node_name = "tls"});
  exposition.add_source([&rt] { return rt.collect(); });
  // Half a configuration is an error that names what is missing.
  exporters::ServerOptions half;
  half.listen = "127.0.0.1:0";
  half.tls.cert_file = cert;
  exporters::HttpServer bad(rt, exposition, half);
  const Status refused = bad.start();
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message().find("key_file") != std::string::npos);

  exporters::ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.tls.cert_file = cert;
  o.tls.key_file = key;
  exporters::HttpServer server(rt, exposition, o);
  const Status st = server.start();
  if (!st.ok()) {
    // Debian 12's civetweb cannot do TLS with OpenSSL 3 (see http_server.cc):
    // then start must refuse, saying why, instead of crashing on a connection.
    INFO(st.error().message());
    CHECK(st.error().message().find("server.tls: ") == 0);
    CHECK(st.error().message().find("OpenSSL") != std::string::npos);
    return;
  }
  CHECK(server.url().rfind("https://127.0.0.1:", 0) == 0);
  const std::string port = std::to_string(server.port());

  auto over_tls = [&](const std::string& path) {
    return run_capture("printf 'GET " + path + " HTTP/1.0\\r\\nHost: 127.0.0.1\\r\\n\\r\\n' | timeout 20 openssl s_client -connect 127.0.0.1:" +
                       port + " -quiet 2>/dev/null");
  };
  const std::string health = over_tls("/healthz");
  CHECK(health.find("200 OK") != std::string::npos);
  CHECK(health.find("\r\n\r\nok\n") != std::string::npos);
  const std::string metrics = over_tls("/metrics");
  CHECK(metrics.find("canopy_build_info{") != std::string::npos);
  // Plain HTTP on the TLS port gets no HTTP answer.
  const auto plain = request(server.port(), "GET", "/healthz");
  CHECK(plain.status != 200);

  server.stop();

}
