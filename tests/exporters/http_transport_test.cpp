// The HTTP transport under load and hostile clients, as seen by a client:
// keep-alive, pipelining, strict framing, slow senders, connection limits.
#include <canopy/core/core.hpp>
#include <canopy/exporters/http_server.hpp>
#include <catch2/catch.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "canopy_test/wait.hpp"
#include "http/event_server.hpp"
#include "http_client.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_exporters_http_transport_test {

using namespace canopy;
using test::Connection;
using test::json_of;
using test::request;

namespace {

struct Server {
  explicit Server(exporters::ServerOptions o = {}, exporters::ServerHooks hooks = {})
      : exposition({.node_name = "transport"}) {
    exposition.add_source([this] { return rt.collect(); });
    o.listen = "127.0.0.1:0";
    server = std::make_unique<exporters::HttpServer>(rt, exposition, o, std::move(hooks));
    REQUIRE(server->start().ok());
    port = server->port();
  }
  Runtime rt{RuntimeOptions{.schedulers = 1}};
  exporters::Exposition exposition;
  std::unique_ptr<exporters::HttpServer> server;
  int port = 0;
};

}  // namespace

TEST_CASE("one keep-alive connection carries many requests, pipelined ones answered in order", "[http][transport]") {
  Server s;
  Connection c(s.port);
  REQUIRE(c.ok());
  for (int i = 0; i < 200; ++i) {
    REQUIRE(c.get(i % 2 ? "/healthz" : "/metrics"));
    const auto r = c.read_response();
    REQUIRE(r.status == 200);
    CHECK(r.headers.count("connection") == 0);
  }
  // Three requests in one write: three answers, in order.
  REQUIRE(
      c.send_raw("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\nGET /api/v1/nope HTTP/1.1\r\nHost: a\r\n\r\n"
                 "HEAD /healthz HTTP/1.1\r\nHost: a\r\n\r\n"));
  const auto first = c.read_response();
  CHECK(first.status == 200);
  CHECK(first.body == "ok\n");
  const auto second = c.read_response();
  CHECK(second.status == 404);
  CHECK(json_of(second)["error"] == "no route /api/v1/nope");
  // HEAD: the length of the body it would get, and no body.
  REQUIRE(c.send_raw("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"));
  auto head = c.read_response(10'000, /*head_only=*/true);
  CHECK(head.status == 200);
  CHECK(head.headers["content-length"] == "3");
  const auto after = c.read_response();  // the GET after the HEAD
  CHECK(after.status == 200);
  CHECK(after.body == "ok\n");
  // Connection: close is honoured.
  REQUIRE(c.send_raw("GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
  auto last = c.read_response();
  CHECK(last.status == 200);
  CHECK(last.headers["connection"] == "close");
  CHECK(c.closed_by_server(10'000));
}

TEST_CASE("ambiguous or broken framing is a 400 (or 411) and the connection is closed", "[http][transport]") {
  Server s;
  {
    Connection c(s.port);
    REQUIRE(
        c.send_raw("PUT /api/v1/log-level HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 9\r\n\r\n"
                   "info"));
    const auto r = c.read_response();
    CHECK(r.status == 400);
    CHECK(json_of(r)["error"] == "two different Content-Length headers (4 and 9)");
    CHECK(c.closed_by_server(10'000));
  }
  {
    Connection c(s.port);
    REQUIRE(c.send_raw("PUT /api/v1/log-level HTTP/1.1\r\nHost: a\r\nContent-Length: 40\r\n\r\n{\"level\""));
    c.shutdown_sending();
    const auto r = c.read_response();
    CHECK(r.status == 400);
    CHECK(json_of(r)["error"] == "the body is shorter than its Content-Length (got 8 of 40 bytes)");
  }
  {
    Connection c(s.port);
    REQUIRE(c.send_raw("POST /-/reload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"));
    const auto r = c.read_response();
    CHECK(r.status == 411);
    CHECK(json_of(r)["error"] == "Transfer-Encoding is not supported: send the body with a Content-Length");
  }
  {
    Connection c(s.port);
    REQUIRE(c.send_raw("GET /healthz HTTP/1.1\r\nHost: a\r\nX: " + std::string(20'000, 'a') + "\r\n\r\n"));
    CHECK(c.read_response().status == 431);
  }
  CHECK(request(s.port, "GET", "/healthz").status == 200);
}

TEST_CASE("the path is decoded exactly once and a NUL in it is refused", "[http][transport]") {
  Server s;
  const auto twice = request(s.port, "GET", "/api/v1/processes/%2522");
  CHECK(twice.status == 400);
  CHECK(json_of(twice)["error"].get<std::string>().rfind("'%22' is not a pid", 0) == 0);
  const auto nul = request(s.port, "GET", "/api/v1/processes/%00");
  CHECK(nul.status == 400);
  CHECK(json_of(nul)["error"] == "the request path has a NUL byte (%00)");
  const auto broken = request(s.port, "GET", "/api/v1/processes?sort=%zz");
  CHECK(broken.status == 400);
  CHECK(json_of(broken)["error"] == "the request target has a '%' that is not followed by two hex digits");
  // An encoded '/' stays inside its part.
  const auto slash = request(s.port, "GET", "/api/v1/processes/a%2Fb");
  CHECK(slash.status == 400);
  CHECK(json_of(slash)["error"].get<std::string>().rfind("'a/b' is not a pid", 0) == 0);
}

TEST_CASE("the bearer scheme is matched case-insensitively", "[http][transport][admin]") {
  exporters::ServerOptions o;
  o.admin_token = "s3cret";
  exporters::ServerHooks hooks;
  hooks.set_log_level = [](const std::string&) { return std::string(); };
  Server s(o, hooks);
  for (const char* scheme : {"Bearer", "bearer", "BEARER"}) {
    const auto r = request(s.port, "PUT", "/api/v1/log-level", R"({"level": "info"})",
                           {{"Authorization", std::string(scheme) + " s3cret"}});
    CHECK(r.status == 200);
  }
  CHECK(
      request(s.port, "PUT", "/api/v1/log-level", R"({"level": "info"})", {{"Authorization", "bearer wrong"}}).status ==
      401);
}

TEST_CASE("a client sending its head a byte at a time is dropped; scrapes go on meanwhile", "[http][transport][slow]") {
  exporters::ServerOptions o;
  o.request_timeout = std::chrono::milliseconds(500);
  Server s(o);
  std::vector<std::unique_ptr<Connection>> slow;
  for (int i = 0; i < 20; ++i) {
    slow.push_back(std::make_unique<Connection>(s.port));
    REQUIRE(slow.back()->send_raw("G"));
  }
  const std::string rest = "ET /healthz HTTP/1.1\r\nHost: a\r\n";
  size_t sent = 0;
  bool dropped = false;
  // A byte every 100 ms; the head would take over 3 s, the limit is 0.5 s.
  for (; sent < rest.size() && !dropped; ++sent) {
    CHECK(request(s.port, "GET", "/metrics").status == 200);
    for (auto& c : slow) c->send_raw(rest.substr(sent, 1));
    dropped = slow.front()->closed_by_server(100);
  }
  CHECK(dropped);
  for (auto& c : slow) CHECK(c->closed_by_server(10'000));
  CHECK(sent < rest.size());
}

TEST_CASE("at the connection limit the longest-idle keep-alive connection makes room", "[http][transport]") {
  exporters::ServerOptions o;
  o.max_connections = 4;
  Server s(o);
  std::vector<std::unique_ptr<Connection>> idle;
  for (int i = 0; i < 4; ++i) {
    idle.push_back(std::make_unique<Connection>(s.port));
    REQUIRE(idle.back()->get("/healthz"));
    REQUIRE(idle.back()->read_response().status == 200);
  }
  // A fifth client still gets its answer; the first idle one was closed.
  CHECK(request(s.port, "GET", "/healthz").status == 200);
  CHECK(idle.front()->closed_by_server(10'000));
  REQUIRE(idle.back()->get("/healthz"));
  CHECK(idle.back()->read_response().status == 200);
}

TEST_CASE("a body of megabytes is written in full from the handler's own memory, then handed back to its recycler",
          "[http][transport]") {
  namespace http = exporters::http;
  std::string big(4 << 20, 'x');  // far more than a socket takes in one write
  for (size_t i = 0; i < big.size(); i += 97) big[i] = static_cast<char>('a' + i % 26);
  std::mutex mu;
  std::vector<std::string> recycled;
  http::EventServerOptions o;
  o.workers = 1;
  http::EventServer server(
      o,
      [&](const http::Request&) {
        http::Response r;
        r.content_type = "text/plain";
        r.body = big;
        r.recycle = [&](std::string sent) {
          std::lock_guard<std::mutex> lock(mu);
          recycled.push_back(std::move(sent));
        };
        return r;
      },
      [](const http::RequestHead&) { return false; }, [](std::string_view m) { return std::string(m); });
  REQUIRE(server.start().ok());
  Connection c(server.port());
  REQUIRE(c.ok());
  for (int i = 0; i < 2; ++i) {
    REQUIRE(c.get("/big"));
    const auto r = c.read_response();
    REQUIRE(r.status == 200);
    CHECK(r.body == big);
  }
  // HEAD: no body written, none handed back.
  REQUIRE(c.send_raw("HEAD /big HTTP/1.1\r\nHost: a\r\n\r\n"));
  CHECK(c.read_response(10'000, /*head_only=*/true).status == 200);
  REQUIRE(c.get("/big"));
  CHECK(c.read_response().body == big);
  const auto three = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return recycled.size() == 3;
  };
  CHECK(canopy_test::eventually(three));
  server.stop();
  std::lock_guard<std::mutex> lock(mu);
  REQUIRE(recycled.size() == 3);
  for (const std::string& sent : recycled) CHECK(sent == big);
}

}  // namespace test_exporters_http_transport_test
