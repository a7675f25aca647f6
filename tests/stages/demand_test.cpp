// Demand accounting and subscription lifecycle.
#include "support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_stages_demand_test {

using namespace canopy;
using namespace stage_test;

TEST_CASE("a producer never sends a consumer more than it asked for", "[stages][demand]") {
  auto release = std::make_shared<Gate>();
  auto entered = std::make_shared<Gate>();
  auto seen = std::make_shared<Recorder<uint64_t>>();
  Runtime rt(quiet_runtime());
  OpenOnExit open({release});
  const Pid p = spawn_stage(rt, stage::make_producer(producer_opts("src")));
  // The consumer parks on its first event: it asked for 10 and handles none yet.
  const Pid c = spawn_stage(rt, stage::make_consumer(consumer_opts("sink", {sub(p, 10, 5)}), [=](StageEvent& e) {
                              if (as_u64(e) == 0) {
                                entered->open();
                                (void)release->wait();
                              }
                              seen->push(as_u64(e));
                            }));
  auto pushed = stage::push(rt, p, range_events(0, 100));
  REQUIRE_OK(pushed);
  CHECK(pushed.value().accepted == 100);
  REQUIRE(entered->wait(kPatience));
  const StageStats during = stats_of(rt, p);
  CHECK(during.events_out == 10);
  CHECK(during.buffer_length == 90);
  CHECK(during.demand_outstanding == 0);
  CHECK(during.unacked == 10);
  release->open();
  REQUIRE(seen->wait_size(100));
  const StageStats after = stats_of(rt, c);
  CHECK(after.events_in == 100);
  CHECK(after.events_out == 100);
  CHECK(after.peak_in_flight <= 10);
  CHECK(seen->snapshot() == [] {
    std::vector<uint64_t> v;
    for (uint64_t i = 0; i < 100; ++i) v.push_back(i);
    return v;
  }());
  REQUIRE(eventually([&] { return stats_of(rt, p).acked == 100; }));
  CHECK(stats_of(rt, p).unacked == 0);
}

