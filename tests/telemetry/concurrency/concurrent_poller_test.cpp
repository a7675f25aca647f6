// The poller under concurrency: its own thread, poll_now from other threads,
// and measurements added and removed while rounds run.
#include <stdexcept>

#include "telemetry_test_support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_telemetry_concurrency_concurrent_poller_test {

using namespace canopy::telemetry;
using namespace telemetry_test;

TEST_CASE("rounds from the poller thread and poll_now never overlap and each runs every measurement",
          "[telemetry][poller][concurrency]") {
  CapturedLog log("concurrent-poller");
  std::atomic<uint64_t> stable_calls{0}, failing_calls{0};
  std::atomic<int> inside{0}, overlapped{0};
  Poller poller(1ms, log.logger);
  REQUIRE(poller.add("stable", [&] {
    if (inside.fetch_add(1) != 0) overlapped++;
    stable_calls++;
    inside.fetch_sub(1);
  }));
  REQUIRE(poller.add("failing", [&] {
    failing_calls++;
    throw std::runtime_error("down");
  }));
  poller.start();

  std::atomic<int> add_remove_errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < scaled(500); ++i) poller.poll_now();
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < scaled(500); ++i) {
      const std::string name = "temp" + std::to_string(i % 3);
      if (!poller.add(name, [] {})) add_remove_errors++;
      if (!poller.remove(name)) add_remove_errors++;
    }
  });
  for (auto& th : threads) th.join();
  REQUIRE(eventually([&] { return poller.polls() >= static_cast<uint64_t>(2 * scaled(500) + 3); }));
  poller.stop();

  CHECK(overlapped.load() == 0);
  CHECK(add_remove_errors.load() == 0);
  // Every round ran every measurement, and every failure was counted.
  CHECK(stable_calls.load() == poller.polls());
  CHECK(failing_calls.load() == poller.polls());
  CHECK(poller.failures() == poller.polls());
  CHECK(log.count_containing("down") == 1);
}

}  // namespace test_telemetry_concurrency_concurrent_poller_test
