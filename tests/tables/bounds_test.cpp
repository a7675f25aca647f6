// Bounds: max_entries and max_bytes under each policy, with exact counts.
#include <set>

#include "table_test_support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_tables_bounds_test {

using namespace canopy;
using namespace table_test;
using Catch::Matchers::Contains;

namespace {

template <typename Tbl>
Tbl make(Runtime& rt, Pid owner, TableOptions o) {
  o.access = TableAccess::public_;
  o.owner = owner;
  o.sweep_interval = 0ms;
  auto t = Tbl::create(rt, std::move(o));
  REQUIRE_OK(t);
  return t.value();
}

template <typename Tbl>
std::set<typename Tbl::Entry::first_type> keys_of(const Tbl& t) {
  std::set<typename Tbl::Entry::first_type> out;
  const auto all = t.match([](const auto&, const auto&) { return true; });
  for (auto& [k, v] : all.value()) out.insert(k);
  return out;
}

using IT = Table<int, int>;
using ST = Table<int, std::string>;

}  // namespace

TEST_CASE("reject: an insert beyond max_entries fails and changes nothing") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  const Pid p = spawn_runner(rt);
  auto t = make<IT>(rt, p, TableOptions{.name = "capped", .max_entries = 3});
  for (int i = 0; i < 3; ++i) REQUIRE_OK(t.insert(i, i));
  const Status full = t.insert(3, 3);
  REQUIRE(full.code() == Errc::invalid_argument);
  CHECK_THAT(full.error().message(), Contains("capped") && Contains("max_entries 3") && Contains("reject"));
  CHECK(full.error().cause() == "max_entries");
  CHECK(t.insert_new(4, 4).code() == Errc::invalid_argument);
  // Overwriting a present key adds no entry: allowed.
  REQUIRE_OK(t.insert(1, 100));
  CHECK(t.size() == 3);
  CHECK(keys_of(t) == std::set<int>{0, 1, 2});
  // Room again after an erase.
  CHECK(t.erase(0).value());
  REQUIRE_OK(t.insert(3, 3));
  const TableCounters c = t.counters();
  CHECK(c.rejected == 2);
  CHECK(c.inserts == 5);
  CHECK(c.evictions() == 0);
}

TEST_CASE("reject: max_bytes counts exact entry bytes") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  const Pid p = spawn_runner(rt);
  const std::string big(100, 'b');  // heap-allocated: counts capacity()+1
  const size_t small_bytes = ST::entry_bytes(0, "s");
  const size_t big_bytes = ST::entry_bytes(0, big);
  REQUIRE(big_bytes == small_bytes + big.capacity() + 1);
  auto t = make<ST>(rt, p, TableOptions{.max_bytes = 3 * small_bytes + big_bytes});
  REQUIRE_OK(t.insert(1, "s"));
  REQUIRE_OK(t.insert(2, "s"));
  REQUIRE_OK(t.insert(3, big));
  REQUIRE_OK(t.insert(4, "s"));  // exactly at the bound
  CHECK(t.memory() == t.fixed_bytes() + 3 * small_bytes + big_bytes);
  const Status over = t.insert(5, "s");
  REQUIRE(over.code() == Errc::invalid_argument);
  CHECK(over.error().cause() == "max_bytes");
  CHECK_THAT(over.error().message(), Contains("max_bytes"));
  // Growing a value past the bound is refused too, and leaves it as it was.
  CHECK(t.update(1, [&](std::string& s) { s = big; }).code() == Errc::invalid_argument);
  CHECK(t.lookup(1).value() == "s");
  CHECK(t.insert(1, big).code() == Errc::invalid_argument);
  // Shrinking is always fine, and makes room.
  REQUIRE_OK(t.insert(3, "s"));
  CHECK(t.erase(4).value());
  REQUIRE_OK(t.insert(5, "s"));
  CHECK(t.memory() == t.fixed_bytes() + 4 * small_bytes);
  CHECK(t.counters().rejected == 3);
  // An entry that can never fit.
  const Status huge = t.insert(9, std::string(10'000, 'h'));
  REQUIRE(huge.code() == Errc::invalid_argument);
  CHECK_THAT(huge.error().message(), Contains("can never fit"));
}

TEST_CASE("evict_oldest: the first inserted goes, overwriting keeps a key's age") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  const Pid p = spawn_runner(rt);
  for (auto conc : {TableConcurrency::read_heavy, TableConcurrency::write_heavy}) {
    INFO(to_string(conc));
    auto t =
        make<IT>(rt, p, TableOptions{.concurrency = conc, .max_entries = 3, .on_full = EvictionPolicy::evict_oldest});
    for (int i = 1; i <= 5; ++i) REQUIRE_OK(t.insert(i, i));
    CHECK(t.size() == 3);
    CHECK(keys_of(t) == std::set<int>{3, 4, 5});
    CHECK(t.counters().evictions_max_entries == 2);
    // Reading or overwriting 3 does not make it younger.
    (void)t.lookup(3);
    REQUIRE_OK(t.insert(3, 33));
    REQUIRE_OK(t.insert(6, 6));
    CHECK(keys_of(t) == std::set<int>{4, 5, 6});
    CHECK(t.counters().evictions_max_entries == 3);
    CHECK(t.counters().evictions_max_bytes == 0);
    CHECK(t.counters().inserts == 7);
    CHECK(t.counters().deletes == 0);
  }
}

