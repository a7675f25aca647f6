// Acknowledgement, redelivery across consumer crashes, failed events.
#include "support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_stages_ack_test {

using namespace canopy;
using namespace stage_test;

namespace {
std::map<uint64_t, int> histogram(const std::vector<uint64_t>& v) {
  std::map<uint64_t, int> h;
  for (uint64_t x : v) ++h[x];
  return h;
}

// A supervisor with a finite generating producer ("src") and a consumer that
// subscribes to it by name.
Pid start_pipeline(Runtime& rt, uint64_t n, std::function<std::unique_ptr<Actor>()> consumer) {
  SupervisorSpec spec;
  spec.name = "pipeline";
  spec.flags.intensity = 10;
  ChildSpec src;
  src.id = "src";
  src.start = [n] { return counter_producer(producer_opts("src"), n); };
  src.spawn.name = "src";
  ChildSpec sink;
  sink.id = "sink";
  sink.start = std::move(consumer);
  spec.children = {src, sink};
  auto sup = start_supervisor(rt, spec);
  if (!sup.ok()) FAIL("start_supervisor: " << sup.error().to_string());
  return sup.value();
}

SubscribeTo by_name(const std::string& name, uint32_t max_demand) {
  SubscribeTo s;
  s.name = name;
  s.max_demand = max_demand;
  return s;
}
}  // namespace

TEST_CASE("a consumer killed mid-batch loses nothing and duplicates only unacknowledged events", "[stages][ack]") {
  constexpr uint64_t kEvents = 2'000;
  constexpr uint64_t kCrashAt = 777;
  constexpr uint32_t kMaxDemand = 50;
  auto seen = std::make_shared<Recorder<uint64_t>>();
  auto entered = std::make_shared<Gate>();
  auto release = std::make_shared<Gate>();
  auto parked = std::make_shared<std::atomic<bool>>(false);
  Runtime rt(quiet_runtime());
  OpenOnExit open({release});
  const Pid sup = start_pipeline(rt, kEvents, [=]() -> std::unique_ptr<Actor> {
    return stage::make_consumer(consumer_opts("sink", {by_name("src", kMaxDemand)}), [=](StageEvent& e) {
      const uint64_t x = as_u64(e);
      seen->push(x);
      if (x == kCrashAt && !parked->exchange(true)) {
        entered->open();
        (void)release->wait();
      }
    });
  });
  REQUIRE(entered->wait(kPatience));
  // The consumer is inside a batch: events before kCrashAt in it are handled, not acknowledged.
  auto children = supervisor::which_children(rt, sup);
  REQUIRE_OK(children);
  Pid sink;
  for (auto& c : children.value()) {
    if (c.id == "sink") sink = c.pid;
  }
  REQUIRE(sink.valid());
  const Pid src = rt.whereis("src");
  const uint64_t acked_before = stats_of(rt, src).acked;
  REQUIRE_OK(rt.exit(sink, ExitReason::kill()));
  release->open();
  REQUIRE(eventually([&] { return covers(seen->snapshot(), kEvents); }));
  REQUIRE(eventually([&] { return stats_of(rt, src).acked >= kEvents; }));
  const auto h = histogram(seen->snapshot());
  const StageStats ps = stats_of(rt, src);
  CHECK(ps.redelivered >= 1);
  uint64_t duplicates = 0;
  for (auto& [x, count] : h) {
    INFO("event " << x << " seen " << count << " times");
    CHECK(count <= 2);
    if (count == 2) {
      ++duplicates;
      // Only events the crashed consumer had not acknowledged come again.
      CHECK(x >= acked_before);
      CHECK(x <= kCrashAt);
    }
  }
  CHECK(duplicates >= 1);  // kCrashAt itself was handled and never acknowledged
  CHECK(duplicates <= ps.redelivered);
  CHECK(h.size() == kEvents);
}

