// canopy-bench api --processes N: the observer's question with N live
// processes: GET /api/v1/processes?sort=mailbox&limit=50 over loopback HTTP
// (the route, Runtime::top_processes and the JSON), the median of --rounds
// answers. Prints `bench=api impl=canopy processes=N top50_ms=X`; the other
// sorts, a filtered answer, the worst time and the page's other routes
// (system, schedulers) go to stderr.
#include <canopy/core/core.hpp>
#include <canopy/exporters/http_server.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "../tests/exporters/http_client.hpp"
#include "args.hpp"

int api_bench(const canopy::bench::Args& args);

namespace {

using Clock = std::chrono::steady_clock;

class Idle final : public canopy::Actor {
 public:
  void handle(canopy::Message&) override {}
};

// Median and worst milliseconds of `rounds` GETs of `path` (answered 200
// with `expect` in the body); -1 on a failure.
std::pair<double, double> time_get(int port, const std::string& path, uint64_t rounds,
                                   const std::string& expect = "\"processes\":[{") {
  std::vector<double> ms;
  for (uint64_t i = 0; i < rounds; ++i) {
    const auto t0 = Clock::now();
    const auto r = canopy::test::request(port, "GET", path);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    if (r.status != 200 || r.body.find(expect) == std::string::npos) {
      std::fprintf(stderr, "canopy-bench api: GET %s answered %d: %.200s\n", path.c_str(), r.status, r.body.c_str());
      return {-1, -1};
    }
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms.back()};
}

}  // namespace

int api_bench(const canopy::bench::Args& args) {
  using namespace canopy;
  args.allow_only("api", {"processes", "rounds", "schedulers", "telemetry", "behaviours"});
  const uint64_t processes = args.count("processes", 1'000'000);
  const uint64_t rounds = args.count("rounds", 11);
  RuntimeOptions ro;
  ro.schedulers = static_cast<unsigned>(args.number("schedulers", 0));
  ro.telemetry.enabled = bench::telemetry_enabled(args);
  ro.max_processes = static_cast<uint32_t>(std::max<uint64_t>(processes + 1024, ro.max_processes));
  Runtime rt(ro);
  for (uint64_t i = 0; i < processes; ++i) {
    if (auto p = rt.spawn<Idle>(); !p.ok()) {
      std::fprintf(stderr, "canopy-bench api: spawn %llu: %s\n", static_cast<unsigned long long>(i),
                   p.error().message().c_str());
      return 1;
    }
  }
  exporters::Exposition exposition({.node_name = "bench"});
  exporters::ServerOptions o;
  o.listen = "127.0.0.1:0";
  exporters::HttpServer server(rt, exposition, o);
  if (!server.start().ok()) {
    std::fprintf(stderr, "canopy-bench api: cannot start the HTTP server\n");
    return 1;
  }
  const int port = server.port();
  const auto [top50, worst] = time_get(port, "/api/v1/processes?sort=mailbox&limit=50", rounds);
  if (top50 < 0) return 1;
  for (const char* sort : {"heap", "reductions_rate", "cpu_rate", "oldest"}) {
    const auto [median, max] = time_get(port, std::string("/api/v1/processes?limit=50&sort=") + sort, rounds);
    if (median < 0) return 1;
    std::fprintf(stderr, "sort=%s top50_ms=%.1f worst_ms=%.1f\n", sort, median, max);
  }
  const auto [matched, matched_max] = time_get(port, "/api/v1/processes?limit=50&match=idle", rounds);
  if (matched < 0) return 1;
  std::fprintf(stderr, "sort=mailbox match=idle top50_ms=%.1f worst_ms=%.1f; sort=mailbox worst_ms=%.1f\n", matched,
               matched_max, worst);
  // The rest of what the observer page asks for every second.
  for (const char* path : {"/api/v1/system", "/api/v1/schedulers"}) {
    const auto [median, max] = time_get(port, path, rounds, "{");
    if (median < 0) return 1;
    std::fprintf(stderr, "%s ms=%.1f worst_ms=%.1f\n", path, median, max);
  }
  std::printf("bench=api impl=canopy processes=%llu top50_ms=%.1f\n", static_cast<unsigned long long>(processes),
              top50);
  return 0;
}
