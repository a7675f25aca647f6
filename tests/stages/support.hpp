#pragma once
// Helpers shared by the stage tests; the generic waiting and recording ones
// come from tests/support/canopy_test/.
//
// Rules the tests follow:
//  * never a fixed sleep as synchronisation: wait for an observable condition
//    with `eventually` (a bounded 1 ms polling loop) or a blocking
//    stage::stats call, answered only after what the stage received before;
//  * every loop is bounded in time or count, and a handler parked on a Gate
//    gives up after kParkBound, so a failing test can never hang the suite;
//  * no timing assertions: the machine is a loaded 2-core box;
//  * Catch2 assertions only on the test thread: stages record into atomics
//    and Recorders, the test thread asserts afterwards;
//  * state that stages reference is held by shared_ptr, so it outlives them.
#include <catch2/catch.hpp>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <any>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "canopy/core/core.hpp"
#include "canopy/core/stage.hpp"
#include "canopy_test/core.hpp"

namespace stage_test {

using namespace std::chrono_literals;
using canopy_test::eventually;
using canopy_test::Gate;
using canopy_test::kParkBound;
using canopy_test::kPatience;
using canopy_test::OpenOnExit;
using canopy_test::Recorder;
using Clock = std::chrono::steady_clock;

// Work sizes are divided by this under sanitizers.
#if defined(CANOPY_TEST_TSAN) || defined(CANOPY_TEST_ASAN)
inline constexpr int kSlowdown = 4;
#else
inline constexpr int kSlowdown = 1;
#endif
inline constexpr int scaled(int n) { return n / kSlowdown > 0 ? n / kSlowdown : 1; }

inline canopy::RuntimeOptions quiet_runtime(unsigned schedulers = 2) {
  canopy::RuntimeOptions o;
  o.schedulers = schedulers;
  o.logger = std::make_shared<spdlog::logger>("stages-test", std::make_shared<spdlog::sinks::null_sink_mt>());
  return o;
}

inline uint64_t as_u64(const canopy::StageEvent& e) { return std::any_cast<uint64_t>(e); }

inline std::vector<canopy::StageEvent> range_events(uint64_t from, uint64_t to) {
  std::vector<canopy::StageEvent> v;
  for (uint64_t i = from; i < to; ++i) v.emplace_back(i);
  return v;
}

// A producer that generates 0, 1, 2, ... up to `limit` on demand.
inline std::unique_ptr<canopy::Actor> counter_producer(canopy::ProducerOptions o, uint64_t limit) {
  auto next = std::make_shared<uint64_t>(0);
  return canopy::stage::make_producer(
      std::move(o), [next, limit](size_t demand, const std::function<canopy::Status(canopy::StageEvent)>& emit) {
        for (size_t i = 0; i < demand && *next < limit; ++i) (void)emit(canopy::StageEvent((*next)++));
      });
}

// A consumer recording every event (as uint64_t) into `seen`.
inline std::unique_ptr<canopy::Actor> recording_consumer(canopy::ConsumerOptions o,
                                                         std::shared_ptr<Recorder<uint64_t>> seen) {
  return canopy::stage::make_consumer(std::move(o), [seen](canopy::StageEvent& e) { seen->push(as_u64(e)); });
}

inline canopy::StageStats stats_of(canopy::Runtime& rt, canopy::Pid pid) {
  auto r = canopy::stage::stats(rt, pid);
  if (!r.ok()) FAIL("stats of " << pid.to_string() << ": " << r.error().to_string());
  return r.value();
}

inline canopy::Pid spawn_stage(canopy::Runtime& rt, std::unique_ptr<canopy::Actor> a, std::string name = {}) {
  canopy::SpawnOptions o;
  o.name = std::move(name);
  auto r = rt.spawn(std::move(a), o);
  if (!r.ok()) FAIL("spawn: " << r.error().to_string());
  return r.value();
}

inline canopy::SubscribeTo sub(canopy::Pid pid, uint32_t max_demand, uint32_t min_demand = 0) {
  canopy::SubscribeTo s;
  s.pid = pid;
  s.max_demand = max_demand;
  s.min_demand = min_demand;
  return s;
}

inline canopy::ConsumerOptions consumer_opts(std::string name, std::vector<canopy::SubscribeTo> to) {
  canopy::ConsumerOptions o;
  o.name = std::move(name);
  o.subscribe_to = std::move(to);
  return o;
}

inline canopy::ProducerOptions producer_opts(std::string name, size_t buffer = 10'000,
                                             canopy::BufferOverflow overflow = canopy::BufferOverflow::drop_oldest) {
  canopy::ProducerOptions o;
  o.name = std::move(name);
  o.buffer_size = buffer;
  o.overflow = overflow;
  return o;
}

// The numbers 0..n-1 each appear in `v` at least once.
inline bool covers(const std::vector<uint64_t>& v, uint64_t n) {
  std::set<uint64_t> s(v.begin(), v.end());
  for (uint64_t i = 0; i < n; ++i) {
    if (s.count(i) == 0) return false;
  }
  return true;
}

}  // namespace stage_test
