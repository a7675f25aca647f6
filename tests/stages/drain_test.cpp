// Graceful drain on shutdown, and the batcher.
#include "support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_stages_drain_test {

using namespace canopy;
using namespace stage_test;

TEST_CASE("draining a pipeline delivers every buffered event before the stages exit", "[stages][drain]") {
  auto seen = std::make_shared<Recorder<uint64_t>>();
  Runtime rt(quiet_runtime());
  const Pid p = spawn_stage(rt, stage::make_producer(producer_opts("src")));
  const Pid pc =
      spawn_stage(rt, stage::make_producer_consumer(
                          producer_opts("double", 64), consumer_opts("double", {sub(p, 16)}),
                          [](StageEvent& e, std::vector<StageEvent>& out) { out.emplace_back(as_u64(e) * 2); }));
  const Pid c = spawn_stage(rt, stage::make_consumer(consumer_opts("sink", {sub(pc, 8)}), [seen](StageEvent& e) {
                              std::this_thread::sleep_for(std::chrono::microseconds(20));
                              seen->push(as_u64(e));
                            }));
  REQUIRE_OK(stage::push(rt, p, range_events(0, 2'000)));
  REQUIRE_OK(stage::drain(rt, {p, pc, c}, kPatience));
  CHECK_FALSE(rt.alive(p));
  CHECK_FALSE(rt.alive(pc));
  CHECK_FALSE(rt.alive(c));
  const auto v = seen->snapshot();
  REQUIRE(v.size() == 2'000);
  for (uint64_t i = 0; i < 2'000; ++i) {
    if (v[i] != 2 * i) FAIL("event " << i << " is " << v[i]);
  }
}

TEST_CASE("a drain that cannot finish in time stops the stages and says how many were left", "[stages][drain]") {
  auto entered = std::make_shared<Gate>();
  auto release = std::make_shared<Gate>();
  Runtime rt(quiet_runtime());
  OpenOnExit open({release});
  const Pid p = spawn_stage(rt, stage::make_producer(producer_opts("src")));
  const Pid c = spawn_stage(rt, stage::make_consumer(consumer_opts("sink", {sub(p, 5)}), [=](StageEvent&) {
                              entered->open();
                              (void)release->wait();
                            }));
  REQUIRE_OK(stage::push(rt, p, range_events(0, 100)));
  REQUIRE(entered->wait(kPatience));
  const Status st = stage::drain(rt, {p, c}, 100ms);
  CHECK(st.code() == Errc::timeout);
  CHECK(st.error().message().find("2 of 2") != std::string::npos);
  release->open();
  REQUIRE(eventually([&] { return !rt.alive(p) && !rt.alive(c); }));
}

TEST_CASE("drain_on_shutdown drains a supervised pipeline before the supervisor stops it", "[stages][drain]") {
  auto seen = std::make_shared<Recorder<uint64_t>>();
  Runtime rt(quiet_runtime());
  SupervisorSpec spec;
  spec.name = "pipeline";
  ChildSpec src;
  src.id = "src";
  src.restart = Restart::transient;
  src.start = [] { return stage::make_producer(producer_opts("src")); };
  src.spawn.name = "src";
  ChildSpec sink;
  sink.id = "sink";
  sink.restart = Restart::transient;
  sink.spawn.name = "sink";
  sink.start = [seen]() -> std::unique_ptr<Actor> {
    SubscribeTo s;
    s.name = "src";
    s.max_demand = 10;
    return stage::make_consumer(consumer_opts("sink", {s}), [seen](StageEvent& e) {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
      seen->push(as_u64(e));
    });
  };
  spec.children = {src, sink, stage::drain_on_shutdown("drainer", {"src", "sink"}, kPatience)};
  REQUIRE_OK(rt.start_application("stages", spec));
  REQUIRE_OK(stage::push(rt, rt.whereis("src"), range_events(0, 1'000)));
  REQUIRE_OK(rt.stop_application("stages", kPatience + 5s));
  CHECK(seen->size() == 1'000);
  CHECK(covers(seen->snapshot(), 1'000));
}

TEST_CASE("a batcher hands over full batches by size", "[stages][batcher]") {
  auto batches = std::make_shared<Recorder<std::vector<uint64_t>>>();
  Runtime rt(quiet_runtime());
  const Pid p = spawn_stage(rt, stage::make_producer(producer_opts("src")));
  BatcherOptions bo;
  bo.batch_size = 100;
  bo.batch_timeout = std::chrono::hours(1);
  const Pid b = spawn_stage(rt, stage::make_batch_consumer(consumer_opts("batcher", {sub(p, 30)}), bo,
                                                           [batches](std::vector<StageEvent>& batch) {
                                                             std::vector<uint64_t> v;
                                                             for (auto& e : batch) v.push_back(as_u64(e));
                                                             batches->push(v);
                                                           }));
  REQUIRE_OK(stage::push(rt, p, range_events(0, 250)));
  REQUIRE(batches->wait_size(2));
  REQUIRE(eventually([&] { return stats_of(rt, b).buffer_length == 50; }));
  CHECK(stats_of(rt, p).acked == 200);
  // Draining hands over the partial batch.
  REQUIRE_OK(stage::drain(rt, {p, b}, kPatience));
  const auto all = batches->snapshot();
  REQUIRE(all.size() == 3);
  CHECK(all[0].size() == 100);
  CHECK(all[1].size() == 100);
  CHECK(all[2].size() == 50);
  CHECK(all[2].front() == 200);
  CHECK(all[2].back() == 249);
}

TEST_CASE("a batcher hands over a partial batch after its timeout", "[stages][batcher]") {
  auto batches = std::make_shared<Recorder<size_t>>();
  Runtime rt(quiet_runtime());
  const Pid p = spawn_stage(rt, stage::make_producer(producer_opts("src")));
  BatcherOptions bo;
  bo.batch_size = 100;
  bo.batch_timeout = 20ms;
  spawn_stage(rt,
              stage::make_batch_consumer(consumer_opts("batcher", {sub(p, 1'000)}), bo,
                                         [batches](std::vector<StageEvent>& batch) { batches->push(batch.size()); }));
  REQUIRE_OK(stage::push(rt, p, range_events(0, 30)));
  REQUIRE(batches->wait_size(1));
  CHECK(batches->snapshot()[0] <= 30);
  REQUIRE(eventually([&] {
    size_t total = 0;
    for (size_t n : batches->snapshot()) total += n;
    return total == 30;
  }));
  REQUIRE(eventually([&] { return stats_of(rt, p).acked == 30; }));
}

}  // namespace test_stages_drain_test
