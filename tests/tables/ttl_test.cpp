// Expiry with an injected clock: no test sleeps for a TTL.
#include "table_test_support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_tables_ttl_test {

using namespace canopy;
using namespace table_test;
using Catch::Matchers::Contains;

namespace {

using T = Table<int, std::string>;

struct Fixture {
  std::shared_ptr<ManualTableClock> clock = std::make_shared<ManualTableClock>();
  Runtime rt{RuntimeOptions{.schedulers = 2}};
  Pid owner = spawn_runner(rt);

  T make(TableOptions o = {}) {
    o.access = TableAccess::public_;
    o.owner = owner;
    o.clock = clock;
    if (o.sweep_interval == TableOptions{}.sweep_interval) o.sweep_interval = 0ms;  // only explicit sweeps
    auto t = T::create(rt, std::move(o));
    REQUIRE_OK(t);
    return t.value();
  }
};

}  // namespace

TEST_CASE("entries expire after the table's default ttl and are never returned after") {
  Fixture f;
  T t = f.make(TableOptions{.default_ttl = 1000ms});
  REQUIRE_OK(t.insert(1, "one"));
  f.clock->advance(999ms);
  CHECK(t.lookup(1).value() == "one");
  CHECK(t.contains(1).value());
  f.clock->advance(1ms);  // exactly the ttl: expired
  CHECK(t.lookup(1).code() == Errc::not_registered);
  CHECK_FALSE(t.contains(1).value());
  CHECK(t.match([](int, const std::string&) { return true; })->empty());
  CHECK(t.first()->end());
  const TableCounters c = t.counters();
  CHECK(c.hits == 2);
  CHECK(c.misses == 2);
  // Still stored (and counted) until removed.
  CHECK(t.size() == 1);
  CHECK(t.counters().expiries == 0);
  CHECK(t.sweep(100) == 1);
  CHECK(t.size() == 0);
  CHECK(t.memory() == t.fixed_bytes());
  CHECK(t.counters().expiries == 1);
  CHECK(t.counters().deletes == 0);
}

