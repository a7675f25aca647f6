// The event bus: event handles, attach / detach / execute, span events and
// their exception path, and handlers that throw.
#include <stdexcept>

#include "telemetry_test_support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_telemetry_bus_test {

using namespace canopy::telemetry;
using namespace telemetry_test;

TEST_CASE("an event name resolves once to one handle", "[telemetry][bus]") {
  Bus bus;
  const Event& a = bus.event({"canopy", "process", "spawn"});
  const Event& b = bus.event({"canopy", "process", "spawn"});
  const Event& c = bus.event({"canopy", "process", "exit"});
  CHECK(&a == &b);
  CHECK(&a != &c);
  CHECK(a.text() == "canopy.process.spawn");
  CHECK(a.name() == EventName{"canopy", "process", "spawn"});
  CHECK(to_string(EventName{"x", "y"}) == "x.y");
  CHECK_FALSE(a.active());
}

TEST_CASE("execute delivers the event, measurements, metadata and config to every attached handler",
          "[telemetry][bus]") {
  Bus bus;
  auto seen = std::make_shared<Recorder<Seen>>();
  std::atomic<int> config_seen{0};
  REQUIRE(bus.attach(
      "h1", {{"app", "a"}, {"app", "b"}},
      [seen, &config_seen](const EventName& e, const Measurements& m, const Metadata& md, const std::any& config) {
        if (auto* c = std::any_cast<int>(&config)) config_seen.store(*c);
        seen->push(copy_event(e, m, md));
      },
      std::any(42)));
  const Event& a = bus.event({"app", "a"});
  const Event& b = bus.event({"app", "b"});
  CHECK(a.active());
  CHECK(b.active());
  CHECK_FALSE(bus.event({"app", "c"}).active());

  const std::string owner = "alice";
  bus.execute(a, {{"count", 1}, {"bytes", 2.5}}, {{"who", owner}, {"n", 7}, {"ratio", 0.5}});
  bus.execute({"app", "b"}, {{"count", 3}});
  bus.execute({"app", "c"}, {{"count", 4}});  // nobody listens

  auto s = seen->snapshot();
  REQUIRE(s.size() == 2);
  CHECK(s[0].event == "app.a");
  CHECK(s[0].m("count") == 1.0);
  CHECK(s[0].m("bytes") == 2.5);
  CHECK(s[0].md("who") == std::string("alice"));
  CHECK(s[0].md("n") == std::string("7"));  // whole numbers print without ".0"
  CHECK(s[0].md("ratio") == std::string("0.500000"));
  CHECK(s[1].event == "app.b");
  CHECK(s[1].m("count") == 3.0);
  CHECK(s[1].metadata.empty());
  CHECK(config_seen.load() == 42);
}

TEST_CASE("handlers run in attach order, a duplicate id is refused and attaches nothing", "[telemetry][bus]") {
  Bus bus;
  auto order = std::make_shared<Recorder<std::string>>();
  auto tagger = [order](std::string tag) {
    return [order, tag](const EventName&, const Measurements&, const Metadata&, const std::any&) { order->push(tag); };
  };
  REQUIRE(bus.attach("first", {{"e"}}, tagger("first")));
  REQUIRE(bus.attach("second", {{"e"}}, tagger("second")));
  CHECK_FALSE(bus.attach("first", {{"e"}, {"other"}}, tagger("impostor")));
  CHECK_FALSE(bus.event({"other"}).active());  // the refused attach added nothing

  bus.execute({"e"}, {{"v", 1}});
  CHECK(order->snapshot() == std::vector<std::string>{"first", "second"});
  auto ids = bus.handler_ids();
  std::sort(ids.begin(), ids.end());
  CHECK(ids == std::vector<std::string>{"first", "second"});
}

TEST_CASE("detach stops delivery on every event of that handler and only that handler", "[telemetry][bus]") {
  Bus bus;
  std::atomic<int> a_calls{0}, b_calls{0};
  REQUIRE(bus.attach("a", {{"x"}, {"y"}}, [&](const EventName&, const Measurements&, const Metadata&, const std::any&) {
    a_calls.fetch_add(1);
  }));
  REQUIRE(bus.attach("b", {{"x"}}, [&](const EventName&, const Measurements&, const Metadata&, const std::any&) {
    b_calls.fetch_add(1);
  }));
  bus.execute({"x"}, {});
  bus.execute({"y"}, {});
  CHECK(a_calls.load() == 2);
  CHECK(b_calls.load() == 1);

  CHECK(bus.detach("a"));
  CHECK_FALSE(bus.detach("a"));
  CHECK_FALSE(bus.detach("never-attached"));
  CHECK_FALSE(bus.event({"y"}).active());  // no handler left on y
  CHECK(bus.event({"x"}).active());        // b still listens to x
  bus.execute({"x"}, {});
  bus.execute({"y"}, {});
  CHECK(a_calls.load() == 2);
  CHECK(b_calls.load() == 2);
  CHECK(bus.handler_ids() == std::vector<std::string>{"b"});

  // The id is free again.
  REQUIRE(bus.attach("a", {{"y"}}, [&](const EventName&, const Measurements&, const Metadata&, const std::any&) {
    a_calls.fetch_add(10);
  }));
  bus.execute({"y"}, {});
  CHECK(a_calls.load() == 12);
}

