// Byte accounting: exact, through dynamic_size.hpp's customization point.
#include <stdexcept>
#include <vector>

#include "table_test_support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_tables_memory_test {

using namespace canopy;
using namespace table_test;

namespace {

// A user type reporting its heap bytes with a member.
struct Blob {
  std::vector<char> data;
  size_t dynamic_size() const { return data.capacity(); }
};

// A user type reporting them with an ADL function.
namespace geo {
struct Shape {
  std::vector<double> points;
};
size_t canopy_dynamic_size(const Shape& s) { return s.points.capacity() * sizeof(double); }
}  // namespace geo

template <typename Tbl>
Tbl make(Runtime& rt, TableOptions o = {}) {
  o.access = TableAccess::public_;
  if (!o.owner.valid()) o.owner = spawn_runner(rt);
  auto t = Tbl::create(rt, std::move(o));
  REQUIRE_OK(t);
  return t.value();
}

}  // namespace

TEST_CASE("an empty table costs its fixed overhead; each entry overhead + key + value") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  auto t = make<Table<int, int>>(rt);
  const size_t empty = t.memory();
  CHECK(empty == t.fixed_bytes());
  CHECK(empty > 0);
  CHECK(Table<int, int>::entry_bytes(1, 2) == Table<int, int>::kEntryOverhead + 2 * sizeof(int));
  for (int i = 0; i < 1000; ++i) REQUIRE_OK(t.insert(i, i));
  CHECK(t.size() == 1000);
  CHECK(t.memory() == empty + 1000 * Table<int, int>::entry_bytes(0, 0));
  for (int i = 0; i < 1000; ++i) REQUIRE(t.erase(i).value());
  CHECK(t.memory() == empty);
  CHECK(t.info().memory_bytes == empty);
}

TEST_CASE("strings count their heap bytes, short ones none (SSO)") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  using T = Table<std::string, std::string>;
  auto t = make<T>(rt);
  const size_t empty = t.memory();
  const size_t base = T::kEntryOverhead + 2 * sizeof(std::string);

  REQUIRE_OK(t.insert("k", "short"));
  CHECK(t.memory() - empty == base);

  std::string long_value(100, 'v');
  const size_t cap = long_value.capacity();
  REQUIRE(cap >= 100);
  REQUIRE_OK(t.insert("k", std::move(long_value)));  // an overwrite: the key stays one entry
  CHECK(t.size() == 1);
  CHECK(t.memory() - empty == base + cap + 1);

  std::string long_key(40, 'k');
  const size_t kcap = long_key.capacity();
  REQUIRE_OK(t.insert(long_key, "x"));
  CHECK(t.memory() - empty == 2 * base + cap + 1 + kcap + 1);

  // update() re-measures the value.
  REQUIRE_OK(t.update("k", [](std::string& s) {
    s = "tiny";
    s.shrink_to_fit();
  }));
  CHECK(t.memory() - empty == 2 * base + kcap + 1);

  CHECK(t.take(long_key).ok());
  CHECK(t.erase("k").value());
  CHECK(t.memory() == empty);
}

TEST_CASE("user types report their size through the customization point") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  using BT = Table<int, Blob>;
  auto t = make<BT>(rt);
  const size_t empty = t.memory();
  Blob b;
  b.data.assign(4096, 'x');
  REQUIRE_OK(t.insert(1, b));  // a copy holding 4096 bytes
  CHECK(t.lookup(1).value().data.capacity() == 4096);
  CHECK(t.memory() - empty == BT::kEntryOverhead + sizeof(int) + sizeof(Blob) + 4096);
  CHECK(BT::entry_bytes(1, b) == BT::kEntryOverhead + sizeof(int) + sizeof(Blob) + b.data.capacity());

  using GT = Table<int, geo::Shape>;
  auto g = make<GT>(rt);
  geo::Shape s;
  s.points.resize(10);
  const size_t cap = s.points.capacity();
  REQUIRE_OK(g.insert(1, std::move(s)));
  CHECK(g.memory() - g.fixed_bytes() == GT::kEntryOverhead + sizeof(int) + sizeof(geo::Shape) + cap * sizeof(double));

  // Vectors of strings count every element's heap.
  using VT = Table<int, std::vector<std::string>>;
  auto v = make<VT>(rt);
  std::vector<std::string> words{std::string(50, 'a'), "b"};
  const size_t expected = VT::kEntryOverhead + sizeof(int) + sizeof(words) + words.capacity() * sizeof(std::string) +
                          words[0].capacity() + 1;
  REQUIRE_OK(v.insert(1, words));
  CHECK(v.memory() - v.fixed_bytes() == expected);
}

TEST_CASE("an entry with a deadline also counts its expiry index node") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  auto clock = std::make_shared<ManualTableClock>();
  using T = Table<int, int>;
  auto t = make<T>(rt, TableOptions{.clock = clock, .sweep_interval = 0ms});
  REQUIRE_OK(t.insert(1, 1, 100ms));
  REQUIRE_OK(t.insert(2, 2));
  CHECK(t.memory() - t.fixed_bytes() == 2 * T::entry_bytes(0, 0) + T::kExpiryOverhead);
  CHECK(T::entry_bytes(0, 0, true) == T::entry_bytes(0, 0) + T::kExpiryOverhead);
  REQUIRE_OK(t.insert(2, 2, 5ms));  // gains a deadline
  CHECK(t.memory() - t.fixed_bytes() == 2 * T::entry_bytes(0, 0, true));
  REQUIRE_OK(t.insert(1, 1, 0ms));  // loses it
  CHECK(t.memory() - t.fixed_bytes() == 2 * T::entry_bytes(0, 0) + T::kExpiryOverhead);
}

TEST_CASE("ordered_set and write_heavy tables account the same way") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  using T = Table<int, std::string>;
  auto o = make<T>(rt, TableOptions{.kind = TableKind::ordered_set});
  auto w = make<T>(rt, TableOptions{.concurrency = TableConcurrency::write_heavy});
  for (auto* t : {&o, &w}) {
    const size_t empty = t->memory();
    for (int i = 0; i < 100; ++i) REQUIRE_OK(t->insert(i, std::string(static_cast<size_t>(i), 'x')));
    size_t expected = empty;
    for (int i = 0; i < 100; ++i) expected += T::entry_bytes(i, std::string(static_cast<size_t>(i), 'x'));
    CHECK(t->memory() == expected);
    REQUIRE_OK(t->clear());
    CHECK(t->memory() == empty);
  }
  // More stripes, more fixed overhead.
  CHECK(w.fixed_bytes() > o.fixed_bytes());
}

TEST_CASE("an update whose function throws keeps what it did, measured") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  using T = Table<int, std::string>;
  auto t = make<T>(rt);
  REQUIRE_OK(t.insert(1, "a"));
  CHECK_THROWS_AS(t.update(1,
                           [](std::string& s) {
                             s = std::string(100, 'x');
                             throw std::runtime_error("half way");
                           }),
                  std::runtime_error);
  const std::string now = t.lookup(1).value();
  CHECK(now == std::string(100, 'x'));
  CHECK(t.memory() - t.fixed_bytes() == T::entry_bytes(1, now));

  using I = Table<int, int>;
  auto i = make<I>(rt);
  REQUIRE_OK(i.insert(1, 1));
  CHECK_THROWS(i.update(1, [](int& v) {
    v = 2;
    throw std::runtime_error("x");
  }));
  CHECK(i.lookup(1).value() == 2);
  CHECK(i.counters().updates == 0);
}

}  // namespace test_tables_memory_test
