// Concurrency: backpressure under load, concurrent pushers, repeated crashes.
// Labelled "stages;concurrency" (run under ThreadSanitizer by the tsan preset).
#include "support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_stages_backpressure_test {

using namespace canopy;
using namespace stage_test;

TEST_CASE("a fast producer and a slow consumer keep every mailbox bounded by demand for the whole run",
          "[stages][concurrency]") {
  constexpr uint32_t kMaxDemand = 50;
  constexpr size_t kPcBuffer = 100;
  // A few messages of slack: one Events batch in flight per subscription, the
  // Demand/ack replies, a stats call, a timer.
  constexpr uint64_t kSlack = 8;
  const uint64_t events = static_cast<uint64_t>(scaled(100'000));
  auto handled = std::make_shared<std::atomic<uint64_t>>(0);
  Runtime rt(quiet_runtime());
  const Pid p = spawn_stage(rt, counter_producer(producer_opts("fast", 1'000), events));
  const Pid pc =
      spawn_stage(rt, stage::make_producer_consumer(
                          producer_opts("inc", kPcBuffer), consumer_opts("inc", {sub(p, kMaxDemand)}),
                          [](StageEvent& e, std::vector<StageEvent>& out) { out.emplace_back(as_u64(e) + 1); }));
  const Pid c =
      spawn_stage(rt, stage::make_consumer(consumer_opts("slow", {sub(pc, kMaxDemand)}), [handled](StageEvent&) {
                    // Slow-ish: a little work per event.
                    volatile uint64_t x = 0;
                    for (int i = 0; i < 2'000; ++i) x = x + static_cast<uint64_t>(i);
                    handled->fetch_add(1, std::memory_order_relaxed);
                  }));
  uint64_t peak = 0;
  uint64_t samples = 0;
  const auto deadline = Clock::now() + 4 * kPatience;
  while (handled->load() < events && Clock::now() < deadline) {
    for (Pid pid : {p, pc, c}) {
      if (auto info = rt.process_info(pid)) peak = std::max<uint64_t>(peak, info->mailbox_length);
    }
    ++samples;
    std::this_thread::sleep_for(200us);
  }
  if (handled->load() != events) {
    // Say where the flow stopped.
    for (Pid pid : {p, pc, c}) {
      if (auto st = stage::stats(rt, pid, 1s); st.ok()) {
        const StageStats& x = st.value();
        UNSCOPED_INFO(x.name << ": in " << x.events_in << " out " << x.events_out << " demand " << x.demand_outstanding
                             << " buffer " << x.buffer_length << " unacked " << x.unacked << " acked " << x.acked
                             << " consumers " << x.consumers << " producers " << x.producers);
      }
    }
  }
  REQUIRE(handled->load() == events);
  INFO("peak mailbox " << peak << " over " << samples << " samples");
  CHECK(peak < kMaxDemand + kSlack);
  const StageStats cs = stats_of(rt, c);
  CHECK(cs.peak_in_flight <= kMaxDemand);
  CHECK(cs.events_out == events);
  const StageStats pcs = stats_of(rt, pc);
  CHECK(pcs.peak_in_flight <= kMaxDemand);
  CHECK(pcs.dropped_oldest + pcs.dropped_newest + pcs.rejected == 0);
  const StageStats ps = stats_of(rt, p);
  CHECK(ps.dropped_oldest + ps.dropped_newest + ps.rejected == 0);
  CHECK(ps.events_out == events);
}

TEST_CASE("concurrent pushers and several consumers: every accepted event is delivered exactly once",
          "[stages][concurrency]") {
  const int threads = 4;
  const uint64_t per_thread = static_cast<uint64_t>(scaled(5'000));
  auto seen = std::make_shared<Recorder<uint64_t>>();
  Runtime rt(quiet_runtime());
  const Pid p = spawn_stage(rt, stage::make_producer(producer_opts("src", 1'000'000, BufferOverflow::reject)));
  std::vector<Pid> consumers;
  for (int i = 0; i < 3; ++i) {
    consumers.push_back(
        spawn_stage(rt, recording_consumer(consumer_opts("c" + std::to_string(i), {sub(p, 20)}), seen)));
  }
  std::atomic<uint64_t> accepted{0};
  std::vector<std::thread> pushers;
  for (int t = 0; t < threads; ++t) {
    pushers.emplace_back([&, t] {
      const uint64_t base = static_cast<uint64_t>(t) * per_thread;
      for (uint64_t i = 0; i < per_thread; i += 100) {
        auto r = stage::push(rt, p, range_events(base + i, base + std::min(i + 100, per_thread)));
        if (r.ok()) accepted.fetch_add(r.value().accepted);
      }
    });
  }
  for (auto& t : pushers) t.join();
  const uint64_t total = threads * per_thread;
  REQUIRE(accepted.load() == total);
  REQUIRE(seen->wait_size(total));
  auto v = seen->snapshot();
  std::sort(v.begin(), v.end());
  CHECK(std::adjacent_find(v.begin(), v.end()) == v.end());
  CHECK(v.size() == total);
  CHECK(covers(v, total));
}

TEST_CASE("a consumer killed again and again under load never loses an event", "[stages][concurrency]") {
  const uint64_t events = static_cast<uint64_t>(scaled(20'000));
  auto seen = std::make_shared<Recorder<uint64_t>>();
  Runtime rt(quiet_runtime());
  SupervisorSpec spec;
  spec.name = "pipeline";
  spec.flags.intensity = 1'000;
  ChildSpec src;
  src.id = "src";
  src.start = [events] { return counter_producer(producer_opts("src"), events); };
  src.spawn.name = "src";
  ChildSpec sink;
  sink.id = "sink";
  sink.spawn.name = "sink";
  sink.start = [seen]() -> std::unique_ptr<Actor> {
    SubscribeTo s;
    s.name = "src";
    s.max_demand = 64;
    return stage::make_consumer(consumer_opts("sink", {s}), [seen](StageEvent& e) {
      const auto until = Clock::now() + 10us;  // slow enough that the kills land mid-run
      while (Clock::now() < until) {
      }
      seen->push(as_u64(e));
    });
  };
  spec.children = {src, sink};
  REQUIRE_OK(start_supervisor(rt, spec));
  int kills = 0;
  for (int i = 0; i < 20 && seen->size() < events; ++i) {
    const size_t before = seen->size();
    (void)eventually([&] { return seen->size() > before + events / 40; }, 5s);
    const Pid victim = rt.whereis("sink");
    if (victim.valid() && rt.exit(victim, ExitReason::kill()).ok()) ++kills;
    (void)eventually([&] { return rt.whereis("sink").valid() && rt.whereis("sink") != victim; }, 5s);
  }
  REQUIRE(eventually([&] { return covers(seen->snapshot(), events); }, 4 * kPatience));
  INFO("kills " << kills << ", seen " << seen->size());
  CHECK(kills > 0);
  CHECK(stats_of(rt, rt.whereis("src")).redelivered > 0);
  CHECK(seen->size() >= events);
}

}  // namespace test_stages_backpressure_test