TEST_CASE("metadata keeps text and numbers, measurements and metadata hold a bounded number of entries",
          "[telemetry][bus]") {
  Metadata md{{"a", "text"}, {"b", 3}, {"c", int64_t{-4}}, {"d", uint64_t{5}}, {"e", 1.25}};
  REQUIRE(md.size() == 5);
  CHECK_FALSE(md.find("a")->is_number());
  CHECK(md.find("a")->text() == "text");
  CHECK(md.find("b")->number() == 3.0);
  CHECK(md.find("c")->to_string() == "-4");
  CHECK(md.find("d")->to_string() == "5");
  CHECK(md.find("e")->number() == 1.25);
  CHECK(md.find("missing") == nullptr);
  md.set("a", "replaced");
  CHECK(md.size() == 5);
  CHECK(md.find("a")->text() == "replaced");

  Measurements m;
  for (int i = 0; i < 12; ++i) m.set(std::string_view("abcdefghijkl").substr(static_cast<size_t>(i), 1), i);
  CHECK(m.size() == 8);  // entries past the bound are ignored
  CHECK(*m.find("h") == 7.0);
  CHECK(m.find("i") == nullptr);
  Measurements copy = m;
  CHECK(copy.size() == 8);
  CHECK(*copy.find("a") == 0.0);
}

TEST_CASE("span emits start and stop with a monotonic duration and returns the function's result",
          "[telemetry][bus][span]") {
  Bus bus;
  auto seen = std::make_shared<Recorder<Seen>>();
  REQUIRE(bus.attach("spy", {{"db", "query", "start"}, {"db", "query", "stop"}, {"db", "query", "exception"}},
                     recording(seen)));

  const auto before = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
  const int result = bus.span({"db", "query"}, {{"table", "users"}}, [] {
    std::this_thread::sleep_for(2ms);
    return 17;
  });
  const auto after = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
  CHECK(result == 17);

  auto s = seen->snapshot();
  REQUIRE(s.size() == 2);
  CHECK(s[0].event == "db.query.start");
  CHECK(s[1].event == "db.query.stop");
  CHECK(s[0].md("table") == std::string("users"));
  CHECK(s[1].md("table") == std::string("users"));
  REQUIRE(s[0].m("monotonic_time"));
  REQUIRE(s[0].m("system_time"));
  REQUIRE(s[1].m("monotonic_time"));
  REQUIRE(s[1].m("duration"));
  const double start = *s[0].m("monotonic_time");
  const double stop = *s[1].m("monotonic_time");
  const double duration = *s[1].m("duration");
  // The bus's monotonic clock is steady_clock, in nanoseconds.
  CHECK(start >= static_cast<double>(before));
  CHECK(stop <= static_cast<double>(after));
  CHECK(stop >= start);
  CHECK(duration == Approx(stop - start).margin(1.0));
  CHECK(duration >= 2e6);  // at least the 2 ms the function slept
  // system_time is wall-clock nanoseconds since the epoch: after 2020.
  CHECK(*s[0].m("system_time") > 1.5e18);
  CHECK_FALSE(s[1].md("kind"));
}

TEST_CASE("span with a void function emits stop", "[telemetry][bus][span]") {
  Bus bus;
  auto seen = std::make_shared<Recorder<Seen>>();
  REQUIRE(bus.attach("spy", {{"job", "stop"}, {"job", "exception"}}, recording(seen)));
  int ran = 0;
  bus.span({"job"}, {}, [&] { ++ran; });
  CHECK(ran == 1);
  auto s = seen->snapshot();
  REQUIRE(s.size() == 1);
  CHECK(s[0].event == "job.stop");
  CHECK(s[0].m("duration").value_or(-1) >= 0);
}

TEST_CASE("span emits exception with kind and reason, no stop, and rethrows to the caller", "[telemetry][bus][span]") {
  Bus bus;
  auto seen = std::make_shared<Recorder<Seen>>();
  REQUIRE(bus.attach("spy", {{"job", "start"}, {"job", "stop"}, {"job", "exception"}}, recording(seen)));

  SECTION("a std::exception") {
    CHECK_THROWS_AS(bus.span({"job"}, {{"id", 9}},
                             []() -> int {
                               std::this_thread::sleep_for(1ms);
                               throw std::runtime_error("disk on fire");
                             }),
                    std::runtime_error);
    auto s = seen->snapshot();
    REQUIRE(s.size() == 2);
    CHECK(s[0].event == "job.start");
    CHECK(s[1].event == "job.exception");
    CHECK(s[1].md("kind") == std::string("error"));
    CHECK(s[1].md("reason") == std::string("disk on fire"));
    CHECK(s[1].md("id") == std::string("9"));  // the caller's metadata is kept
    REQUIRE(s[1].m("duration"));
    CHECK(*s[1].m("duration") >= 1e6);
    CHECK(*s[1].m("monotonic_time") >= *s[0].m("monotonic_time"));
  }
  SECTION("the exception object itself reaches the caller") {
    try {
      bus.span({"job"}, {}, [] { throw std::invalid_argument("bad input 123"); });
      FAIL("span swallowed the exception");
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what()) == "bad input 123");
    }
    auto s = seen->snapshot();
    REQUIRE(s.size() == 2);
    CHECK(s[1].md("reason") == std::string("bad input 123"));
  }
  SECTION("something that is not a std::exception") {
    CHECK_THROWS_AS(bus.span({"job"}, {}, [] { throw 42; }), int);
    auto s = seen->snapshot();
    REQUIRE(s.size() == 2);
    CHECK(s[1].event == "job.exception");
    CHECK(s[1].md("kind") == std::string("throw"));
    CHECK(s[1].md("reason").has_value());
  }
}

