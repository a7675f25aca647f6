// Scheduler stress: tiny time slices and more schedulers than cores, so
// processes are requeued, stolen and woken all the time.
#include <future>
#include <latch>

#include "test_support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_core_concurrency_scheduler_stress_test {

using namespace canopy;
using namespace canopy_test;

namespace {
struct Work {
  int left;
};
struct Ping {
  std::shared_ptr<std::promise<void>> done;
};
}  // namespace

TEST_CASE("under constant requeueing and stealing no process runs on two schedulers at once and no message is lost",
          "[core][concurrency][scheduler]") {
  constexpr int kProcesses = 200;
  const int chain = scaled(500);  // messages each process sends itself
  std::atomic<uint64_t> handled{0};
  std::atomic<uint64_t> overlapping{0};
  std::atomic<uint64_t> send_failures{0};
  RuntimeOptions o = schedulers(4);
  o.reductions_per_slice = 1;  // every message ends the slice
  Runtime rt(o);
  std::vector<Pid> pids;
  for (int i = 0; i < kProcesses; ++i) {
    auto running = std::make_shared<std::atomic<bool>>(false);
    // `local` is plain state of the process: were it ever run by two
    // schedulers at once, ThreadSanitizer would see the race.
    pids.push_back(spawn_fn(rt, [&, running, local = uint64_t{0}](FunctionActor& self, Message& m) mutable {
      if (running->exchange(true)) overlapping.fetch_add(1);
      if (auto* w = m.as<Work>()) {
        ++local;
        handled.fetch_add(1);
        if (w->left > 0 && !self.send(self.self(), Work{w->left - 1}).ok()) send_failures.fetch_add(1);
      }
      running->store(false);
    }));
  }
  for (const Pid p : pids) REQUIRE_OK(rt.send(p, Work{chain - 1}));
  const uint64_t total = static_cast<uint64_t>(kProcesses) * chain;
  REQUIRE(eventually([&] { return handled.load() == total; }, 120'000ms));
  CHECK(overlapping.load() == 0u);
  CHECK(send_failures.load() == 0u);
  uint64_t steals = 0;
  uint64_t exhausted = 0;
  for (auto& s : rt.scheduler_stats()) {
    steals += s.steals;
    exhausted += s.exhausted_slices;
  }
  INFO("steals " << steals << ", exhausted slices " << exhausted);
  CHECK(exhausted > 0u);
}

TEST_CASE("request/response round trips from outside threads never stall a parked scheduler",
          "[core][concurrency][scheduler]") {
  // Each round trip lets the schedulers go idle and park; a lost wake-up
  // would leave a request unhandled (nothing else would wake them).
  constexpr int kThreads = 2;
  const int rounds = scaled(5'000);
  std::atomic<int> stalled{0};
  std::atomic<int> failed{0};
  Runtime rt(schedulers(2));
  const Pid echo = spawn_fn(rt, [](FunctionActor&, Message& m) {
    if (auto* p = m.as<Ping>()) p->done->set_value();
  });
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      for (int i = 0; i < rounds && stalled.load() == 0; ++i) {
        auto done = std::make_shared<std::promise<void>>();
        auto fut = done->get_future();
        if (!rt.send(echo, Ping{done}).ok()) {
          failed.fetch_add(1);
          continue;
        }
        if (fut.wait_for(10s) != std::future_status::ready) stalled.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(stalled.load() == 0);
  CHECK(failed.load() == 0);
  uint64_t parks = 0;
  for (auto& s : rt.scheduler_stats()) parks += s.parks;
  INFO("parks " << parks);
  SUCCEED();
}

}  // namespace test_core_concurrency_scheduler_stress_test
