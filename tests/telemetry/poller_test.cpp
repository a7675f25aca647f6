// The poller engine: measurements, rounds, its thread, and measurements that
// throw (reported, counted, and run again next tick).
#include <stdexcept>

#include "telemetry_test_support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_telemetry_poller_test {

using namespace canopy::telemetry;
using namespace telemetry_test;

TEST_CASE("poll_now runs every measurement once, on the calling thread", "[telemetry][poller]") {
  Poller poller(1h);
  std::atomic<int> a{0}, b{0};
  std::thread::id ran_on;
  CHECK(poller.add("a", [&] {
    a++;
    ran_on = std::this_thread::get_id();
  }));
  CHECK(poller.add("b", [&] { b++; }));
  CHECK_FALSE(poller.add("a", [&] { a += 100; }));  // the name is taken
  CHECK(poller.polls() == 0);

  poller.poll_now();
  poller.poll_now();
  CHECK(a.load() == 2);
  CHECK(b.load() == 2);
  CHECK(ran_on == std::this_thread::get_id());
  CHECK(poller.polls() == 2);
  CHECK(poller.failures() == 0);

  CHECK(poller.remove("b"));
  CHECK_FALSE(poller.remove("b"));
  poller.poll_now();
  CHECK(a.load() == 3);
  CHECK(b.load() == 2);
}

TEST_CASE("a measurement that throws is reported once per streak, counted, and run again next tick",
          "[telemetry][poller][failure]") {
  CapturedLog log("poller-failure-test");
  Poller poller(1h, log.logger);
  std::atomic<int> flaky_calls{0}, steady_calls{0};
  std::atomic<bool> broken{true};
  REQUIRE(poller.add("flaky", [&] {
    flaky_calls++;
    if (broken.load()) throw std::runtime_error("sensor offline");
  }));
  REQUIRE(poller.add("steady", [&] { steady_calls++; }));

  CHECK_NOTHROW(poller.poll_now());
  CHECK(flaky_calls.load() == 1);
  CHECK(steady_calls.load() == 1);  // a failure does not stop the round
  CHECK(poller.failures() == 1);
  CHECK(poller.polls() == 1);

  CHECK_NOTHROW(poller.poll_now());  // retried, not dropped
  CHECK(flaky_calls.load() == 2);
  CHECK(poller.failures() == 2);

  broken = false;
  poller.poll_now();
  CHECK(flaky_calls.load() == 3);
  CHECK(poller.failures() == 2);

  // Reported once (naming the measurement and the error), then its recovery.
  CHECK(log.count_containing("flaky") == 2);
  CHECK(log.count_containing("sensor offline") == 1);
  CHECK(log.count_containing("works again") == 1);

  // A new streak is reported again.
  broken = true;
  poller.poll_now();
  CHECK(log.count_containing("sensor offline") == 2);
  CHECK(poller.failures() == 3);
}

TEST_CASE("a measurement that throws something that is not a std::exception is counted",
          "[telemetry][poller][failure]") {
  CapturedLog log("poller-failure-test-2");
  Poller poller(1h, log.logger);
  REQUIRE(poller.add("odd", [] { throw 3; }));
  CHECK_NOTHROW(poller.poll_now());
  CHECK(poller.failures() == 1);
  CHECK(log.count_containing("odd") == 1);
}

TEST_CASE("the poller thread runs measurements every interval until stopped", "[telemetry][poller]") {
  CapturedLog log("poller-thread-test");
  Poller poller(5ms, log.logger);
  CHECK(poller.interval() == 5ms);
  std::atomic<int> calls{0}, failing_calls{0};
  REQUIRE(poller.add("count", [&] { calls++; }));
  REQUIRE(poller.add("always_fails", [&] {
    failing_calls++;
    throw std::runtime_error("still broken");
  }));
  CHECK(calls.load() == 0);  // nothing runs before start()
  poller.start();
  poller.start();  // idempotent
  REQUIRE(eventually([&] { return calls.load() >= 5 && failing_calls.load() >= 5; }));
  poller.stop();
  const int after_stop = calls.load();
  CHECK(poller.polls() >= 5);
  CHECK(poller.failures() >= 5);
  CHECK(poller.failures() == static_cast<uint64_t>(failing_calls.load()));
  CHECK(log.count_containing("still broken") == 1);  // once per streak, not once per tick
  std::this_thread::sleep_for(30ms);                 // several intervals: nothing may run after stop()
  CHECK(calls.load() == after_stop);
  poller.stop();  // idempotent

  // It can be started again.
  poller.start();
  REQUIRE(eventually([&] { return calls.load() > after_stop; }));
}

TEST_CASE("set_interval takes effect on a running poller", "[telemetry][poller]") {
  Poller poller(1h);
  std::atomic<int> calls{0};
  REQUIRE(poller.add("count", [&] { calls++; }));
  poller.start();
  poller.set_interval(2ms);
  CHECK(poller.interval() == 2ms);
  REQUIRE(eventually([&] { return calls.load() >= 3; }));
  poller.set_interval(0ms);  // not a valid interval: the default
  CHECK(poller.interval() == 1'000ms);
  CHECK(Poller(0ms).interval() == 1'000ms);
}

TEST_CASE("last_poll_ns measures the round", "[telemetry][poller]") {
  Poller poller(1h);
  REQUIRE(poller.add("slow", [] { std::this_thread::sleep_for(3ms); }));
  poller.poll_now();
  CHECK(poller.last_poll_ns() >= 3'000'000u);
}

}  // namespace test_telemetry_poller_test
