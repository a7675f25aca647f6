// Races on names and registries: exactly one winner, nothing left dangling.
#include <latch>

#include "test_support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_core_concurrency_registry_race_test {

using namespace canopy;
using namespace canopy_test;

TEST_CASE("concurrent register_name for one name has exactly one winner", "[core][concurrency][names]") {
  constexpr int kThreads = 4;
  const int rounds = scaled(100);
  Runtime rt(schedulers(2));
  std::vector<Probe> probes;
  for (int i = 0; i < kThreads; ++i) probes.push_back(spawn_probe(rt));

  for (int round = 0; round < rounds; ++round) {
    const std::string name = "race-" + std::to_string(round);
    std::vector<Errc> codes(kThreads, Errc::ok);
    std::latch start(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        start.arrive_and_wait();
        codes[t] = rt.register_name(name, probes[t].pid).code();
      });
    }
    for (auto& th : threads) th.join();
    INFO("round " << round);
    int winners = 0;
    int winner = -1;
    for (int t = 0; t < kThreads; ++t) {
      if (codes[t] == Errc::ok) {
        ++winners;
        winner = t;
      } else {
        CHECK(codes[t] == Errc::already_registered);
      }
    }
    REQUIRE(winners == 1);
    CHECK(rt.whereis(name) == probes[winner].pid);
    CHECK(info_of(rt, probes[winner].pid).registered_name == name);
    REQUIRE_OK(rt.unregister(name));
  }
}

TEST_CASE("registering a name on a process that is being killed never leaves the name dangling",
          "[core][concurrency][names]") {
  const int rounds = scaled(200);
  Runtime rt(schedulers(2));
  int registered = 0;
  for (int round = 0; round < rounds; ++round) {
    const std::string name = "doomed-" + std::to_string(round);
    auto p = spawn_probe(rt);
    Errc code = Errc::ok;
    std::latch start(2);
    std::thread killer([&] {
      start.arrive_and_wait();
      (void)rt.exit(p.pid, ExitReason::kill());
    });
    std::thread registrar([&] {
      start.arrive_and_wait();
      code = rt.register_name(name, p.pid).code();
    });
    killer.join();
    registrar.join();
    INFO("round " << round << ": " << canopy::to_string(code));
    CHECK((code == Errc::ok || code == Errc::dead_process));
    if (code == Errc::ok) ++registered;
    REQUIRE(eventually([&] { return dead(rt, p.pid) && !rt.whereis(name).valid(); }));
  }
  INFO("registered before the kill landed in " << registered << " of " << rounds << " rounds");
  SUCCEED();
}

TEST_CASE("concurrent register_key on a unique registry has exactly one winner", "[core][concurrency][registry]") {
  constexpr int kThreads = 4;
  const int rounds = scaled(100);
  Runtime rt(schedulers(2));
  std::vector<Probe> probes;
  for (int i = 0; i < kThreads; ++i) probes.push_back(spawn_probe(rt));
  Registry reg = rt.registry("leaders", RegistryKeys::unique);
  Registry dup = rt.registry("members", RegistryKeys::duplicate);

  for (int round = 0; round < rounds; ++round) {
    const std::string key = "shard-" + std::to_string(round);
    std::vector<Errc> codes(kThreads, Errc::ok);
    std::vector<Errc> dup_codes(kThreads, Errc::ok);
    std::latch start(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        start.arrive_and_wait();
        codes[t] = reg.register_key(probes[t].pid, key, "meta-" + std::to_string(t)).code();
        dup_codes[t] = dup.register_key(probes[t].pid, key).code();
      });
    }
    for (auto& th : threads) th.join();
    INFO("round " << round);
    int winners = 0;
    for (int t = 0; t < kThreads; ++t) {
      if (codes[t] == Errc::ok) {
        ++winners;
      } else {
        CHECK(codes[t] == Errc::already_registered);
      }
      CHECK(dup_codes[t] == Errc::ok);
    }
    REQUIRE(winners == 1);
    CHECK(reg.lookup(key).size() == 1u);
    CHECK(dup.lookup(key).size() == static_cast<size_t>(kThreads));
  }
  // Every entry goes when the processes go.
  for (auto& p : probes) REQUIRE_OK(rt.exit(p.pid, ExitReason::kill()));
  REQUIRE(eventually([&] { return reg.count() == 0u && dup.count() == 0u; }));
}

}  // namespace test_core_concurrency_registry_race_test
