// Shutdown: every process terminates with reason shutdown, linked chains
// included; the runtime refuses work afterwards; shutdown is idempotent.
#include "test_support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_core_shutdown_test {

using namespace canopy;
using namespace canopy_test;

namespace {

struct Ball {
  Pid other;
};

// Counts terminate() calls and their reasons.
struct TerminateLog {
  std::atomic<int> calls{0};
  std::atomic<int> shutdown_reasons{0};
};

class Counted final : public Actor {
 public:
  explicit Counted(std::shared_ptr<TerminateLog> log) : log_(std::move(log)) {}
  void handle(Message& m) override {
    if (auto* l = m.as<LinkTo>()) link(l->pid);
    if (auto* t = m.as<SetTrap>()) trap_exit(t->on);
  }
  void terminate(const ExitReason& r) override {
    log_->calls.fetch_add(1);
    if (r.kind() == ExitKind::shutdown) log_->shutdown_reasons.fetch_add(1);
  }

 private:
  std::shared_ptr<TerminateLog> log_;
};

}  // namespace

TEST_CASE("shutdown terminates every process with reason shutdown", "[core][shutdown]") {
  constexpr int kProcesses = 200;
  auto log = std::make_shared<TerminateLog>();
  {
    Runtime rt(schedulers(2));
    for (int i = 0; i < kProcesses; ++i) REQUIRE_OK(rt.spawn<Counted>(log));
    CHECK(rt.process_count() == static_cast<size_t>(kProcesses));
  }  // ~Runtime shuts down
  CHECK(log->calls.load() == kProcesses);
  CHECK(log->shutdown_reasons.load() == kProcesses);
}

TEST_CASE("shutdown terminates processes linked in chains, trapping or not, exactly once each",
          "[core][shutdown][link]") {
  constexpr int kChains = 10;
  constexpr int kLength = 10;
  auto log = std::make_shared<TerminateLog>();
  {
    Runtime rt(schedulers(2));
    for (int c = 0; c < kChains; ++c) {
      std::vector<Pid> chain;
      for (int i = 0; i < kLength; ++i) {
        SpawnOptions o;
        o.trap_exit = (i % 3 == 0);
        auto r = rt.spawn(std::make_unique<Counted>(log), o);
        REQUIRE_OK(r);
        chain.push_back(r.value());
      }
      for (int i = 0; i + 1 < kLength; ++i) REQUIRE_OK(rt.send(chain[i], LinkTo{chain[i + 1]}));
      REQUIRE(eventually([&] {
        for (int i = 0; i + 1 < kLength; ++i) {
          if (!linked(rt, chain[i], chain[i + 1])) return false;
        }
        return true;
      }));
    }
    CHECK(rt.process_count() == static_cast<size_t>(kChains * kLength));
  }
  CHECK(log->calls.load() == kChains * kLength);
  CHECK(log->shutdown_reasons.load() == kChains * kLength);
}

TEST_CASE("shutdown completes while processes are busy messaging each other", "[core][shutdown]") {
  auto log = std::make_shared<TerminateLog>();
  std::atomic<uint64_t> volleys{0};
  {
    Runtime rt(schedulers(2));
    auto player = [&](FunctionActor& self, Message& m) {
      if (auto* b = m.as<Ball>()) {
        volleys.fetch_add(1);
        (void)self.send(b->other, Ball{self.self()});
      }
    };
    for (int pair = 0; pair < 4; ++pair) {
      const Pid a = spawn_fn(rt, player);
      const Pid b = spawn_fn(rt, player);
      REQUIRE_OK(rt.send(a, Ball{b}));
    }
    for (int i = 0; i < 10; ++i) REQUIRE_OK(rt.spawn<Counted>(log));
    REQUIRE(eventually([&] { return volleys.load() > 10'000; }));
    rt.shutdown();
    CHECK(rt.process_count() == 0u);
  }
  CHECK(log->calls.load() == 10);
}

TEST_CASE("after shutdown the runtime refuses work; shutdown is idempotent", "[core][shutdown]") {
  auto log = std::make_shared<TerminateLog>();
  Runtime rt(schedulers(2));
  auto r = rt.spawn<Counted>(log);
  REQUIRE_OK(r);
  const Pid p = r.value();
  REQUIRE_OK(rt.register_name("before-shutdown", p));

  rt.shutdown();
  CHECK(log->calls.load() == 1);
  CHECK(rt.process_count() == 0u);
  CHECK_FALSE(rt.alive(p));
  CHECK_FALSE(rt.whereis("before-shutdown").valid());
  CHECK(rt.spawn<Counted>(log).code() == Errc::shutting_down);
  CHECK(rt.send(p, 1).code() == Errc::dead_process);
  CHECK(rt.call<int>(p, 1, 100ms).code() == Errc::dead_process);
  CHECK(rt.exit(p, ExitReason::kill()).code() == Errc::dead_process);
  const auto s = rt.stats();
  CHECK(s.processes == 0u);
  CHECK(s.spawned == s.exited);

  rt.shutdown();  // again: a no-op
  CHECK(log->calls.load() == 1);
}  // and the destructor shuts down a third time

}  // namespace test_core_shutdown_test
