// The producer buffer's overflow policies, with exact counts.
#include "support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_stages_overflow_test {

using namespace canopy;
using namespace stage_test;

namespace {
struct Outcome {
  stage::PushResult push;
  StageStats stats;
  std::vector<uint64_t> delivered;
};

// Pushes 0..24 into a producer with a buffer of 10 and no consumer, then
// subscribes one and collects what it delivers.
Outcome overflow(BufferOverflow policy) {
  auto seen = std::make_shared<Recorder<uint64_t>>();
  Runtime rt(quiet_runtime());
  const Pid p = spawn_stage(rt, stage::make_producer(producer_opts("buf", 10, policy)));
  auto r = stage::push(rt, p, range_events(0, 25));
  REQUIRE_OK(r);
  Outcome out{r.value(), stats_of(rt, p), {}};
  spawn_stage(rt, recording_consumer(consumer_opts("sink", {sub(p, 100)}), seen));
  REQUIRE(seen->wait_size(out.stats.buffer_length));
  REQUIRE(eventually([&] { return stats_of(rt, p).buffer_length == 0; }));
  out.delivered = seen->snapshot();
  return out;
}

std::vector<uint64_t> iota(uint64_t from, uint64_t to) {
  std::vector<uint64_t> v;
  for (uint64_t i = from; i < to; ++i) v.push_back(i);
  return v;
}
}  // namespace

TEST_CASE("drop_oldest keeps the newest events and counts every eviction", "[stages][overflow]") {
  const Outcome o = overflow(BufferOverflow::drop_oldest);
  CHECK(o.push.accepted == 25);
  CHECK(o.stats.dropped_oldest == 15);
  CHECK(o.stats.dropped_newest == 0);
  CHECK(o.stats.rejected == 0);
  CHECK(o.stats.buffer_length == 10);
  CHECK(o.delivered == iota(15, 25));
}

TEST_CASE("drop_newest keeps the oldest events and counts every drop", "[stages][overflow]") {
  const Outcome o = overflow(BufferOverflow::drop_newest);
  CHECK(o.push.accepted == 10);
  CHECK(o.push.dropped == 15);
  CHECK(o.stats.dropped_newest == 15);
  CHECK(o.stats.dropped_oldest == 0);
  CHECK(o.stats.buffer_length == 10);
  CHECK(o.delivered == iota(0, 10));
}

TEST_CASE("reject refuses events that do not fit and counts them", "[stages][overflow]") {
  const Outcome o = overflow(BufferOverflow::reject);
  CHECK(o.push.accepted == 10);
  CHECK(o.push.rejected == 15);
  CHECK(o.stats.rejected == 15);
  CHECK(o.stats.dropped_oldest + o.stats.dropped_newest == 0);
  CHECK(o.delivered == iota(0, 10));
}

TEST_CASE("events sent straight to demand never touch the buffer", "[stages][overflow]") {
  auto seen = std::make_shared<Recorder<uint64_t>>();
  Runtime rt(quiet_runtime());
  const Pid p = spawn_stage(rt, stage::make_producer(producer_opts("buf", 0, BufferOverflow::reject)));
  spawn_stage(rt, recording_consumer(consumer_opts("sink", {sub(p, 50)}), seen));
  REQUIRE(eventually([&] { return stats_of(rt, p).demand_outstanding == 50; }));
  auto r = stage::push(rt, p, range_events(0, 60));
  REQUIRE_OK(r);
  CHECK(r.value().accepted == 50);
  CHECK(r.value().rejected == 10);
  REQUIRE(seen->wait_size(50));
  CHECK(seen->snapshot() == iota(0, 50));
}

}  // namespace test_stages_overflow_test
