// Access modes: public, protected, private, enforced with errors that name
// the table, the operation, the mode, the caller and the owner.
#include "table_test_support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_tables_access_test {

using namespace canopy;
using namespace table_test;
using Catch::Matchers::Contains;

namespace {
using T = Table<int, int>;
}

TEST_CASE("public tables accept reads and writes from anyone") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  const Pid owner = spawn_runner(rt);
  const Pid other = spawn_runner(rt);
  auto t = T::create(rt, TableOptions{.access = TableAccess::public_, .owner = owner});
  REQUIRE_OK(t);
  REQUIRE_OK(run_in(rt, other, [&] { return t->insert(1, 10); }));
  REQUIRE_OK(t->insert(2, 20));  // a thread outside the runtime
  CHECK(run_in(rt, owner, [&] { return t->lookup(2); }).value() == 20);
  CHECK(run_in(rt, other, [&] { return t->update(1, [](int& v) { v += 1; }); }).value() == 11);
  CHECK(t->take(1).value() == 11);
  CHECK(t->erase(2).value());
  REQUIRE_OK(t->clear());
}

TEST_CASE("protected tables: anyone reads, only the owner writes") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  const Pid owner = spawn_runner(rt);
  const Pid other = spawn_runner(rt);
  auto t = run_in(rt, owner, [&] { return T::create(rt, TableOptions{.name = "prices"}); });
  REQUIRE_OK(t);
  CHECK(t->info().access == TableAccess::protected_);
  REQUIRE_OK(run_in(rt, owner, [&] { return t->insert(1, 100); }));

  // Reads: anyone.
  CHECK(run_in(rt, other, [&] { return t->lookup(1); }).value() == 100);
  CHECK(t->lookup(1).value() == 100);
  CHECK(t->contains(1).value());
  CHECK(t->match([](int, int) { return true; }).value().size() == 1);
  CHECK_FALSE(t->first().value().end());

  // Writes: the owner only.
  const Status denied = run_in(rt, other, [&] { return t->insert(2, 200); });
  REQUIRE(denied.code() == Errc::invalid_argument);
  CHECK_THAT(denied.error().message(), Contains("prices") && Contains("insert") && Contains("protected") &&
                                           Contains(other.to_string()) && Contains(owner.to_string()));
  CHECK(denied.error().cause() == "access denied");
  const auto outside = t->erase(1);
  REQUIRE(outside.code() == Errc::invalid_argument);
  CHECK_THAT(outside.error().message(), Contains("erase") && Contains("outside the runtime"));
  CHECK(t->insert_new(3, 3).code() == Errc::invalid_argument);
  CHECK(t->update(1, [](int& v) { v = 0; }).code() == Errc::invalid_argument);
  CHECK(t->take(1).code() == Errc::invalid_argument);
  CHECK(t->clear().code() == Errc::invalid_argument);
  CHECK(t->lookup(1).value() == 100);  // untouched
  CHECK(t->counters().inserts == 1);
}

TEST_CASE("private tables: only the owner reads or writes") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  const Pid owner = spawn_runner(rt);
  const Pid other = spawn_runner(rt);
  auto t = run_in(rt, owner,
                  [&] { return T::create(rt, TableOptions{.name = "secrets", .access = TableAccess::private_}); });
  REQUIRE_OK(t);
  REQUIRE_OK(run_in(rt, owner, [&] { return t->insert(1, 1); }));
  CHECK(run_in(rt, owner, [&] { return t->lookup(1); }).value() == 1);

  const auto read = run_in(rt, other, [&] { return t->lookup(1); });
  REQUIRE(read.code() == Errc::invalid_argument);
  CHECK_THAT(read.error().message(), Contains("secrets") && Contains("lookup") && Contains("private") &&
                                         Contains(other.to_string()) && Contains(owner.to_string()));
  CHECK(t->lookup(1).code() == Errc::invalid_argument);
  CHECK(t->contains(1).code() == Errc::invalid_argument);
  CHECK(t->match([](int, int) { return true; }).code() == Errc::invalid_argument);
  CHECK(t->first().code() == Errc::invalid_argument);
  CHECK(run_in(rt, other, [&] { return t->insert(2, 2); }).code() == Errc::invalid_argument);

  // Info is public, as in ETS.
  CHECK(t->size() == 1);
  CHECK(t->info().access == TableAccess::private_);
  // A denied lookup is not a lookup.
  CHECK(t->counters().lookups == 1);
}

TEST_CASE("access follows ownership") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  const Pid a = spawn_runner(rt);
  const Pid b = spawn_runner(rt);
  auto t = run_in(rt, a, [&] { return T::create(rt, TableOptions{.access = TableAccess::private_}); });
  REQUIRE_OK(t);
  CHECK(run_in(rt, b, [&] { return t->lookup(1); }).code() == Errc::invalid_argument);
  REQUIRE_OK(run_in(rt, a, [&] { return t->give_away(b); }));
  REQUIRE_OK(run_in(rt, b, [&] { return t->insert(1, 1); }));
  CHECK(run_in(rt, b, [&] { return t->lookup(1); }).value() == 1);
  CHECK(run_in(rt, a, [&] { return t->lookup(1); }).code() == Errc::invalid_argument);
}

}  // namespace test_tables_access_test
