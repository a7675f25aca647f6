// Shutdown at scale: 100k idle processes, long linked chains, and shutdown
// racing with threads that keep spawning and sending.
#include <latch>

#include "test_support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_core_concurrency_shutdown_stress_test {

using namespace canopy;
using namespace canopy_test;

namespace {

struct TerminateLog {
  std::atomic<uint64_t> calls{0};
  std::atomic<uint64_t> shutdown_reasons{0};
};

class Counted final : public Actor {
 public:
  explicit Counted(TerminateLog* log) : log_(log) {}
  void handle(Message& m) override {
    if (auto* l = m.as<LinkTo>()) link(l->pid);
  }
  void terminate(const ExitReason& r) override {
    log_->calls.fetch_add(1, std::memory_order_relaxed);
    if (r.kind() == ExitKind::shutdown) log_->shutdown_reasons.fetch_add(1, std::memory_order_relaxed);
  }

 private:
  TerminateLog* log_;
};

}  // namespace

TEST_CASE("shutdown with 100,000 idle processes calls every terminate", "[core][concurrency][shutdown]") {
  constexpr uint64_t kProcesses = 100'000;
  TerminateLog log;
  uint64_t spawn_failures = 0;
  {
    Runtime rt(schedulers(2));
    for (uint64_t i = 0; i < kProcesses; ++i) {
      if (!rt.spawn<Counted>(&log).ok()) ++spawn_failures;
    }
    CHECK(spawn_failures == 0u);
    CHECK(rt.process_count() == kProcesses);
    CHECK(log.calls.load() == 0u);
  }  // ~Runtime
  CHECK(log.calls.load() == kProcesses);
  CHECK(log.shutdown_reasons.load() == kProcesses);
}

TEST_CASE("shutdown with long linked chains terminates each process exactly once", "[core][concurrency][shutdown]") {
  const int chains = scaled(100);
  constexpr int kLength = 100;
  TerminateLog log;
  uint64_t total = 0;
  {
    Runtime rt(schedulers(2));
    std::vector<Pid> last_links;
    for (int c = 0; c < chains; ++c) {
      Pid prev;
      for (int i = 0; i < kLength; ++i) {
        auto r = rt.spawn<Counted>(&log);
        REQUIRE_OK(r);
        ++total;
        if (prev.valid()) REQUIRE_OK(rt.send(r.value(), LinkTo{prev}));
        prev = r.value();
      }
      last_links.push_back(prev);
    }
    // Every link is in place before the shutdown starts.
    REQUIRE(eventually([&] {
      for (auto& info : rt.processes()) {
        if (info.links.empty()) return false;
      }
      return true;
    }));
  }
  CHECK(log.calls.load() == total);
  CHECK(log.shutdown_reasons.load() == total);
}

TEST_CASE("shutdown while other threads keep spawning and sending leaves no process behind",
          "[core][concurrency][shutdown]") {
  const int rounds = scaled(20);
  for (int round = 0; round < rounds; ++round) {
    INFO("round " << round);
    TerminateLog log;
    std::atomic<uint64_t> spawned{0};
    std::atomic<uint64_t> bad_codes{0};
    std::atomic<bool> stop{false};
    {
      Runtime rt(schedulers(2));
      std::vector<Pid> seed;
      for (int i = 0; i < 50; ++i) {
        auto r = rt.spawn<Counted>(&log);
        REQUIRE_OK(r);
        seed.push_back(r.value());
      }
      spawned = seed.size();
      std::latch start(3);
      std::thread spawner([&] {
        start.arrive_and_wait();
        for (int i = 0; i < 100'000 && !stop.load(); ++i) {
          auto r = rt.spawn<Counted>(&log);
          if (r.ok()) {
            spawned.fetch_add(1);
          } else if (r.code() != Errc::shutting_down) {
            bad_codes.fetch_add(1);
          }
        }
      });
      std::thread sender([&] {
        start.arrive_and_wait();
        for (int i = 0; i < 1'000'000 && !stop.load(); ++i) {
          const Status st = rt.send(seed[static_cast<size_t>(i) % seed.size()], i);
          if (!st.ok() && st.code() != Errc::dead_process) bad_codes.fetch_add(1);
        }
      });
      start.arrive_and_wait();
      // (No REQUIRE while the threads run: they must be joined first.)
      CHECK(eventually([&] { return spawned.load() >= 100; }));
      rt.shutdown();
      CHECK(rt.process_count() == 0u);
      stop = true;
      spawner.join();
      sender.join();
      CHECK(rt.process_count() == 0u);
    }
    CHECK(bad_codes.load() == 0u);
    CHECK(log.calls.load() == spawned.load());
  }
}

}  // namespace test_core_concurrency_shutdown_stress_test
