// canopy-bench scrape --series N: how long a /metrics scrape takes and how
// big it is, through the real HTTP server, for N series. And the scraper the
// ring uses for --scrape-every-ms.
#include <canopy/core/core.hpp>
#include <canopy/exporters/http_server.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "../tests/exporters/http_client.hpp"
#include "args.hpp"

using namespace canopy;
using Clock = std::chrono::steady_clock;

namespace {

struct Served {
  explicit Served(Runtime& rt) : exposition({.node_name = "bench"}) {
    exposition.add_stream_source([&rt](telemetry::FamilySink& sink) { rt.collect_into(sink); });
    exporters::ServerOptions o;
    o.listen = "127.0.0.1:0";
    o.threads = 1;
    server = std::make_unique<exporters::HttpServer>(rt, exposition, o);
    if (!server->start().ok()) {
      std::fprintf(stderr, "canopy-bench: cannot start the HTTP server\n");
      std::exit(1);
    }
  }
  exporters::Exposition exposition;
  std::unique_ptr<exporters::HttpServer> server;
};

}  // namespace

// Starts scraping /metrics of `rt` every `every_ms`; the returned function
// stops it and returns how many scrapes were made.
std::function<uint64_t()> start_scraper(Runtime& rt, uint64_t every_ms) {
  auto served = std::make_shared<Served>(rt);
  auto stop = std::make_shared<std::atomic<bool>>(false);
  auto count = std::make_shared<std::atomic<uint64_t>>(0);
  auto thread = std::make_shared<std::thread>([served, stop, count, every_ms] {
    while (!stop->load()) {
      const auto r = canopy::test::request(served->server->port(), "GET", "/metrics");
      if (r.status == 200) count->fetch_add(1);
      std::this_thread::sleep_for(std::chrono::milliseconds(every_ms));
    }
  });
  return [served, stop, count, thread] {
    stop->store(true);
    thread->join();
    served->server->stop();
    return count->load();
  };
}

RuntimeOptions series_runtime_options(uint64_t series) {
  return RuntimeOptions{.telemetry = {.enabled = true, .max_series_per_metric = series + 10}};
}

// N series: a user gauge tagged by key, fed once per key; then one poll.
void feed_series(Runtime& rt, uint64_t series) {
  telemetry::MetricDef def;
  def.type = telemetry::MetricType::last_value;
  def.name = "bench_series_value";
  def.event = {"bench", "series"};
  def.measurement = "value";
  def.tags = {"key"};
  def.max_series = series + 10;
  rt.metrics().add(def);
  const auto& event = rt.telemetry_bus().event({"bench", "series"});
  for (uint64_t i = 0; i < series; ++i) {
    rt.telemetry_bus().execute(event, {{"value", static_cast<double>(i)}}, {{"key", "key_" + std::to_string(i)}});
  }
  rt.poll_now();
}

int scrape_bench(const bench::Args& args) {
  const uint64_t series = args.number("series", 10'000);
  const uint64_t rounds = args.count("rounds", 20);
  Runtime rt(series_runtime_options(series));
  feed_series(rt, series);
  Served served(rt);
  const int port = served.server->port();
  std::vector<double> ms;
  size_t bytes = 0, gzip_bytes = 0;
  for (uint64_t r = 0; r < rounds; ++r) {
    const auto t0 = Clock::now();
    const auto plain = canopy::test::request(port, "GET", "/metrics");
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    bytes = plain.body.size();
  }
  // Where the time goes: collecting the aggregates, then also converting and
  // serializing them (the HTTP scrape adds the server and the socket).
  auto median_ms = [&](auto&& fn) {
    std::vector<double> t;
    for (uint64_t r = 0; r < rounds; ++r) {
      const auto t0 = Clock::now();
      fn();
      t.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
  };
  size_t families = 0;
  const double collect_ms = median_ms([&] { families = rt.collect().size(); });
  const double render_ms = median_ms([&] { bytes = served.exposition.render_text().size(); });
  const auto z = canopy::test::request(port, "GET", "/metrics", "", {{"Accept-Encoding", "gzip"}});
  gzip_bytes = z.body.size();
  // The first scrape of a process is the slowest: its buffers are faulted in
  // and the series table is cold in the caches.
  const double first = ms.front();
  std::sort(ms.begin(), ms.end());
  const double median = ms[ms.size() / 2];
  std::printf(
      "bench=scrape impl=canopy series=%llu scrape_ms=%.2f scrape_ms_max=%.2f bytes=%zu gzip_bytes=%zu "
      "collect_ms=%.2f render_ms=%.2f families=%zu scrape_ms_first=%.2f\n",
      static_cast<unsigned long long>(series), median, ms.back(), bytes, gzip_bytes, collect_ms, render_ms, families,
      first);
  return 0;
}