TEST_CASE("a consumer that crashes on a failed event reports it, and the event is redelivered", "[stages][ack]") {
  constexpr uint64_t kEvents = 1'000;
  auto seen = std::make_shared<Recorder<uint64_t>>();
  auto failed = std::make_shared<Recorder<std::string>>();
  auto crashed = std::make_shared<std::atomic<bool>>(false);
  Runtime rt(quiet_runtime());
  start_pipeline(rt, kEvents, [=]() -> std::unique_ptr<Actor> {
    ConsumerOptions o = consumer_opts("sink", {by_name("src", 40)});
    o.on_failure = FailurePolicy::crash;
    return stage::make_consumer(
        o,
        [=](StageEvent& e) {
          const uint64_t x = as_u64(e);
          if (x == 500 && !crashed->exchange(true)) throw std::runtime_error("poison 500");
          seen->push(x);
        },
        [=](const StageEvent& e, const std::string& reason) {
          failed->push(std::to_string(as_u64(e)) + ": " + reason);
        });
  });
  REQUIRE(eventually([&] { return covers(seen->snapshot(), kEvents); }));
  const auto h = histogram(seen->snapshot());
  CHECK(h.size() == kEvents);
  // Events handled before the failing one were acknowledged before the crash.
  for (auto& [x, count] : h) {
    INFO("event " << x);
    CHECK(count == 1);
  }
  CHECK(failed->snapshot() == std::vector<std::string>{"500: poison 500"});
  CHECK(stats_of(rt, rt.whereis("src")).redelivered >= 1);
}

