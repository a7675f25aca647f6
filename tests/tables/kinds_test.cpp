// The two kinds, every operation, iteration and the counters.
#include <algorithm>
#include <map>
#include <set>

#include "table_test_support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_tables_kinds_test {

using namespace canopy;
using namespace table_test;
using Catch::Matchers::Contains;

namespace {

// Creates a public table owned by a fresh runner.
template <typename Tbl>
Tbl make(Runtime& rt, TableOptions o = {}) {
  o.access = TableAccess::public_;
  if (!o.owner.valid()) o.owner = spawn_runner(rt);
  auto t = Tbl::create(rt, std::move(o));
  REQUIRE_OK(t);
  return t.value();
}

template <typename Tbl>
std::vector<typename Tbl::Entry> iterate(const Tbl& t) {
  std::vector<typename Tbl::Entry> out;
  for (auto c = t.first(); c.ok() && !c->end(); c = t.next(*c)) out.push_back(c->entry());
  return out;
}

// A key with only a hash and ==; and one with only <.
struct HashOnly {
  int v;
  bool operator==(const HashOnly&) const = default;
};
struct OrderOnly {
  int v;
  bool operator<(const OrderOnly& o) const { return v < o.v; }
};
struct HashOnlyHash {
  size_t operator()(const HashOnly& k) const { return std::hash<int>{}(k.v); }
};

}  // namespace

TEST_CASE("set: insert, insert_new, lookup, update, erase and take") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  for (auto conc : {TableConcurrency::read_heavy, TableConcurrency::write_heavy}) {
    INFO(to_string(conc));
    auto t = make<Table<std::string, int>>(rt, TableOptions{.concurrency = conc});
    REQUIRE_OK(t.insert("a", 1));
    REQUIRE_OK(t.insert("b", 2));
    CHECK(t.size() == 2);
    CHECK(t.lookup("a").value() == 1);
    const auto miss = t.lookup("zz");
    REQUIRE(miss.code() == Errc::not_registered);
    CHECK(miss.error().message() == "key not found");
    CHECK(t.contains("b").value());
    CHECK_FALSE(t.contains("c").value());

    // insert replaces; insert_new refuses a present key.
    REQUIRE_OK(t.insert("a", 10));
    CHECK(t.lookup("a").value() == 10);
    const Status dup = t.insert_new("a", 11);
    REQUIRE(dup.code() == Errc::already_registered);
    CHECK_THAT(dup.error().message(), Contains("insert_new"));
    REQUIRE_OK(t.insert_new("c", 3));
    CHECK(t.size() == 3);

    // update: atomic read-modify-write, returns the new value.
    CHECK(t.update("c", [](int& v) { v *= 7; }).value() == 21);
    CHECK(t.lookup("c").value() == 21);
    CHECK(t.update("nope", [](int& v) { v = 0; }).code() == Errc::not_registered);

    // erase and take.
    CHECK(t.erase("b").value());
    CHECK_FALSE(t.erase("b").value());
    CHECK(t.take("c").value() == 21);
    CHECK(t.take("c").code() == Errc::not_registered);
    CHECK(t.size() == 1);

    const TableCounters c = t.counters();
    CHECK(c.inserts == 4);  // a, b, a again, c
    CHECK(c.updates == 1);
    CHECK(c.deletes == 2);  // erase b, take c
    CHECK(c.lookups == 6);  // 4 lookup() + 2 contains()
    CHECK(c.hits == 4);
    CHECK(c.misses == 2);

    REQUIRE_OK(t.clear());
    CHECK(t.size() == 0);
    CHECK(t.counters().deletes == 3);
    CHECK(t.memory() == t.fixed_bytes());
  }
}

TEST_CASE("lookups count hits and misses exactly") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  auto t = make<Table<int, int>>(rt);
  for (int i = 0; i < 100; ++i) REQUIRE_OK(t.insert(i, i));
  for (int i = 0; i < 150; ++i) (void)t.lookup(i);
  for (int i = 0; i < 10; ++i) (void)t.contains(1000 + i);
  const TableCounters c = t.counters();
  CHECK(c.inserts == 100);
  CHECK(c.lookups == 160);
  CHECK(c.hits == 100);
  CHECK(c.misses == 60);
  CHECK(c.deletes == 0);
  CHECK(c.evictions() == 0);
  CHECK(c.expiries == 0);
}

TEST_CASE("set: match and iteration visit every entry once") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  auto t = make<Table<int, std::string>>(rt);
  for (int i = 0; i < 1000; ++i) REQUIRE_OK(t.insert(i, std::to_string(i)));
  auto even = t.match([](const int& k, const std::string&) { return k % 2 == 0; });
  REQUIRE_OK(even);
  CHECK(even->size() == 500);
  for (auto& [k, v] : *even) CHECK(v == std::to_string(k));

  const auto all = iterate(t);
  REQUIRE(all.size() == 1000);
  std::set<int> keys;
  for (auto& [k, v] : all) {
    keys.insert(k);
    CHECK(v == std::to_string(k));
  }
  CHECK(keys.size() == 1000);

  // An empty table ends at once; next() on the end stays at the end.
  auto e = make<Table<int, int>>(rt);
  auto c = e.first();
  REQUIRE_OK(c);
  CHECK(c->end());
  CHECK(e.next(*c)->end());
}

