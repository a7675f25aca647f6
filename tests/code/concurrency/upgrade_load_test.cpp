// Upgrades under load: senders keep casting and calling while the module's
// processes are upgraded (and rolled back); nothing may be lost or
// reordered and every call must be answered.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "canopy/core/core.hpp"
#include "canopy_test/wait.hpp"

using namespace std::chrono_literals;

namespace upgrade_load_test {

struct Totals {
  std::atomic<long> sent{0};
  std::atomic<long> unanswered{0};
};

// Sender `id` sends "id seq" to every target in turn, alternating cast and
// call, until `stop`; a call that fails is counted.
void sender(canopy::Runtime& rt, long id, const std::vector<canopy::Pid>& targets, std::atomic<bool>& stop,
            Totals& totals, std::vector<long>& per_target) {
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  long n = 0;
  while (!stop.load() && std::chrono::steady_clock::now() < deadline) {
    for (size_t t = 0; t < targets.size(); ++t) {
      const std::string body = std::to_string(id) + " " + std::to_string(++per_target[t]);
      if ((n++ & 1) == 0) {
        REQUIRE(rt.cast(targets[t], canopy::ModuleCast{body}).ok());
      } else {
        auto r = rt.call<std::string>(targets[t], canopy::ModuleCall{body}, 10s);
        if (!r.ok() || r.value() != "ok") totals.unanswered.fetch_add(1);
      }
      totals.sent.fetch_add(1);
    }
  }
}

}  // namespace upgrade_load_test

TEST_CASE("an upgrade under load loses no message, keeps per-sender order and answers every call",
          "[code][concurrency]") {
  canopy::RuntimeOptions o;
  o.schedulers = 2;
  canopy::Runtime rt(o);
  REQUIRE(rt.load_module(CANOPY_TEST_COUNTER_V1).ok());
  std::vector<canopy::Pid> targets;
  for (int i = 0; i < 8; ++i) targets.push_back(rt.spawn_module("counter", "counter").value());
  // Idle processes of the same module are upgraded too.
  for (int i = 0; i < 200; ++i) REQUIRE(rt.spawn_module("counter", "counter").ok());

  constexpr long kSenders = 3;
  std::atomic<bool> stop{false};
  upgrade_load_test::Totals totals;
  std::vector<std::vector<long>> sent(kSenders, std::vector<long>(targets.size(), 0));
  std::vector<std::thread> threads;
  for (long s = 0; s < kSenders; ++s) {
    threads.emplace_back([&, s] { upgrade_load_test::sender(rt, s + 1, targets, stop, totals, sent[s]); });
  }
  REQUIRE(canopy_test::eventually([&] { return totals.sent.load() > 500; }));

  auto up = rt.upgrade("counter", CANOPY_TEST_COUNTER_V2);
  REQUIRE(up.ok());
  CHECK(up->outcome == canopy::UpgradeOutcome::committed);
  CHECK(up->processes == targets.size() + 200);
  const long after_commit = totals.sent.load();
  REQUIRE(canopy_test::eventually([&] { return totals.sent.load() > after_commit + 500; }));
  // A poisoned target makes version 3 roll back, under the same load.
  (void)rt.cast(targets[3], canopy::ModuleCast{"poison"});
  REQUIRE(rt.call<std::string>(targets[3], canopy::ModuleCall{"get"}, 10s).ok());  // handled, not just queued
  auto back = rt.upgrade("counter", CANOPY_TEST_COUNTER_V3);
  REQUIRE(back.ok());
  CHECK(back->outcome == canopy::UpgradeOutcome::rolled_back);
  CHECK(back->failed_pid == targets[3]);
  const long after_rollback = totals.sent.load();
  REQUIRE(canopy_test::eventually([&] { return totals.sent.load() > after_rollback + 500; }));
  stop = true;
  for (auto& t : threads) t.join();

  CHECK(totals.unanswered.load() == 0);
  for (size_t t = 0; t < targets.size(); ++t) {
    long expected = 0;
    for (long s = 0; s < kSenders; ++s) expected += sent[s][t];
    // A call answers after every earlier cast from this thread was handled.
    auto got = rt.call<std::string>(targets[t], canopy::ModuleCall{"get"}, 10s);
    REQUIRE(got.ok());
    CHECK(got.value() == "version=2 count=" + std::to_string(expected) + " violations=0 generation=2");
  }
}
