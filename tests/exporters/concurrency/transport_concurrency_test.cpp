// The HTTP transport's threads (one epoll thread, the workers, the urgent
// lane) under concurrent clients; run under ThreadSanitizer.
#include <canopy/core/core.hpp>
#include <canopy/exporters/http_server.hpp>
#include <catch2/catch.hpp>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "../http_client.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_exporters_concurrency_transport_concurrency_test {

using namespace canopy;
using test::Connection;
using test::request;

namespace {

// Holds every request to /api/v1/block until opened.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  int waiting = 0;
  void pass() {
    std::unique_lock lock(mu);
    ++waiting;
    cv.notify_all();
    cv.wait_for(lock, std::chrono::seconds(60), [&] { return open; });
  }
  bool wait_for_waiting(int n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(30), [&] { return waiting >= n; });
  }
  void release() {
    std::lock_guard lock(mu);
    open = true;
    cv.notify_all();
  }
};

}  // namespace

TEST_CASE("scrapes are answered while every API worker is busy", "[http][transport][concurrency]") {
  Runtime rt{RuntimeOptions{.schedulers = 1}};
  exporters::Exposition exposition({.node_name = "lane"});
  exposition.add_source([&rt] { return rt.collect(); });
  Gate gate;
  exporters::ServerHooks hooks;
  hooks.extra_api = [&](const std::string&, const std::vector<std::string>& parts, const std::string&, int& status,
                        std::string& json) {
    if (parts.empty() || parts[0] != "block") return false;
    gate.pass();
    status = 200;
    json = "{}";
    return true;
  };
  exporters::ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.threads = 2;
  exporters::HttpServer server(rt, exposition, o, hooks);
  REQUIRE(server.start().ok());
  const int port = server.port();

  // Both API workers stuck in a handler, and more API requests queued.
  std::vector<std::thread> blocked;
  std::atomic<int> answered{0};
  for (int i = 0; i < 4; ++i) {
    blocked.emplace_back([&] {
      if (request(port, "GET", "/api/v1/block").status == 200) answered.fetch_add(1);
    });
  }
  REQUIRE(gate.wait_for_waiting(2));
  CHECK(request(port, "GET", "/metrics").status == 200);
  CHECK(request(port, "GET", "/healthz").status == 200);
  CHECK(answered.load() == 0);
  gate.release();
  for (auto& t : blocked) t.join();
  CHECK(answered.load() == 4);
}

TEST_CASE("many keep-alive clients at once each get every answer, in order", "[http][transport][concurrency]") {
  Runtime rt{RuntimeOptions{.schedulers = 1}};
  exporters::Exposition exposition({.node_name = "many"});
  exposition.add_source([&rt] { return rt.collect(); });
  exporters::ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.threads = 3;
  exporters::HttpServer server(rt, exposition, o);
  REQUIRE(server.start().ok());
  const int port = server.port();
  std::atomic<int> good{0}, bad{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back([&, i] {
      Connection c(port);
      for (int n = 0; n < 50; ++n) {
        const char* path = (n + i) % 3 == 0 ? "/metrics" : (n + i) % 3 == 1 ? "/healthz" : "/api/v1/system";
        if (!c.get(path)) {
          bad.fetch_add(1);
          return;
        }
        const auto r = c.read_response();
        (r.status == 200 ? good : bad).fetch_add(1);
      }
    });
  }
  // Meanwhile a fresh client still gets through.
  CHECK(request(port, "GET", "/healthz").status == 200);
  for (auto& t : clients) t.join();
  CHECK(good.load() == 400);
  CHECK(bad.load() == 0);
  server.stop();
  CHECK(server.open_connections() == 0);
}

}  // namespace test_exporters_concurrency_transport_concurrency_test