TEST_CASE("iteration is safe while entries are written") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  auto t = make<Table<int, int>>(rt, TableOptions{.stripes = 4});
  // Stable keys: 0..499, present throughout. Volatile: 1000.. (erased, re-inserted, new).
  for (int i = 0; i < 500; ++i) REQUIRE_OK(t.insert(i, i));
  for (int i = 1000; i < 1500; ++i) REQUIRE_OK(t.insert(i, i));
  std::map<int, int> seen;
  int step = 0;
  int next_new = 2000;
  for (auto c = t.first(); c.ok() && !c->end(); c = t.next(*c)) {
    ++seen[c->key()];
    // Write between steps: erase some volatile keys (including the cursor's
    // own when it is one), overwrite stable ones, add new ones.
    (void)t.erase(1000 + (step * 7) % 500);
    if (c->key() >= 1000) (void)t.erase(c->key());
    REQUIRE_OK(t.insert((step * 13) % 500, -1));  // overwrite: keeps its place
    REQUIRE_OK(t.insert(next_new++, 0));
    ++step;
  }
  for (int i = 0; i < 500; ++i) {
    INFO("stable key " << i);
    CHECK(seen[i] == 1);
  }
  for (auto& [k, n] : seen) CHECK(n == 1);
}

TEST_CASE("ordered_set: key order, range queries and ordered iteration") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  auto t = make<Table<int, std::string>>(rt, TableOptions{.kind = TableKind::ordered_set});
  CHECK(t.info().stripes == 1);
  for (int i : {50, 10, 40, 20, 30, 60}) REQUIRE_OK(t.insert(i, "v" + std::to_string(i)));
  const auto all = iterate(t);
  REQUIRE(all.size() == 6);
  for (size_t i = 0; i < all.size(); ++i) CHECK(all[i].first == static_cast<int>(10 * (i + 1)));

  auto r = t.range(20, 50);
  REQUIRE_OK(r);
  REQUIRE(r->size() == 3);
  CHECK((*r)[0].first == 20);
  CHECK((*r)[2].first == 40);
  CHECK((*r)[2].second == "v40");
  CHECK(t.range(20, 50, 2)->size() == 2);
  CHECK(t.range(61, 100)->empty());

  auto m = t.match([](const int& k, const std::string&) { return k > 25; });
  REQUIRE(m->size() == 4);
  CHECK(m->front().first == 30);  // in key order

  // Iteration continues after a key deleted under the cursor.
  auto c = t.first();
  REQUIRE(c->key() == 10);
  c = t.next(*c);
  REQUIRE(c->key() == 20);
  CHECK(t.erase(20).value());
  CHECK(t.erase(30).value());
  c = t.next(*c);
  CHECK(c->key() == 40);

  CHECK(t.update(40, [](std::string& s) { s += "!"; }).value() == "v40!");
  CHECK(t.take(60).value() == "v60");
  CHECK(t.size() == 3);

  // A set has no ranges.
  auto s = make<Table<int, int>>(rt);
  CHECK(s.range(0, 10).code() == Errc::invalid_argument);
}

TEST_CASE("the kind must suit the key type") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  const Pid p = spawn_runner(rt);
  using HT = Table<HashOnly, int, HashOnlyHash>;
  using OT = Table<OrderOnly, int>;
  auto h = HT::create(rt, TableOptions{.access = TableAccess::public_, .owner = p});
  REQUIRE_OK(h);
  REQUIRE_OK(h->insert(HashOnly{1}, 1));
  CHECK(h->lookup(HashOnly{1}).value() == 1);
  const auto bad_h = HT::create(rt, TableOptions{.kind = TableKind::ordered_set, .owner = p});
  REQUIRE(bad_h.code() == Errc::invalid_argument);
  CHECK_THAT(bad_h.error().message(), Contains("operator<") && Contains("HashOnly"));

  auto o = OT::create(rt, TableOptions{.kind = TableKind::ordered_set, .access = TableAccess::public_, .owner = p});
  REQUIRE_OK(o);
  REQUIRE_OK(o->insert(OrderOnly{2}, 2));
  REQUIRE_OK(o->insert(OrderOnly{1}, 1));
  CHECK(o->first()->key().v == 1);
  const auto bad_o = OT::create(rt, TableOptions{.kind = TableKind::set, .owner = p});
  REQUIRE(bad_o.code() == Errc::invalid_argument);
  CHECK_THAT(bad_o.error().message(), Contains("std::hash"));
}

TEST_CASE("options are validated") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  const Pid p = spawn_runner(rt);
  using T = Table<int, int>;
  CHECK(T::create(rt, TableOptions{.owner = p, .stripes = 3}).code() == Errc::invalid_argument);
  CHECK(T::create(rt, TableOptions{.owner = p, .stripes = 128}).code() == Errc::invalid_argument);
  CHECK(T::create(rt, TableOptions{.concurrency = TableConcurrency::write_heavy, .owner = p, .stripes = 1024}).ok());
  CHECK(T::create(rt, TableOptions{.owner = p, .default_ttl = -1ms}).code() == Errc::invalid_argument);
  CHECK(T::create(rt, TableOptions{.owner = p, .sweep_batch = 0}).code() == Errc::invalid_argument);
  auto w = T::create(rt, TableOptions{.concurrency = TableConcurrency::write_heavy, .owner = p});
  REQUIRE_OK(w);
  CHECK(w->info().stripes == 256);
}

}  // namespace test_tables_kinds_test
