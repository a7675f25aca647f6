// The demand, broadcast and partition dispatchers.
#include "support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_stages_dispatcher_test {

using namespace canopy;
using namespace stage_test;

TEST_CASE("the demand dispatcher sends each event to exactly one consumer, the one with most demand",
          "[stages][dispatcher]") {
  auto a = std::make_shared<Recorder<uint64_t>>();
  auto b = std::make_shared<Recorder<uint64_t>>();
  Runtime rt(quiet_runtime());
  const Pid p = spawn_stage(rt, stage::make_producer(producer_opts("src")));
  spawn_stage(rt, recording_consumer(consumer_opts("a", {sub(p, 10)}), a));
  spawn_stage(rt, recording_consumer(consumer_opts("b", {sub(p, 10)}), b));
  REQUIRE(eventually([&] { return stats_of(rt, p).demand_outstanding == 20; }));
  REQUIRE_OK(stage::push(rt, p, range_events(0, 1'000)));
  REQUIRE(eventually([&] { return a->size() + b->size() >= 1'000; }));
  std::vector<uint64_t> all = a->snapshot();
  const auto bs = b->snapshot();
  all.insert(all.end(), bs.begin(), bs.end());
  CHECK(all.size() == 1'000);
  CHECK(covers(all, 1'000));
  // Both had demand 10 when the push came: the first events alternate between them.
  CHECK(a->size() > 0);
  CHECK(b->size() > 0);
}

TEST_CASE("the broadcast dispatcher sends every event to every consumer, at the pace of the slowest",
          "[stages][dispatcher]") {
  auto fast = std::make_shared<Recorder<uint64_t>>();
  auto slow = std::make_shared<Recorder<uint64_t>>();
  auto entered = std::make_shared<Gate>();
  auto release = std::make_shared<Gate>();
  Runtime rt(quiet_runtime());
  OpenOnExit open({release});
  ProducerOptions po = producer_opts("bcast");
  po.dispatcher.kind = DispatcherKind::broadcast;
  const Pid p = spawn_stage(rt, stage::make_producer(po));
  spawn_stage(rt, recording_consumer(consumer_opts("fast", {sub(p, 10)}), fast));
  spawn_stage(rt, stage::make_consumer(consumer_opts("slow", {sub(p, 10)}), [=](StageEvent& e) {
                if (as_u64(e) == 0) {
                  entered->open();
                  (void)release->wait();
                }
                slow->push(as_u64(e));
              }));
  REQUIRE(eventually([&] { return stats_of(rt, p).consumers == 2; }));
  REQUIRE_OK(stage::push(rt, p, range_events(0, 100)));
  REQUIRE(entered->wait(kPatience));
  REQUIRE(fast->wait_size(10));
  // The slow one has no demand left: the fast one gets nothing beyond the first 10.
  CHECK(stats_of(rt, p).events_out == 20);
  CHECK(fast->size() == 10);
  release->open();
  REQUIRE(fast->wait_size(100));
  REQUIRE(slow->wait_size(100));
  std::vector<uint64_t> expect;
  for (uint64_t i = 0; i < 100; ++i) expect.push_back(i);
  CHECK(fast->snapshot() == expect);
  CHECK(slow->snapshot() == expect);
}

TEST_CASE("the partition dispatcher sends each event to the consumer of its partition", "[stages][dispatcher]") {
  auto even = std::make_shared<Recorder<uint64_t>>();
  auto odd = std::make_shared<Recorder<uint64_t>>();
  Runtime rt(quiet_runtime());
  ProducerOptions po = producer_opts("parts");
  po.dispatcher.kind = DispatcherKind::partition;
  po.dispatcher.partitions = 2;
  po.dispatcher.partition_by = [](const StageEvent& e) { return as_u64(e); };
  const Pid p = spawn_stage(rt, stage::make_producer(po));
  SubscribeTo s0 = sub(p, 7);
  SubscribeTo s1 = sub(p, 7);
  s1.partition = 1;
  spawn_stage(rt, recording_consumer(consumer_opts("even", {s0}), even));
  spawn_stage(rt, recording_consumer(consumer_opts("odd", {s1}), odd));
  REQUIRE(eventually([&] { return stats_of(rt, p).consumers == 2; }));
  REQUIRE_OK(stage::push(rt, p, range_events(0, 1'000)));
  REQUIRE(even->wait_size(500));
  REQUIRE(odd->wait_size(500));
  std::vector<uint64_t> e, o;
  for (uint64_t i = 0; i < 1'000; ++i) (i % 2 == 0 ? e : o).push_back(i);
  CHECK(even->snapshot() == e);
  CHECK(odd->snapshot() == o);
}

TEST_CASE("the partition dispatcher needs a key function", "[stages][dispatcher]") {
  Runtime rt(quiet_runtime());
  ProducerOptions po = producer_opts("parts");
  po.dispatcher.kind = DispatcherKind::partition;
  po.dispatcher.partitions = 2;
  auto r = rt.spawn(stage::make_producer(po));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message().find("partition_by") != std::string::npos);
}

}  // namespace test_stages_dispatcher_test