TEST_CASE("a handler that throws is detached, logged once with its id and the event, and counted",
          "[telemetry][bus][failure]") {
  CapturedLog log("bus-failure-test");
  Bus bus(log.logger);
  std::atomic<int> before_calls{0}, thrower_calls{0}, after_calls{0};
  REQUIRE(bus.attach("before", {{"svc", "tick"}},
                     [&](const EventName&, const Measurements&, const Metadata&, const std::any&) { before_calls++; }));
  REQUIRE(bus.attach("thrower", {{"svc", "tick"}, {"svc", "tock"}},
                     [&](const EventName&, const Measurements&, const Metadata&, const std::any&) {
                       thrower_calls++;
                       throw std::runtime_error("handler bug");
                     }));
  REQUIRE(bus.attach("after", {{"svc", "tick"}},
                     [&](const EventName&, const Measurements&, const Metadata&, const std::any&) { after_calls++; }));
  CHECK(bus.handler_failures() == 0);

  // The emitter never sees the exception; the handlers after it still run.
  CHECK_NOTHROW(bus.execute({"svc", "tick"}, {{"v", 1}}));
  CHECK(thrower_calls.load() == 1);
  CHECK(before_calls.load() == 1);
  CHECK(after_calls.load() == 1);
  CHECK(bus.handler_failures() == 1);

  // Detached from every event it was attached to.
  auto ids = bus.handler_ids();
  CHECK(std::find(ids.begin(), ids.end(), "thrower") == ids.end());
  CHECK_FALSE(bus.event({"svc", "tock"}).active());
  CHECK_NOTHROW(bus.execute({"svc", "tick"}, {{"v", 2}}));
  CHECK_NOTHROW(bus.execute({"svc", "tock"}, {{"v", 2}}));
  CHECK(thrower_calls.load() == 1);
  CHECK(before_calls.load() == 2);
  CHECK(after_calls.load() == 2);
  CHECK(bus.handler_failures() == 1);

  // Logged once, naming the handler, the event and the error.
  CHECK(log.count_containing("thrower") == 1);
  const auto lines = log.lines();
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find("svc.tick") != std::string::npos);
  CHECK(lines[0].find("handler bug") != std::string::npos);
  CHECK(lines[0].rfind("error", 0) == 0);
}

TEST_CASE("a handler that throws something that is not a std::exception is detached too", "[telemetry][bus][failure]") {
  CapturedLog log("bus-failure-test-2");
  Bus bus(log.logger);
  std::atomic<int> calls{0};
  REQUIRE(bus.attach("weird", {{"e"}}, [&](const EventName&, const Measurements&, const Metadata&, const std::any&) {
    calls++;
    throw 7;
  }));
  CHECK_NOTHROW(bus.execute({"e"}, {}));
  CHECK_NOTHROW(bus.execute({"e"}, {}));
  CHECK(calls.load() == 1);
  CHECK(bus.handler_failures() == 1);
  CHECK_FALSE(bus.event({"e"}).active());
  CHECK(log.count_containing("weird") == 1);
}

TEST_CASE("a throwing handler inside a span does not disturb the span", "[telemetry][bus][failure][span]") {
  CapturedLog log("bus-failure-test-3");
  Bus bus(log.logger);
  REQUIRE(
      bus.attach("bad", {{"op", "start"}}, [](const EventName&, const Measurements&, const Metadata&, const std::any&) {
        throw std::runtime_error("nope");
      }));
  auto seen = std::make_shared<Recorder<Seen>>();
  REQUIRE(bus.attach("spy", {{"op", "stop"}, {"op", "exception"}}, recording(seen)));
  int r = 0;
  CHECK_NOTHROW(r = bus.span({"op"}, {}, [] { return 5; }));
  CHECK(r == 5);
  auto s = seen->snapshot();
  REQUIRE(s.size() == 1);
  CHECK(s[0].event == "op.stop");  // not an exception event: the function did not throw
  CHECK(bus.handler_failures() == 1);
}

}  // namespace test_telemetry_bus_test
