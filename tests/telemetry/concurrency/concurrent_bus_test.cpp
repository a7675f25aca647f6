// The event bus under concurrency: attach and detach while other threads
// execute, a handler that throws on many threads at once, spans on many
// threads. Every loop is bounded by a count.
#include <stdexcept>

#include "telemetry_test_support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_telemetry_concurrency_concurrent_bus_test {

using namespace canopy::telemetry;
using namespace telemetry_test;

TEST_CASE("attach and detach while other threads execute: a handler attached throughout sees every event",
          "[telemetry][bus][concurrency]") {
  Bus bus;
  const Event& ev = bus.event({"load", "tick"});
  std::atomic<uint64_t> stable_calls{0};
  std::atomic<uint64_t> stable_sum{0};
  std::atomic<uint64_t> churn_calls{0};
  REQUIRE(bus.attach("stable", {{"load", "tick"}},
                     [&](const EventName&, const Measurements& m, const Metadata&, const std::any&) {
                       stable_calls.fetch_add(1, std::memory_order_relaxed);
                       stable_sum.fetch_add(static_cast<uint64_t>(*m.find("v")), std::memory_order_relaxed);
                     }));

  constexpr int kEmitters = 3;
  const int per_emitter = scaled(40'000);
  const int churn_rounds = scaled(2'000);
  std::atomic<int> attach_failures{0}, detach_failures{0};
  std::atomic<bool> churn_done{false};

  std::vector<std::thread> threads;
  for (int t = 0; t < kEmitters; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < per_emitter; ++i) bus.execute(ev, {{"v", static_cast<double>(t + 1)}});
    });
  }
  // Two churners, each with its own ids, attaching to the same event (and a second one).
  for (int c = 0; c < 2; ++c) {
    threads.emplace_back([&, c] {
      for (int i = 0; i < churn_rounds; ++i) {
        const std::string id = "churn-" + std::to_string(c) + "-" + std::to_string(i % 4);
        if (!bus.attach(id, {{"load", "tick"}, {"load", "other"}},
                        [&](const EventName&, const Measurements&, const Metadata&, const std::any&) {
                          churn_calls.fetch_add(1, std::memory_order_relaxed);
                        })) {
          attach_failures++;
        }
        if (!bus.detach(id)) detach_failures++;
      }
      if (c == 0) churn_done = true;
    });
  }
  for (auto& th : threads) th.join();

  CHECK(churn_done.load());
  CHECK(attach_failures.load() == 0);
  CHECK(detach_failures.load() == 0);
  // The stable handler missed nothing and saw nothing twice.
  CHECK(stable_calls.load() == static_cast<uint64_t>(kEmitters) * static_cast<uint64_t>(per_emitter));
  CHECK(stable_sum.load() == static_cast<uint64_t>(per_emitter) * (1 + 2 + 3));
  CHECK(bus.handler_ids() == std::vector<std::string>{"stable"});
  CHECK_FALSE(bus.event({"load", "other"}).active());
  CHECK(bus.handler_failures() == 0);

  // Once detached, a churn handler is never called again.
  const uint64_t churn_after = churn_calls.load();
  for (int i = 0; i < 1'000; ++i) bus.execute(ev, {{"v", 1}});
  CHECK(churn_calls.load() == churn_after);
  CHECK(stable_calls.load() == static_cast<uint64_t>(kEmitters) * static_cast<uint64_t>(per_emitter) + 1'000);
}

TEST_CASE("attaching from several threads at once: every handler is attached exactly once",
          "[telemetry][bus][concurrency]") {
  Bus bus;
  constexpr int kThreads = 4;
  const int per_thread = scaled(200);
  std::atomic<int> ok{0}, refused{0};
  std::atomic<uint64_t> calls{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      // Every thread tries the same ids: each id goes to exactly one of them.
      for (int i = 0; i < per_thread; ++i) {
        const bool attached =
            bus.attach("h" + std::to_string(i), {{"shared"}},
                       [&](const EventName&, const Measurements&, const Metadata&, const std::any&) { calls++; });
        (attached ? ok : refused)++;
        bus.execute({"shared"}, {});
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(ok.load() == per_thread);
  CHECK(refused.load() == per_thread * (kThreads - 1));
  CHECK(bus.handler_ids().size() == static_cast<size_t>(per_thread));
  const uint64_t before = calls.load();
  bus.execute({"shared"}, {});
  CHECK(calls.load() == before + static_cast<uint64_t>(per_thread));
}

TEST_CASE("a handler throwing on many threads at once is detached and counted once", "[telemetry][bus][concurrency]") {
  CapturedLog log("concurrent-bus-failure");
  Bus bus(log.logger);
  std::atomic<uint64_t> good_calls{0};
  std::atomic<uint64_t> bad_calls{0};
  REQUIRE(bus.attach("good", {{"hot"}}, [&](const EventName&, const Measurements&, const Metadata&, const std::any&) {
    good_calls.fetch_add(1, std::memory_order_relaxed);
  }));
  REQUIRE(bus.attach("bad", {{"hot"}}, [&](const EventName&, const Measurements&, const Metadata&, const std::any&) {
    bad_calls.fetch_add(1, std::memory_order_relaxed);
    throw std::runtime_error("always");
  }));
  constexpr int kThreads = 4;
  const int per_thread = scaled(20'000);
  std::atomic<int> escaped{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i) {
        try {
          bus.execute({"hot"}, {{"i", i}});
        } catch (...) {
          escaped++;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(escaped.load() == 0);
  CHECK(bus.handler_failures() == 1);
  CHECK(log.count_containing("'bad'") == 1);
  // Threads that had loaded the old handler list may have called it a few more
  // times, at most once each before they see the new list.
  CHECK(bad_calls.load() >= 1);
  CHECK(good_calls.load() == static_cast<uint64_t>(kThreads) * static_cast<uint64_t>(per_thread));
  CHECK(bus.handler_ids() == std::vector<std::string>{"good"});
}

TEST_CASE("spans on many threads: every start has its stop, each with a non-negative duration",
          "[telemetry][bus][span][concurrency]") {
  Bus bus;
  std::atomic<uint64_t> starts{0}, stops{0}, exceptions{0}, negative{0};
  REQUIRE(bus.attach("spy", {{"w", "start"}, {"w", "stop"}, {"w", "exception"}},
                     [&](const EventName& e, const Measurements& m, const Metadata&, const std::any&) {
                       if (e.back() == "start") {
                         starts++;
                       } else {
                         (e.back() == "stop" ? stops : exceptions)++;
                         if (*m.find("duration") < 0) negative++;
                       }
                     }));
  constexpr int kThreads = 3;
  const int per_thread = scaled(5'000);
  std::atomic<int> caught{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i) {
        try {
          bus.span({"w"}, {{"i", i}}, [i] {
            if (i % 10 == 0) throw std::runtime_error("every tenth");
            return i;
          });
        } catch (const std::runtime_error&) {
          caught++;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  const uint64_t total = static_cast<uint64_t>(kThreads) * static_cast<uint64_t>(per_thread);
  const uint64_t thrown = static_cast<uint64_t>(kThreads) * static_cast<uint64_t>((per_thread + 9) / 10);
  CHECK(starts.load() == total);
  CHECK(exceptions.load() == thrown);
  CHECK(stops.load() == total - thrown);
  CHECK(caught.load() == static_cast<int>(thrown));
  CHECK(negative.load() == 0);
}

}  // namespace test_telemetry_concurrency_concurrent_bus_test
