// canopy-bench http: the HTTP server under the loads that used to break it
// (issue 12), each figure measured in this one run:
//   keepalive  one keep-alive client: /healthz and /metrics requests/s, and
//              prometheus-cpp's own Exposer (civetweb) serving the same
//              number of series to the same client;
//   api_load   --clients keep-alive clients hammering /api/v1/processes
//              while a fresh connection asks for /metrics every 100 ms:
//              its median and worst time;
//   slow       --slow connections sending a header byte per second: the
//              worst /metrics time meanwhile, and how long the slowest of
//              them stayed connected before the server dropped it.
#include <canopy/core/core.hpp>
#include <canopy/exporters/http_server.hpp>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../tests/exporters/http_client.hpp"
#include "args.hpp"

using namespace canopy;
using Clock = std::chrono::steady_clock;

// bench/scrape_bench.cc: a runtime serving `series` series of one gauge.
RuntimeOptions series_runtime_options(uint64_t series);
void feed_series(Runtime& rt, uint64_t series);

namespace {

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// Requests/s of one keep-alive client asking for `path` for `seconds`. Like
// wrk, it connects again when the server closes the connection (civetweb,
// under prometheus-cpp's Exposer, does not keep connections alive).
double keepalive_rps(int port, const std::string& path, double seconds) {
  auto c = std::make_unique<test::Connection>(port);
  uint64_t n = 0, failed = 0;
  const auto t0 = Clock::now();
  const auto end = t0 + std::chrono::duration<double>(seconds);
  while (Clock::now() < end && n < 100'000'000 && failed < 100) {
    if (c->get(path) && c->read_response().status == 200) {
      ++n;
      continue;
    }
    c = std::make_unique<test::Connection>(port);
    if (c->get(path) && c->read_response().status == 200) {
      ++n;
    } else {
      ++failed;
    }
  }
  return failed >= 100 ? 0 : static_cast<double>(n) / (ms_since(t0) / 1000.0);
}

struct Latencies {
  double median = 0, max = 0;
  uint64_t failed = 0, count = 0;
};

// A fresh connection's GET /metrics every 100 ms until `stop`.
Latencies probe_metrics(int port, const std::atomic<bool>& stop) {
  std::vector<double> ms;
  Latencies l;
  for (int i = 0; i < 100'000 && !stop.load(); ++i) {
    const auto t0 = Clock::now();
    const auto r = test::request(port, "GET", "/metrics");
    ms.push_back(ms_since(t0));
    if (r.status != 200) ++l.failed;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (ms.empty()) return l;
  std::sort(ms.begin(), ms.end());
  l.median = ms[ms.size() / 2];
  l.max = ms.back();
  l.count = ms.size();
  return l;
}

}  // namespace

int http_bench(const bench::Args& args) {
  const uint64_t series = args.number("series", 2'000);
  const double seconds = static_cast<double>(args.number("seconds", 3));
  const uint64_t clients = args.count("clients", 50);
  const uint64_t slow = args.count("slow", 200);
  args.allow_only("http", {"series", "seconds", "clients", "slow"});

  Runtime rt(series_runtime_options(series));
  feed_series(rt, series);
  exporters::Exposition exposition({.node_name = "bench"});
  exposition.add_stream_source([&rt](telemetry::FamilySink& sink) { rt.collect_into(sink); });
  exporters::ServerOptions o;
  o.listen = "127.0.0.1:0";
  exporters::HttpServer server(rt, exposition, o);
  if (!server.start().ok()) {
    std::fprintf(stderr, "canopy-bench http: cannot start the HTTP server\n");
    return 1;
  }
  const int port = server.port();
  // Series served: the lines that are not comments.
  const std::string text = exposition.render_text();
  size_t served_series = 0;
  for (size_t at = 0; at < text.size(); at = text.find('\n', at) + 1) {
    if (text[at] != '#') ++served_series;
    if (text.find('\n', at) == std::string::npos) break;
  }

  // prometheus-cpp's Exposer with as many series (one gauge family).
  auto registry = std::make_shared<prometheus::Registry>();
  auto& family = prometheus::BuildGauge().Name("bench_series_value").Help("bench").Register(*registry);
  for (size_t i = 0; i < served_series; ++i) family.Add({{"key", "key_" + std::to_string(i)}}).Set(double(i));
  prometheus::Exposer exposer("127.0.0.1:0", 4);
  exposer.RegisterCollectable(registry);
  const int exposer_port = exposer.GetListeningPorts().front();

  const double healthz_rps = keepalive_rps(port, "/healthz", seconds);
  const double metrics_rps = keepalive_rps(port, "/metrics", seconds);
  const double exposer_rps = keepalive_rps(exposer_port, "/metrics", seconds);
  std::printf(
      "bench=http phase=keepalive impl=canopy series=%zu healthz_rps=%.0f metrics_rps=%.0f exposer_metrics_rps=%.0f "
      "metrics_vs_exposer=%.2f\n",
      served_series, healthz_rps, metrics_rps, exposer_rps, exposer_rps > 0 ? metrics_rps / exposer_rps : 0.0);
  std::fflush(stdout);

  // Many keep-alive clients on the API, a fresh scrape every 100 ms.
  {
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> api_requests{0}, api_failed{0};
    std::vector<std::thread> load;
    for (uint64_t i = 0; i < clients; ++i) {
      load.emplace_back([&] {
        test::Connection c(port);
        while (!stop.load()) {
          if (!c.get("/api/v1/processes?limit=20") || c.read_response().status != 200) {
            api_failed.fetch_add(1);
            return;
          }
          api_requests.fetch_add(1);
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    Latencies l;
    std::thread prober([&] { l = probe_metrics(port, stop); });
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds * 2));
    stop = true;
    prober.join();
    for (auto& t : load) t.join();
    std::printf(
        "bench=http phase=api_load impl=canopy clients=%llu api_rps=%.0f api_failed=%llu scrapes=%llu "
        "scrapes_failed=%llu scrape_ms_median=%.2f scrape_ms_max=%.2f\n",
        static_cast<unsigned long long>(clients), static_cast<double>(api_requests.load()) / (seconds * 2 + 0.2),
        static_cast<unsigned long long>(api_failed.load()), static_cast<unsigned long long>(l.count),
        static_cast<unsigned long long>(l.failed), l.median, l.max);
    std::fflush(stdout);
  }

  // Slow senders: one header byte per second each.
  {
    std::vector<std::unique_ptr<test::Connection>> conns;
    for (uint64_t i = 0; i < slow; ++i) conns.push_back(std::make_unique<test::Connection>(port));
    std::vector<Clock::time_point> opened(conns.size(), Clock::now());
    std::vector<double> lived_ms(conns.size(), -1);
    const std::string head = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow\r\n\r\n";
    std::atomic<bool> stop{false};
    Latencies l;
    std::thread prober([&] { l = probe_metrics(port, stop); });
    const auto t0 = Clock::now();
    for (size_t byte = 0; byte < head.size() && ms_since(t0) < 30'000; ++byte) {
      for (size_t i = 0; i < conns.size(); ++i) {
        if (lived_ms[i] >= 0) continue;
        conns[i]->send_raw(head.substr(byte, 1));
        if (conns[i]->closed_by_server(0)) lived_ms[i] = ms_since(opened[i]);
      }
      if (std::all_of(lived_ms.begin(), lived_ms.end(), [](double v) { return v >= 0; })) break;
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    stop = true;
    prober.join();
    const size_t dropped =
        static_cast<size_t>(std::count_if(lived_ms.begin(), lived_ms.end(), [](double v) { return v >= 0; }));
    std::printf(
        "bench=http phase=slow impl=canopy slow_connections=%llu dropped=%zu slowest_drop_s=%.1f scrapes=%llu "
        "scrapes_failed=%llu scrape_ms_median=%.2f scrape_ms_max=%.2f\n",
        static_cast<unsigned long long>(slow), dropped, *std::max_element(lived_ms.begin(), lived_ms.end()) / 1000.0,
        static_cast<unsigned long long>(l.count), static_cast<unsigned long long>(l.failed), l.median, l.max);
  }
  server.stop();
  return 0;
}
