// Default loggers under concurrency: a Bus and a Poller created on several
// threads at once, with "canopy.telemetry" not yet in spdlog's registry, all
// get the one logger (spdlog throws "already exists" when two threads both
// create it; regression test for the per-file get-or-create locks).
#include <latch>
#include <spdlog/spdlog.h>

#include "canopy/telemetry/detail/logger.hpp"
#include "telemetry_test_support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_telemetry_concurrency_concurrent_logger_test {

using namespace canopy::telemetry;
using namespace telemetry_test;

TEST_CASE("a Bus and a Poller created on several threads at once share one default logger and never throw",
          "[telemetry][logger][concurrency]") {
  constexpr int kThreads = 6;
  std::atomic<int> thrown{0};
  for (int round = 0; round < scaled(50); ++round) {
    spdlog::drop("canopy.telemetry");
    std::latch start(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        start.arrive_and_wait();
        try {
          if (t % 2 == 0) {
            Bus bus;
          } else {
            Poller poller(1h);
          }
        } catch (...) {
          thrown++;
        }
      });
    }
    for (auto& th : threads) th.join();
    REQUIRE(thrown.load() == 0);
    REQUIRE(spdlog::get("canopy.telemetry") != nullptr);
  }
}

TEST_CASE("the default logger helper returns a logger registered meanwhile by someone else",
          "[telemetry][logger][concurrency]") {
  spdlog::drop("canopy.logger-test");
  auto theirs = std::make_shared<spdlog::logger>("canopy.logger-test");
  spdlog::register_logger(theirs);
  CHECK(canopy::detail::logger("canopy.logger-test") == theirs);
  spdlog::drop("canopy.logger-test");
  auto ours = canopy::detail::logger("canopy.logger-test");
  REQUIRE(ours != nullptr);
  CHECK(canopy::detail::logger("canopy.logger-test") == ours);
  spdlog::drop("canopy.logger-test");
}

}  // namespace test_telemetry_concurrency_concurrent_logger_test
