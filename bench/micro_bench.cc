// Google Benchmark micro-benchmarks of the runtime's hot paths.
#include <benchmark/benchmark.h>

#include <canopy/core/core.hpp>

#include <atomic>

namespace {

struct Ping {
  uint64_t n;
};

class Sink final : public canopy::Actor {
 public:
  explicit Sink(std::atomic<uint64_t>* seen) : seen_(seen) {}
  void handle(canopy::Message&) override { seen_->fetch_add(1, std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t>* seen_;
};

// A send from a thread outside the runtime: allocation, lookup, enqueue, wake.
void BM_SendFromOutside(benchmark::State& state) {
  canopy::Runtime rt(canopy::RuntimeOptions{.schedulers = 1});
  std::atomic<uint64_t> seen{0};
  const canopy::Pid pid = rt.spawn<Sink>(&seen).value();
  uint64_t sent = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(rt.send(pid, Ping{sent++}));
  }
  while (seen.load() < sent) {
  }
  state.SetItemsProcessed(static_cast<int64_t>(sent));
}
BENCHMARK(BM_SendFromOutside);

// A send to a dead pid: the generation check and the drop counter, nothing else.
void BM_SendToDeadPid(benchmark::State& state) {
  canopy::Runtime rt(canopy::RuntimeOptions{.schedulers = 1});
  const canopy::Pid dead = canopy::Pid::from_parts(12345, 7);
  for (auto _ : state) {
    benchmark::DoNotOptimize(rt.send(dead, Ping{1}));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SendToDeadPid);

// process_info on a live process: what a poller pays per process.
void BM_ProcessInfo(benchmark::State& state) {
  canopy::Runtime rt(canopy::RuntimeOptions{.schedulers = 1});
  std::atomic<uint64_t> seen{0};
  const canopy::Pid pid = rt.spawn<Sink>(&seen).value();
  for (auto _ : state) {
    benchmark::DoNotOptimize(rt.process_info(pid));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ProcessInfo);

}  // namespace

BENCHMARK_MAIN();