TEST_CASE("a consumer asks again only when its outstanding demand falls to min_demand", "[stages][demand]") {
  // A generating producer with a limit: the consumer's demand drives how much is made.
  auto seen = std::make_shared<Recorder<uint64_t>>();
  Runtime rt(quiet_runtime());
  const Pid p = spawn_stage(rt, counter_producer(producer_opts("gen"), 1'000));
  const Pid c = spawn_stage(rt, recording_consumer(consumer_opts("sink", {sub(p, 20, 10)}), seen));
  REQUIRE(seen->wait_size(1'000));
  const StageStats cs = stats_of(rt, c);
  CHECK(cs.peak_in_flight <= 20);
  const StageStats ps = stats_of(rt, p);
  CHECK(ps.events_out == 1'000);
  CHECK(ps.events_in == 1'000);
  // Generation stopped at the limit; the consumer still asks for more.
  CHECK(ps.demand_outstanding <= 20);
  CHECK(covers(seen->snapshot(), 1'000));
  CHECK(seen->size() == 1'000);
}

TEST_CASE("a permanent consumer exits when its producer exits, a temporary one carries on", "[stages][lifecycle]") {
  Runtime rt(quiet_runtime());
  const Pid p = spawn_stage(rt, stage::make_producer(producer_opts("src")));
  SubscribeTo perm = sub(p, 10);
  SubscribeTo temp = sub(p, 10);
  temp.cancel = CancelPolicy::temporary;
  const Pid c1 = spawn_stage(rt, stage::make_consumer(consumer_opts("perm", {perm}), [](StageEvent&) {}));
  const Pid c2 = spawn_stage(rt, stage::make_consumer(consumer_opts("temp", {temp}), [](StageEvent&) {}));
  REQUIRE(eventually([&] { return stats_of(rt, p).consumers == 2; }));
  REQUIRE_OK(rt.exit(p, ExitReason::error("boom")));
  REQUIRE(eventually([&] { return !rt.alive(c1); }));
  CHECK(rt.alive(c2));
  CHECK(stats_of(rt, c2).producers == 0);
}

TEST_CASE("a consumer subscribed by name resubscribes when its producer is restarted", "[stages][lifecycle]") {
  auto seen = std::make_shared<Recorder<uint64_t>>();
  Runtime rt(quiet_runtime());
  SupervisorSpec spec;
  spec.name = "pipeline";
  ChildSpec src;
  src.id = "src";
  src.start = [] { return counter_producer(producer_opts("src"), 20'000); };
  src.spawn.name = "src";
  ChildSpec sink;
  sink.id = "sink";
  sink.spawn.name = "sink";
  sink.start = [seen]() -> std::unique_ptr<Actor> {
    SubscribeTo s;
    s.name = "src";
    s.max_demand = 10;
    return recording_consumer(consumer_opts("sink", {s}), seen);
  };
  spec.children = {src, sink};
  REQUIRE_OK(start_supervisor(rt, spec));
  const Pid first_sink = rt.whereis("sink");
  REQUIRE(seen->wait_size(100));
  const Pid first_src = rt.whereis("src");
  REQUIRE_OK(rt.exit(first_src, ExitReason::kill()));
  REQUIRE(eventually([&] { return rt.whereis("src").valid() && rt.whereis("src") != first_src; }));
  // The new producer counts from 0 again: the sink sees its events too.
  REQUIRE(seen->wait_size(20'000 + 1));
  CHECK(rt.whereis("sink") == first_sink);
  CHECK(stats_of(rt, first_sink).producers == 1);
}

TEST_CASE("a consumer waiting for its producer's name gives up after resubscribe_timeout", "[stages][lifecycle]") {
  Runtime rt(quiet_runtime());
  const Pid p = spawn_stage(rt, stage::make_producer(producer_opts("src")), "src");
  SubscribeTo s;
  s.name = "src";
  s.resubscribe_timeout = 30ms;
  const Pid c = spawn_stage(rt, stage::make_consumer(consumer_opts("sink", {s}), [](StageEvent&) {}));
  REQUIRE(eventually([&] { return stats_of(rt, p).consumers == 1; }));
  REQUIRE_OK(rt.exit(p, ExitReason::kill()));
  REQUIRE(eventually([&] { return !rt.alive(c); }));
}

TEST_CASE("a producer forgets a consumer that exits", "[stages][lifecycle]") {
  Runtime rt(quiet_runtime());
  const Pid p = spawn_stage(rt, stage::make_producer(producer_opts("src")));
  const Pid c = spawn_stage(rt, stage::make_consumer(consumer_opts("sink", {sub(p, 10)}), [](StageEvent&) {}));
  REQUIRE(eventually([&] { return stats_of(rt, p).consumers == 1 && stats_of(rt, p).demand_outstanding == 10; }));
  REQUIRE_OK(rt.exit(c, ExitReason::kill()));
  REQUIRE(eventually([&] { return stats_of(rt, p).consumers == 0; }));
  CHECK(stats_of(rt, p).demand_outstanding == 0);
}

TEST_CASE("subscribing to a name nobody has fails the consumer's start", "[stages][lifecycle]") {
  Runtime rt(quiet_runtime());
  SubscribeTo s;
  s.name = "nobody";
  auto r = rt.spawn(stage::make_consumer(consumer_opts("sink", {s}), [](StageEvent&) {}));
  REQUIRE_FALSE(r.ok());
  CHECK(r.code() == Errc::init_failed);
  CHECK(r.error().message().find("nobody") != std::string::npos);
}

namespace {
struct Tick {
  uint64_t available;
};
// A source that has nothing when demand arrives and emits on ticks, only
// against the demand still unmet.
class TickSource final : public Producer {
 public:
  using Producer::Producer;
  void handle_info(Message& m) override {
    if (auto* t = m.as<Tick>()) {
      const uint64_t n = std::min<uint64_t>(t->available, unmet_demand());
      for (uint64_t i = 0; i < n; ++i) (void)emit(StageEvent(next_++));
    }
  }

 private:
  uint64_t next_ = 0;
};
}  // namespace

TEST_CASE("a source with nothing to give emits later, only against unmet demand", "[stages][demand]") {
  auto seen = std::make_shared<Recorder<uint64_t>>();
  Runtime rt(quiet_runtime());
  const Pid p = spawn_stage(rt, std::make_unique<TickSource>(producer_opts("ticks")));
  spawn_stage(rt, recording_consumer(consumer_opts("sink", {sub(p, 10, 1)}), seen));
  REQUIRE(eventually([&] { return stats_of(rt, p).demand_outstanding == 10; }));
  REQUIRE_OK(rt.send(p, Tick{100}));
  REQUIRE(seen->wait_size(10));
  // The consumer asks for 10 more after handling the 10: the tick made no more than asked.
  REQUIRE(eventually([&] { return stats_of(rt, p).demand_outstanding == 10; }));
  const StageStats ps = stats_of(rt, p);
  CHECK(ps.events_in == 10);
  CHECK(ps.buffer_length == 0);
  REQUIRE_OK(rt.send(p, Tick{3}));
  REQUIRE(seen->wait_size(13));
  CHECK(stats_of(rt, p).events_in == 13);
}

namespace {
// The example at the top of canopy/core/stage.hpp.
class Numbers : public canopy::Producer {
 public:
  using Producer::Producer;
  void handle_demand(size_t n) override {
    for (size_t i = 0; i < n; ++i) (void)emit(next_++);
  }
  uint64_t next_ = 0;
};
}  // namespace

TEST_CASE("the example in stage.hpp runs", "[stages][demand]") {
  auto seen = std::make_shared<Recorder<uint64_t>>();
  Runtime rt(quiet_runtime());
  Pid src = rt.spawn_opts<Numbers>({.name = "numbers"}, ProducerOptions{.name = "numbers"}).value();
  Pid sink = rt.spawn(stage::make_consumer({.name = "sink", .subscribe_to = {{.name = "numbers"}}},
                                           [seen](StageEvent& e) { seen->push(std::any_cast<uint64_t>(e)); }))
                 .value();
  REQUIRE(seen->wait_size(5'000));
  CHECK(covers(seen->snapshot(), 5'000));
  REQUIRE_OK(stage::drain(rt, {src, sink}, kPatience));
}

}  // namespace test_stages_demand_test