TEST_CASE("evict_oldest on max_bytes evicts as many as needed") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  const Pid p = spawn_runner(rt);
  const size_t small = ST::entry_bytes(0, "s");
  const std::string big(300, 'b');
  const size_t big_bytes = ST::entry_bytes(0, big);
  REQUIRE(big_bytes > 3 * small);
  auto t = make<ST>(rt, p, TableOptions{.max_bytes = big_bytes + small, .on_full = EvictionPolicy::evict_oldest});
  // Fill with smalls up to the bound.
  const size_t fit = (big_bytes + small) / small;
  for (size_t i = 0; i < fit; ++i) REQUIRE_OK(t.insert(static_cast<int>(i), "s"));
  CHECK(t.counters().evictions() == 0);
  // The big one pushes out the oldest smalls until it fits: exactly this many.
  const size_t used = fit * small;
  const size_t room_after = big_bytes + small;
  size_t expected = 0;
  for (size_t u = used + big_bytes; u > room_after; u -= small) ++expected;
  REQUIRE_OK(t.insert(1000, big));
  CHECK(t.counters().evictions_max_bytes == expected);
  CHECK(t.counters().evictions_max_entries == 0);
  CHECK(t.size() == fit - expected + 1);
  CHECK(t.memory() - t.fixed_bytes() <= big_bytes + small);
  CHECK(t.lookup(1000).ok());
  CHECK(t.lookup(0).code() == Errc::not_registered);  // the oldest went first
  CHECK(t.lookup(static_cast<int>(fit - 1)).ok());    // the youngest stayed
}

TEST_CASE("evict_lru: the least recently used goes (exact up to 128 entries)") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  const Pid p = spawn_runner(rt);
  for (auto kind : {TableKind::set, TableKind::ordered_set}) {
    INFO(to_string(kind));
    auto t = make<IT>(rt, p, TableOptions{.kind = kind, .max_entries = 3, .on_full = EvictionPolicy::evict_lru});
    REQUIRE_OK(t.insert(1, 1));
    REQUIRE_OK(t.insert(2, 2));
    REQUIRE_OK(t.insert(3, 3));
    (void)t.lookup(1);  // 1 is now more recent than 2 and 3
    REQUIRE_OK(t.insert(4, 4));
    CHECK(keys_of(t) == std::set<int>{1, 3, 4});
    (void)t.lookup(3);
    REQUIRE_OK(t.update(4, [](int& v) { ++v; }));  // an update is a use
    REQUIRE_OK(t.insert(5, 5));                    // 1 is the least recent now
    CHECK(keys_of(t) == std::set<int>{3, 4, 5});
    REQUIRE_OK(t.insert(3, 30));  // overwriting is a use
    REQUIRE_OK(t.insert(6, 6));
    CHECK(keys_of(t) == std::set<int>{3, 5, 6});
    CHECK(t.counters().evictions_max_entries == 3);

    // A full table of 64 is still exact.
    auto u = make<IT>(rt, p, TableOptions{.kind = kind, .max_entries = 64, .on_full = EvictionPolicy::evict_lru});
    for (int i = 0; i < 64; ++i) REQUIRE_OK(u.insert(i, i));
    for (int i = 0; i < 64; ++i) {
      if (i != 17) (void)u.lookup(i);
    }
    REQUIRE_OK(u.insert(100, 100));
    CHECK(u.lookup(17).code() == Errc::not_registered);
    CHECK(u.size() == 64);
  }
}

TEST_CASE("evict_lru beyond 64 entries keeps the hot keys (sampled LRU)") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  const Pid p = spawn_runner(rt);
  auto t = make<IT>(rt, p, TableOptions{.max_entries = 1000, .on_full = EvictionPolicy::evict_lru});
  // 20 hot keys, touched every 10 inserts, among 5000 inserts.
  for (int i = 0; i < 20; ++i) REQUIRE_OK(t.insert(i, i));
  for (int i = 20; i < 5000; ++i) {
    REQUIRE_OK(t.insert(i, i));
    if (i % 10 == 0) {
      for (int h = 0; h < 20; ++h) (void)t.lookup(h);
    }
  }
  CHECK(t.size() == 1000);
  CHECK(t.counters().evictions_max_entries == 4000);
  int hot_kept = 0;
  for (int h = 0; h < 20; ++h) hot_kept += t.contains(h).value() ? 1 : 0;
  CHECK(hot_kept == 20);
}

TEST_CASE("bounds with both limits count each reason") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  const Pid p = spawn_runner(rt);
  const size_t small = ST::entry_bytes(0, "s");
  const std::string big(200, 'b');
  auto t =
      make<ST>(rt, p, TableOptions{.max_entries = 4, .max_bytes = 4 * small, .on_full = EvictionPolicy::evict_oldest});
  for (int i = 0; i < 6; ++i) REQUIRE_OK(t.insert(i, "s"));
  CHECK(t.counters().evictions_max_entries == 2);
  CHECK(t.counters().evictions_max_bytes == 0);
  const size_t big_bytes = ST::entry_bytes(0, big);
  REQUIRE(big_bytes <= 4 * small);
  REQUIRE_OK(t.insert(10, big));
  // Entries went 5 -> over the entry bound first (one eviction), then bytes.
  const TableCounters c = t.counters();
  CHECK(c.evictions_max_entries == 3);
  CHECK(c.evictions_max_bytes >= 1);
  CHECK(t.memory() - t.fixed_bytes() <= 4 * small);
  CHECK(t.size() <= 4);
  CHECK(t.lookup(10).ok());
}

}  // namespace test_tables_bounds_test