TEST_CASE("a handler that throws reports the failed event with the reason and carries on", "[stages][ack]") {
  auto seen = std::make_shared<Recorder<uint64_t>>();
  auto failed = std::make_shared<Recorder<std::string>>();
  auto reported = std::make_shared<Recorder<std::string>>();
  Runtime rt(quiet_runtime());
  REQUIRE(rt.telemetry_bus().attach("failed-test", {{"canopy", "stage", "failed"}},
                                    [reported](const telemetry::EventName&, const telemetry::Measurements&,
                                               const telemetry::Metadata& md, const std::any&) {
                                      const auto* r = md.find("reason");
                                      reported->push(r != nullptr ? std::string(r->text()) : std::string("?"));
                                    }));
  const Pid p = spawn_stage(rt, counter_producer(producer_opts("src"), 1'000));
  const Pid c = spawn_stage(rt, stage::make_consumer(
                                    consumer_opts("sink", {sub(p, 30)}),
                                    [=](StageEvent& e) {
                                      const uint64_t x = as_u64(e);
                                      if (x % 100 == 7) throw std::runtime_error("bad " + std::to_string(x));
                                      seen->push(x);
                                    },
                                    [=](const StageEvent& e, const std::string& reason) {
                                      failed->push(std::to_string(as_u64(e)) + "=" + reason);
                                    }));
  REQUIRE(eventually([&] { return seen->size() + failed->size() >= 1'000; }));
  CHECK(seen->size() == 990);
  const auto f = failed->snapshot();
  REQUIRE(f.size() == 10);
  CHECK(f[0] == "7=bad 7");
  CHECK(f[9] == "907=bad 907");
  CHECK(rt.alive(c));
  const StageStats cs = stats_of(rt, c);
  CHECK(cs.failed == 10);
  CHECK(cs.events_out == 1'000);
  REQUIRE(eventually([&] { return stats_of(rt, p).acked == 1'000; }));
  REQUIRE(reported->size() == 10);
  CHECK(reported->snapshot()[0] == "bad 7");
}

TEST_CASE("without acknowledgement a producer keeps no copies", "[stages][ack]") {
  auto seen = std::make_shared<Recorder<uint64_t>>();
  Runtime rt(quiet_runtime());
  ProducerOptions po = producer_opts("src");
  po.acknowledge = false;
  const Pid p = spawn_stage(rt, counter_producer(po, 500));
  spawn_stage(rt, recording_consumer(consumer_opts("sink", {sub(p, 25)}), seen));
  REQUIRE(seen->wait_size(500));
  const StageStats ps = stats_of(rt, p);
  CHECK(ps.unacked == 0);
  CHECK(ps.events_out == 500);
}

TEST_CASE("a producer-consumer acknowledges its input only once its consumers acknowledged the output",
          "[stages][ack]") {
  auto entered = std::make_shared<Gate>();
  auto release = std::make_shared<Gate>();
  auto seen = std::make_shared<Recorder<uint64_t>>();
  Runtime rt(quiet_runtime());
  OpenOnExit open({release});
  const Pid p = spawn_stage(rt, stage::make_producer(producer_opts("src")));
  const Pid pc =
      spawn_stage(rt, stage::make_producer_consumer(producer_opts("mid", 100), consumer_opts("mid", {sub(p, 10)}),
                                                    [](StageEvent& e, std::vector<StageEvent>& out) {
                                                      // Even inputs give two outputs, odd ones none.
                                                      if (as_u64(e) % 2 == 0) {
                                                        out.push_back(e);
                                                        out.push_back(e);
                                                      }
                                                    }));
  spawn_stage(rt, stage::make_consumer(consumer_opts("sink", {sub(pc, 4)}), [=](StageEvent& e) {
                if (!entered->is_open()) {
                  entered->open();
                  (void)release->wait();
                }
                seen->push(as_u64(e));
              }));
  REQUIRE_OK(stage::push(rt, p, range_events(0, 40)));
  REQUIRE(entered->wait(kPatience));
  // The sink holds its first 4 outputs unacknowledged: input 0 made two of
  // them, so not even input 0 is acknowledged upstream yet.
  REQUIRE(eventually([&] { return stats_of(rt, p).events_out >= 10; }));
  CHECK(stats_of(rt, p).acked == 0);
  CHECK(stats_of(rt, pc).unacked == 4);
  release->open();
  REQUIRE(seen->wait_size(40));
  REQUIRE(eventually([&] { return stats_of(rt, p).acked == 40; }));
  CHECK(stats_of(rt, pc).acked == 40);
}

TEST_CASE("a producer-consumer killed mid-stream loses nothing: its unacknowledged input is redelivered",
          "[stages][ack]") {
  constexpr uint64_t kEvents = 3'000;
  auto seen = std::make_shared<Recorder<uint64_t>>();
  auto entered = std::make_shared<Gate>();
  auto release = std::make_shared<Gate>();
  auto parked = std::make_shared<std::atomic<bool>>(false);
  Runtime rt(quiet_runtime());
  OpenOnExit open({release});
  SupervisorSpec spec;
  spec.name = "pipeline";
  spec.flags.strategy = Strategy::rest_for_one;
  spec.flags.intensity = 10;
  ChildSpec src;
  src.id = "src";
  src.start = [] { return counter_producer(producer_opts("src"), kEvents); };
  src.spawn.name = "src";
  ChildSpec mid;
  mid.id = "mid";
  mid.spawn.name = "mid";
  mid.start = [=]() -> std::unique_ptr<Actor> {
    return stage::make_producer_consumer(producer_opts("mid", 64), consumer_opts("mid", {by_name("src", 32)}),
                                         [=](StageEvent& e, std::vector<StageEvent>& out) {
                                           if (as_u64(e) == 1'500 && !parked->exchange(true)) {
                                             entered->open();
                                             (void)release->wait();
                                           }
                                           out.push_back(e);
                                         });
  };
  ChildSpec sink;
  sink.id = "sink";
  sink.start = [=]() -> std::unique_ptr<Actor> {
    return recording_consumer(consumer_opts("sink", {by_name("mid", 16)}), seen);
  };
  spec.children = {src, mid, sink};
  REQUIRE_OK(start_supervisor(rt, spec));
  REQUIRE(entered->wait(kPatience));
  const Pid victim = rt.whereis("mid");
  REQUIRE_OK(rt.exit(victim, ExitReason::kill()));
  release->open();
  REQUIRE(eventually([&] { return covers(seen->snapshot(), kEvents); }));
  CHECK(stats_of(rt, rt.whereis("src")).redelivered >= 1);
  for (auto& [x, count] : histogram(seen->snapshot())) {
    INFO("event " << x);
    CHECK(count <= 2);
  }
}

TEST_CASE("a broadcast subscriber that dies leaves its unacknowledged events to the next one", "[stages][ack]") {
  auto a = std::make_shared<Recorder<uint64_t>>();
  auto b2 = std::make_shared<Recorder<uint64_t>>();
  auto entered = std::make_shared<Gate>();
  auto release = std::make_shared<Gate>();
  Runtime rt(quiet_runtime());
  OpenOnExit open({release});
  ProducerOptions po = producer_opts("bcast");
  po.dispatcher.kind = DispatcherKind::broadcast;
  const Pid p = spawn_stage(rt, stage::make_producer(po));
  spawn_stage(rt, recording_consumer(consumer_opts("a", {sub(p, 10)}), a));
  const Pid b = spawn_stage(rt, stage::make_consumer(consumer_opts("b", {sub(p, 10)}), [=](StageEvent&) {
                              entered->open();
                              (void)release->wait();
                            }));
  REQUIRE(eventually([&] { return stats_of(rt, p).consumers == 2; }));
  REQUIRE_OK(stage::push(rt, p, range_events(0, 100)));
  REQUIRE(entered->wait(kPatience));
  REQUIRE_OK(rt.exit(b, ExitReason::kill()));
  release->open();
  REQUIRE(a->wait_size(100));  // alone now, the fast one is no longer held back
  REQUIRE(eventually([&] { return stats_of(rt, p).redelivered == 10; }));
  spawn_stage(rt, recording_consumer(consumer_opts("b2", {sub(p, 10)}), b2));
  REQUIRE(b2->wait_size(10));
  std::vector<uint64_t> first10;
  for (uint64_t i = 0; i < 10; ++i) first10.push_back(i);
  CHECK(b2->snapshot() == first10);
}

TEST_CASE("a partition subscriber that dies leaves its unacknowledged events to its partition's next one",
          "[stages][ack]") {
  auto odd2 = std::make_shared<Recorder<uint64_t>>();
  auto even = std::make_shared<Recorder<uint64_t>>();
  auto entered = std::make_shared<Gate>();
  auto release = std::make_shared<Gate>();
  Runtime rt(quiet_runtime());
  OpenOnExit open({release});
  ProducerOptions po = producer_opts("parts");
  po.dispatcher.kind = DispatcherKind::partition;
  po.dispatcher.partitions = 2;
  po.dispatcher.partition_by = [](const StageEvent& e) { return as_u64(e); };
  const Pid p = spawn_stage(rt, stage::make_producer(po));
  SubscribeTo s0 = sub(p, 5);
  SubscribeTo s1 = sub(p, 5);
  s1.partition = 1;
  spawn_stage(rt, recording_consumer(consumer_opts("even", {s0}), even));
  const Pid odd = spawn_stage(rt, stage::make_consumer(consumer_opts("odd", {s1}), [=](StageEvent&) {
                                entered->open();
                                (void)release->wait();
                              }));
  REQUIRE(eventually([&] { return stats_of(rt, p).consumers == 2; }));
  REQUIRE_OK(stage::push(rt, p, range_events(0, 40)));
  REQUIRE(entered->wait(kPatience));
  REQUIRE_OK(rt.exit(odd, ExitReason::kill()));
  release->open();
  REQUIRE(even->wait_size(20));
  REQUIRE(eventually([&] { return stats_of(rt, p).redelivered == 5; }));
  spawn_stage(rt, recording_consumer(consumer_opts("odd2", {s1}), odd2));
  REQUIRE(odd2->wait_size(20));
  std::vector<uint64_t> odds;
  for (uint64_t i = 1; i < 40; i += 2) odds.push_back(i);
  CHECK(odd2->snapshot() == odds);  // the five redelivered first, in order, then the rest
}

}  // namespace test_stages_ack_test
