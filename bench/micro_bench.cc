// Google Benchmark micro-benchmarks of the runtime's hot paths.
#include <benchmark/benchmark.h>

#include <canopy/core/core.hpp>

#include "line_round_trip.hpp"

#include <algorithm>
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

// The consumer's count on a line of its own: on the sender's stack it shared
// a line with what the loop stores there, and both threads paid for it.
struct alignas(64) SeenCount {
  std::atomic<uint64_t> n{0};
};

// A send from a thread outside the runtime while the receiver drains its
// mailbox on a scheduler: allocation, lookup, enqueue, and a wake when the
// receiver had caught up.
void BM_SendFromOutside(benchmark::State& state) {
  canopy::Runtime rt(canopy::RuntimeOptions{.schedulers = 1});
  SeenCount seen;
  const canopy::Pid pid = rt.spawn<Sink>(&seen.n).value();
  uint64_t sent = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(rt.send(pid, Ping{sent++}));
  }
  while (seen.n.load() < sent) {
  }
  state.SetItemsProcessed(static_cast<int64_t>(sent));
  // Which regime the run was in: about 2,000 (a full reduction budget per
  // slice) means the receiver stayed runnable throughout, the issue's 150 ns
  // case; a few dozen, that it kept catching up and had to be woken again.
  uint64_t slices = 0, parks = 0;
  for (const canopy::SchedulerStats& s : rt.scheduler_stats()) {
    slices += s.slices;
    parks += s.parks;
  }
  state.counters["sends_per_slice"] = static_cast<double>(sent) / static_cast<double>(std::max<uint64_t>(slices, 1));
  state.counters["parks"] = static_cast<double>(parks);
}
BENCHMARK(BM_SendFromOutside);

// The machine's floor for the benchmark above (line_round_trip.hpp): a send
// from outside moves the receiver's tail line and the message to the
// consumer's core, so it cannot cost less than about one round trip. On a
// 2-core VM, BM_SendFromOutside went from 100-110 to 230-330 ns in the
// minutes this went from 85-97 to 320 ns: read the two together.
void BM_CacheLineRoundTrip(benchmark::State& state) {
  canopy::bench::LineEcho echo;
  for (auto _ : state) echo.bounce();
}
BENCHMARK(BM_CacheLineRoundTrip);

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

// --- telemetry ------------------------------------------------------------------

namespace tel = canopy::telemetry;

tel::Bus& shared_bus() {
  static tel::Bus bus;
  return bus;
}

// execute() itself on an event nobody listens to: the measurements are built
// once, as the runtime's emit sites do (they test ev.active() before building).
void BM_Execute_NoHandler(benchmark::State& state) {
  tel::Bus& bus = shared_bus();
  const tel::Event& e = bus.event({"bench", "nobody", "listens"});
  const tel::Measurements m{{"count", 1}};
  for (auto _ : state) {
    bus.execute(e, m);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_Execute_NoHandler)->Threads(1)->Threads(2);

// The same with the measurements built at every call: what a careless call
// site pays.
void BM_Execute_NoHandler_BuildingArgs(benchmark::State& state) {
  tel::Bus& bus = shared_bus();
  const tel::Event& e = bus.event({"bench", "nobody", "listens"});
  for (auto _ : state) bus.execute(e, {{"count", 1}});
}
BENCHMARK(BM_Execute_NoHandler_BuildingArgs)->Threads(1)->Threads(2);

// A handler's count on a line of its own, so that threads:2 measures the bus
// and the count's own sharing, not whatever malloc placed beside it (the same
// binary gave 49-65 ns for FourHandlers/threads:2 from run to run).
struct alignas(64) HandlerCount {
  std::atomic<uint64_t> n{0};
};

void attach_counters(tel::Bus& bus, const tel::EventName& name, int n) {
  const std::vector<std::string> ids = bus.handler_ids();
  for (int i = 0; i < n; ++i) {
    const std::string id = tel::to_string(name) + "#" + std::to_string(i);
    if (std::find(ids.begin(), ids.end(), id) != ids.end()) continue;
    auto counter = std::make_shared<HandlerCount>();
    bus.attach(id, {name},
               [counter](const tel::EventName&, const tel::Measurements&, const tel::Metadata&, const std::any&) {
                 counter->n.fetch_add(1, std::memory_order_relaxed);
               });
  }
}

void BM_Execute_OneHandler(benchmark::State& state) {
  tel::Bus& bus = shared_bus();
  const tel::EventName name{"bench", "one"};
  if (state.thread_index() == 0) attach_counters(bus, name, 1);
  const tel::Event& e = bus.event(name);
  for (auto _ : state) bus.execute(e, {{"count", 1}}, {{"reason", "x"}});
}
BENCHMARK(BM_Execute_OneHandler)->Threads(1)->Threads(2);

void BM_Execute_FourHandlers(benchmark::State& state) {
  tel::Bus& bus = shared_bus();
  const tel::EventName name{"bench", "four"};
  if (state.thread_index() == 0) attach_counters(bus, name, 4);
  const tel::Event& e = bus.event(name);
  for (auto _ : state) bus.execute(e, {{"count", 1}}, {{"reason", "x"}});
}
BENCHMARK(BM_Execute_FourHandlers)->Threads(1)->Threads(2);

struct MetricFixture {
  tel::Bus bus;
  tel::Metrics metrics{bus};
  MetricFixture() {
    tel::MetricDef counter;
    counter.type = tel::MetricType::counter;
    counter.name = "bench_counter_total";
    counter.event = {"bench", "counter"};
    metrics.add(counter);
    tel::MetricDef dist;
    dist.type = tel::MetricType::distribution;
    dist.name = "bench_duration_seconds";
    dist.event = {"bench", "dist"};
    dist.measurement = "duration";
    dist.unit_from = tel::Unit::native_time;
    dist.unit_to = tel::Unit::second;
    dist.buckets = {0.001, 0.01, 0.1, 1, 10};
    metrics.add(dist);
    tel::MetricDef tagged;
    tagged.type = tel::MetricType::counter;
    tagged.name = "bench_tagged_total";
    tagged.event = {"bench", "tagged"};
    tagged.tags = {"reason"};
    metrics.add(tagged);
  }
};

MetricFixture& fixture() {
  static MetricFixture f;
  return f;
}

void BM_Counter(benchmark::State& state) {
  MetricFixture& f = fixture();
  const tel::Event& e = f.bus.event({"bench", "counter"});
  for (auto _ : state) f.bus.execute(e, {{"count", 1}});
}
BENCHMARK(BM_Counter)->Threads(1)->Threads(2);

void BM_CounterTagged(benchmark::State& state) {
  MetricFixture& f = fixture();
  const tel::Event& e = f.bus.event({"bench", "tagged"});
  for (auto _ : state) f.bus.execute(e, {{"count", 1}}, {{"reason", "dead_process"}});
}
BENCHMARK(BM_CounterTagged)->Threads(1)->Threads(2);

void BM_Distribution(benchmark::State& state) {
  MetricFixture& f = fixture();
  const tel::Event& e = f.bus.event({"bench", "dist"});
  double d = 0;
  for (auto _ : state) {
    d = d > 2e9 ? 0 : d + 1e5;
    f.bus.execute(e, {{"duration", d}});
  }
}
BENCHMARK(BM_Distribution)->Threads(1)->Threads(2);

}  // namespace

BENCHMARK_MAIN();
