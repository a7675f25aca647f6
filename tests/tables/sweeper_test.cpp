// The sweeper removes a million expired entries in bounded batches, and the
// memory comes back.
#include "table_test_support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_tables_sweeper_test {

using namespace canopy;
using namespace table_test;

TEST_CASE("sweep removes a million expired entries in batches of at most 10,000") {
  auto clock = std::make_shared<ManualTableClock>();
  Runtime rt(RuntimeOptions{.schedulers = 2});
  const Pid owner = spawn_runner(rt);
  using T = Table<uint64_t, uint64_t>;
  auto t = T::create(rt, TableOptions{.access = TableAccess::public_,
                                      .owner = owner,
                                      .default_ttl = 60'000ms,
                                      .clock = clock,
                                      .sweep_interval = 0ms});  // the test sweeps
  REQUIRE_OK(t);
  const size_t empty = t->memory();
  constexpr uint64_t kEntries = 1'000'000;
  for (uint64_t i = 0; i < kEntries; ++i) {
    // Spread the deadlines over a second, as real traffic would.
    if (!t->insert(i, i, std::chrono::milliseconds(60'000 + static_cast<int64_t>(i % 1000))).ok()) FAIL("insert");
  }
  REQUIRE(t->size() == kEntries);
  REQUIRE(t->memory() == empty + kEntries * T::entry_bytes(0, 0, true));

  // Nothing has expired yet.
  CHECK(t->sweep(10'000) == 0);
  clock->advance(61'000ms);
  CHECK(t->lookup(0).code() == Errc::not_registered);
  CHECK(t->lookup(kEntries - 1).code() == Errc::not_registered);

  size_t total = 0;
  size_t calls = 0;
  size_t largest = 0;
  for (;;) {
    const size_t n = t->sweep(10'000);
    if (n == 0) break;
    REQUIRE(n <= 10'000);
    largest = std::max(largest, n);
    total += n;
    ++calls;
    REQUIRE(calls <= kEntries / 10'000 + 1);
    // Memory goes back batch by batch.
    REQUIRE(t->memory() == empty + (kEntries - total) * T::entry_bytes(0, 0, true));
  }
  CHECK(total == kEntries);
  CHECK(calls == kEntries / 10'000);
  CHECK(largest == 10'000);
  CHECK(t->size() == 0);
  CHECK(t->memory() == empty);
  const TableCounters c = t->counters();
  CHECK(c.expiries == kEntries);
  CHECK(c.deletes == 0);
  CHECK(c.evictions() == 0);
  // The table works as before.
  REQUIRE_OK(t->insert(1, 1));
  CHECK(t->lookup(1).value() == 1);
}

TEST_CASE("a partial expiry leaves the live entries alone") {
  auto clock = std::make_shared<ManualTableClock>();
  Runtime rt(RuntimeOptions{.schedulers = 2});
  const Pid owner = spawn_runner(rt);
  using T = Table<int, int>;
  auto t = T::create(
      rt, TableOptions{.access = TableAccess::public_, .owner = owner, .clock = clock, .sweep_interval = 0ms});
  REQUIRE_OK(t);
  for (int i = 0; i < 100'000; ++i) REQUIRE_OK(t->insert(i, i, std::chrono::milliseconds(i % 2 == 0 ? 10 : 1000)));
  clock->advance(10ms);
  size_t total = 0;
  while (const size_t n = t->sweep(3'000)) {
    REQUIRE(n <= 3'000);
    total += n;
  }
  CHECK(total == 50'000);
  CHECK(t->size() == 50'000);
  for (int i = 1; i < 100'000; i += 2) REQUIRE(t->lookup(i).ok());
}

}  // namespace test_tables_sweeper_test