TEST_CASE("a per-entry ttl overrides the default; 0 means never") {
  Fixture f;
  T t = f.make(TableOptions{.default_ttl = 1000ms});
  REQUIRE_OK(t.insert(1, "default"));
  REQUIRE_OK(t.insert(2, "short", 10ms));
  REQUIRE_OK(t.insert(3, "long", 5000ms));
  REQUIRE_OK(t.insert(4, "forever", 0ms));
  CHECK(t.insert(5, "bad", -1ms).code() == Errc::invalid_argument);

  f.clock->advance(10ms);
  CHECK(t.lookup(2).code() == Errc::not_registered);
  CHECK(t.lookup(1).ok());
  f.clock->advance(990ms);
  CHECK(t.lookup(1).code() == Errc::not_registered);
  CHECK(t.lookup(3).ok());
  f.clock->advance(100'000ms);
  CHECK(t.lookup(3).code() == Errc::not_registered);
  CHECK(t.lookup(4).value() == "forever");
  CHECK(t.sweep(10) == 3);
  CHECK(t.size() == 1);

  // Without a default, entries live until given a ttl.
  T plain = f.make();
  REQUIRE_OK(plain.insert(1, "x"));
  REQUIRE_OK(plain.insert(2, "y", 5ms));
  f.clock->advance(1'000'000ms);
  CHECK(plain.lookup(1).ok());
  CHECK(plain.lookup(2).code() == Errc::not_registered);
}

TEST_CASE("writes that meet an expired entry remove it as an expiry") {
  Fixture f;
  T t = f.make(TableOptions{.default_ttl = 100ms});
  for (int i = 0; i < 5; ++i) REQUIRE_OK(t.insert(i, "v"));
  f.clock->advance(100ms);
  // insert over an expired key: a fresh entry.
  REQUIRE_OK(t.insert(0, "fresh"));
  CHECK(t.lookup(0).value() == "fresh");
  // insert_new succeeds over an expired key.
  REQUIRE_OK(t.insert_new(1, "new"));
  // update, erase and take do not see it.
  CHECK(t.update(2, [](std::string& s) { s = "no"; }).code() == Errc::not_registered);
  CHECK_FALSE(t.erase(3).value());
  CHECK(t.take(4).code() == Errc::not_registered);
  CHECK(t.size() == 2);
  const TableCounters c = t.counters();
  CHECK(c.expiries == 5);
  CHECK(c.deletes == 0);
  CHECK(c.inserts == 7);
}

TEST_CASE("overwriting restarts the ttl, update keeps it") {
  Fixture f;
  T t = f.make(TableOptions{.default_ttl = 100ms});
  REQUIRE_OK(t.insert(1, "a"));
  REQUIRE_OK(t.insert(2, "b"));
  f.clock->advance(60ms);
  REQUIRE_OK(t.insert(1, "a2"));
  CHECK(t.update(2, [](std::string& s) { s += "!"; }).value() == "b!");
  f.clock->advance(60ms);
  CHECK(t.lookup(1).value() == "a2");
  CHECK(t.lookup(2).code() == Errc::not_registered);
  // Taking a ttl away by overwriting with ttl 0.
  REQUIRE_OK(t.insert(1, "a3", 0ms));
  f.clock->advance(1'000'000ms);
  CHECK(t.lookup(1).value() == "a3");
}

TEST_CASE("sweep removes only expired entries, oldest deadline first, within its budget") {
  Fixture f;
  T t = f.make();
  for (int i = 0; i < 100; ++i) REQUIRE_OK(t.insert(i, "v", std::chrono::milliseconds(10 + i)));
  for (int i = 100; i < 150; ++i) REQUIRE_OK(t.insert(i, "v"));
  f.clock->advance(10ms + 49ms);  // deadlines 10..59 have passed: keys 0..49
  CHECK(t.sweep(20) == 20);
  CHECK(t.sweep(100) == 30);
  CHECK(t.sweep(100) == 0);
  CHECK(t.size() == 100);
  for (int i = 50; i < 150; ++i) CHECK(t.lookup(i).ok());
  CHECK(t.counters().expiries == 50);
}

TEST_CASE("ordered_set entries expire too") {
  Fixture f;
  T t = f.make(TableOptions{.kind = TableKind::ordered_set, .default_ttl = 10ms});
  for (int i = 0; i < 10; ++i) REQUIRE_OK(t.insert(i, "v", i % 2 == 0 ? std::nullopt : T::Ttl(0ms)));
  f.clock->advance(10ms);
  auto r = t.range(0, 10);
  REQUIRE(r->size() == 5);
  CHECK((*r)[0].first == 1);
  CHECK(t.first()->key() == 1);
  CHECK(t.sweep(100) == 5);
  CHECK(t.size() == 5);
}

TEST_CASE("the runtime's sweeper removes expired entries in the background") {
  // The one wait here is for the background thread to get its turn; expiry
  // itself is still driven by the manual clock.
  Fixture f;
  T t = f.make(TableOptions{.default_ttl = 50ms, .sweep_interval = 1ms, .sweep_batch = 100});
  for (int i = 0; i < 1000; ++i) REQUIRE_OK(t.insert(i, "v"));
  REQUIRE_OK(t.insert(-1, "kept", 0ms));
  CHECK(t.size() == 1001);
  f.clock->advance(50ms);
  REQUIRE(eventually([&] { return t.size() == 1; }));
  CHECK(t.counters().expiries == 1000);
  CHECK(t.lookup(-1).value() == "kept");
  CHECK(t.memory() == t.fixed_bytes() + T::entry_bytes(-1, "kept"));
}

TEST_CASE("small keys and values (kept in the index slot) expire and change the same way") {
  auto clock = std::make_shared<ManualTableClock>();
  Runtime rt(RuntimeOptions{.schedulers = 2});
  const Pid owner = spawn_runner(rt);
  using U = Table<uint64_t, uint64_t>;
  auto t = U::create(
      rt,
      TableOptions{
          .access = TableAccess::public_, .owner = owner, .default_ttl = 100ms, .clock = clock, .sweep_interval = 0ms});
  REQUIRE_OK(t);
  for (uint64_t i = 0; i < 100; ++i) REQUIRE_OK(t->insert(i, i));
  REQUIRE_OK(t->insert(1, 11, 0ms));     // overwritten: never expires
  REQUIRE_OK(t->insert(2, 22, 1000ms));  // overwritten: later
  CHECK(t->update(3, [](uint64_t& v) { v = 33; }).value() == 33);
  CHECK(t->lookup(3).value() == 33);
  clock->advance(100ms);
  CHECK(t->lookup(0).code() == Errc::not_registered);
  CHECK(t->lookup(3).code() == Errc::not_registered);
  CHECK(t->lookup(1).value() == 11);
  CHECK(t->lookup(2).value() == 22);
  CHECK(t->contains(2).value());
  CHECK(t->sweep(1000) == 98);
  clock->advance(900ms);
  CHECK(t->lookup(2).code() == Errc::not_registered);
  CHECK(t->lookup(1).value() == 11);
  CHECK(t->counters().hits == 5);
}

}  // namespace test_tables_ttl_test
