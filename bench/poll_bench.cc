// canopy-bench poll --processes N: what one poller round costs with N live
// processes (the runtime's measurements: memory, run queues, counts,
// utilization, the top-N scan, head-of-line ages, the population histograms,
// orphans, supervisors and tables). The poll runs on its own thread every
// telemetry.poll_interval; this is its price per round.
#include <canopy/core/core.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "args.hpp"

using namespace canopy;
using Clock = std::chrono::steady_clock;

namespace {

class Parked final : public Actor {
 public:
  void handle(Message&) override {}
};

struct Ping {};

}  // namespace

int poll_bench(const bench::Args& args) {
  const uint64_t n = args.number("processes", 1'000'000);
  const uint64_t rounds = args.count("rounds", 10);
  RuntimeOptions o;
  o.max_processes = static_cast<uint32_t>(n + 64);
  o.telemetry.enabled = true;
  o.telemetry.poll_interval = std::chrono::hours(1);  // only the rounds timed here
  Runtime rt(o);
  for (uint64_t i = 0; i < n; ++i) {
    auto pid = rt.spawn<Parked>();
    if (!pid.ok()) {
      std::fprintf(stderr, "canopy-bench: spawn %llu failed: %s\n", static_cast<unsigned long long>(i),
                   pid.error().to_string().c_str());
      return 1;
    }
    // Every 1000th process has a little backlog, so the top-N has work.
    if (i % 1000 == 0) (void)rt.send(*pid, Ping{});
  }
  std::vector<double> ms;
  for (uint64_t r = 0; r < rounds; ++r) {
    const auto t0 = Clock::now();
    rt.poll_now();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  std::printf("bench=poll impl=canopy processes=%llu poll_ms=%.2f poll_ms_max=%.2f ns_per_process=%.1f\n",
              static_cast<unsigned long long>(n), ms[ms.size() / 2], ms.back(),
              ms[ms.size() / 2] * 1e6 / static_cast<double>(std::max<uint64_t>(n, 1)));
  rt.shutdown();
  return 0;
}
