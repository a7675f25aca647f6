// Ownership: the owner, heirs, give_away, drop, deletion with the owner,
// names, and the runtime's list of tables.
#include "table_test_support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_tables_ownership_test {

using namespace canopy;
using namespace table_test;
using Catch::Matchers::Contains;

namespace {
using StrTable = Table<int, std::string>;
}

TEST_CASE("a table belongs to the process that creates it and is deleted when it exits") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  const Pid owner = spawn_runner(rt);
  auto t = run_in(rt, owner, [&] { return StrTable::create(rt, TableOptions{.name = "sessions"}); });
  REQUIRE_OK(t);
  CHECK(t->owner() == owner);
  CHECK_FALSE(t->deleted());
  REQUIRE_OK(run_in(rt, owner, [&] { return t->insert(1, "one"); }));
  CHECK(t->lookup(1).value() == "one");

  auto found = StrTable::find(rt, "sessions");
  REQUIRE_OK(found);
  CHECK(*found == *t);
  REQUIRE(tables(rt).size() == 1);
  CHECK(tables(rt)[0].owner == owner);

  stop_process(rt, owner);
  REQUIRE(eventually([&] { return t->deleted(); }));
  CHECK(tables(rt).empty());
  CHECK(t->size() == 0);
  CHECK(t->memory() == 0);
  const auto r = t->lookup(1);
  REQUIRE(r.code() == Errc::not_registered);
  CHECK_THAT(r.error().message(), Contains("sessions") && Contains("deleted") && Contains(owner.to_string()) &&
                                      Contains("exited") && Contains("no heir"));
  CHECK(t->insert(2, "two").code() == Errc::not_registered);
  CHECK(StrTable::find(rt, "sessions").code() == Errc::not_registered);
  CHECK(t->info().deleted);

  // The name is free again.
  const Pid next = spawn_runner(rt);
  REQUIRE_OK(run_in(rt, next, [&] { return StrTable::create(rt, TableOptions{.name = "sessions"}); }));
}

TEST_CASE("create needs a live owner") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  // No process calls, and no owner is given.
  const auto none = StrTable::create(rt);
  REQUIRE(none.code() == Errc::not_in_process);
  CHECK_THAT(none.error().message(), Contains("owner"));

  const Pid p = spawn_runner(rt);
  stop_process(rt, p);
  CHECK(StrTable::create(rt, TableOptions{.owner = p}).code() == Errc::dead_process);

  // An explicit owner works from any thread.
  const Pid q = spawn_runner(rt);
  auto t = StrTable::create(rt, TableOptions{.owner = q});
  REQUIRE_OK(t);
  CHECK(t->owner() == q);
  CHECK(t->name().empty());
  CHECK(t->id() != 0);
}

TEST_CASE("named tables are unique per runtime and found with their types checked") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  Runtime other(RuntimeOptions{.schedulers = 1});
  const Pid p = spawn_runner(rt);
  auto a = StrTable::create(rt, TableOptions{.name = "cache", .owner = p});
  REQUIRE_OK(a);
  const auto dup = Table<int, int>::create(rt, TableOptions{.name = "cache", .owner = p});
  REQUIRE(dup.code() == Errc::already_registered);
  CHECK_THAT(dup.error().message(), Contains("cache") && Contains(p.to_string()));
  CHECK(tables(rt).size() == 1);

  // Another runtime has its own names.
  const Pid q = spawn_runner(other);
  REQUIRE_OK(StrTable::create(other, TableOptions{.name = "cache", .owner = q}));

  const auto wrong = Table<long, std::string>::find(rt, "cache");
  REQUIRE(wrong.code() == Errc::invalid_argument);
  CHECK_THAT(wrong.error().message(), Contains("int") && Contains("long") && Contains("std::__cxx11::basic_string"));
  CHECK(StrTable::find(rt, "nope").code() == Errc::not_registered);
}

TEST_CASE("the heir inherits the table and is told, with the heir data") {
  auto transfers = std::make_shared<Recorder<TableTransfer>>();
  Runtime rt(RuntimeOptions{.schedulers = 2});
  const Pid heir = spawn_runner(rt, transfers);
  const Pid owner = spawn_runner(rt);
  auto t = run_in(rt, owner, [&] {
    return StrTable::create(rt, TableOptions{.name = "inherited", .heir = heir, .heir_data = "from-owner"});
  });
  REQUIRE_OK(t);
  CHECK(t->heir() == heir);
  REQUIRE_OK(run_in(rt, owner, [&] { return t->insert(7, "seven"); }));

  stop_process(rt, owner);
  REQUIRE(eventually([&] { return transfers->size() == 1; }));
  const TableTransfer tr = transfers->snapshot()[0];
  CHECK(tr.table == "inherited");
  CHECK(tr.table_id == t->id());
  CHECK(tr.from == owner);
  CHECK(tr.heir_data == "from-owner");
  CHECK(tr.inherited);
  CHECK_FALSE(t->deleted());
  CHECK(t->owner() == heir);
  CHECK_FALSE(t->heir().valid());
  CHECK(t->lookup(7).value() == "seven");
  // The heir now writes (the table is protected).
  REQUIRE_OK(run_in(rt, heir, [&] { return t->insert(8, "eight"); }));
  CHECK(t->size() == 2);

  // The heir has no heir of its own: its exit deletes the table.
  stop_process(rt, heir);
  REQUIRE(eventually([&] { return t->deleted(); }));
  CHECK_THAT(t->lookup(7).error().message(), Contains(heir.to_string()));
}

TEST_CASE("a table whose heir is dead goes with its owner") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  const Pid heir = spawn_runner(rt);
  const Pid owner = spawn_runner(rt);
  auto t = run_in(rt, owner, [&] { return StrTable::create(rt, TableOptions{.heir = heir}); });
  REQUIRE_OK(t);
  stop_process(rt, heir);
  stop_process(rt, owner);
  REQUIRE(eventually([&] { return t->deleted(); }));
  CHECK_THAT(t->info().deleted_reason, Contains("heir") && Contains(heir.to_string()) && Contains("not alive"));
}

TEST_CASE("give_away passes ownership and only the owner may give away, set the heir or drop") {
  auto transfers = std::make_shared<Recorder<TableTransfer>>();
  std::atomic<bool> a_gone{false};
  Runtime rt(RuntimeOptions{.schedulers = 2});
  const Pid a = spawn_runner(rt);
  const Pid b = spawn_runner(rt, transfers);
  auto t = run_in(rt, a, [&] { return StrTable::create(rt, TableOptions{.name = "moving"}); });
  REQUIRE_OK(t);

  // Not the owner: refused.
  const auto denied = run_in(rt, b, [&] { return t->give_away(b, "x"); });
  REQUIRE(denied.code() == Errc::invalid_argument);
  CHECK_THAT(denied.error().message(), Contains("moving") && Contains("give_away") && Contains(a.to_string()));
  CHECK(t->give_away(b).code() == Errc::invalid_argument);  // from outside the runtime
  CHECK(run_in(rt, b, [&] { return t->drop(); }).code() == Errc::invalid_argument);
  CHECK(run_in(rt, b, [&] { return t->set_heir(b); }).code() == Errc::invalid_argument);
  CHECK(run_in(rt, a, [&] { return t->give_away(a); }).code() == Errc::invalid_argument);

  REQUIRE_OK(run_in(rt, a, [&] { return t->give_away(b, "yours"); }));
  CHECK(t->owner() == b);
  REQUIRE(eventually([&] { return transfers->size() == 1; }));
  CHECK(transfers->snapshot()[0].from == a);
  CHECK(transfers->snapshot()[0].heir_data == "yours");
  CHECK_FALSE(transfers->snapshot()[0].inherited);
  // The old owner no longer writes, the new one does.
  CHECK(run_in(rt, a, [&] { return t->insert(1, "a"); }).code() == Errc::invalid_argument);
  REQUIRE_OK(run_in(rt, b, [&] { return t->insert(1, "b"); }));

  // The old owner's exit no longer matters. (Exit hooks run in the order they
  // were registered, so once this one has run, the table's has too.)
  REQUIRE_OK(rt.when_exits(a, [&](Pid, const ExitReason&) { a_gone = true; }));
  stop_process(rt, a);
  REQUIRE(eventually([&] { return a_gone.load(); }));
  CHECK_FALSE(t->deleted());
  CHECK(t->lookup(1).value() == "b");

  // Dead processes cannot receive a table.
  const Pid dead = spawn_runner(rt);
  stop_process(rt, dead);
  CHECK(run_in(rt, b, [&] { return t->give_away(dead); }).code() == Errc::dead_process);
  CHECK(t->owner() == b);

  REQUIRE_OK(run_in(rt, b, [&] { return t->drop(); }));
  CHECK(t->deleted());
  CHECK_THAT(t->lookup(1).error().message(), Contains("dropped") && Contains(b.to_string()));
  CHECK(tables(rt).empty());
  CHECK(run_in(rt, b, [&] { return t->drop(); }).code() == Errc::not_registered);
}

TEST_CASE("ownership given back and forth leaves one live hook per owner") {
  std::atomic<bool> b_gone{false};
  Runtime rt(RuntimeOptions{.schedulers = 2});
  const Pid a = spawn_runner(rt);
  const Pid b = spawn_runner(rt);
  auto t = run_in(rt, a, [&] { return StrTable::create(rt); });
  REQUIRE_OK(t);
  for (int i = 0; i < 5; ++i) {
    REQUIRE_OK(run_in(rt, a, [&] { return t->give_away(b); }));
    REQUIRE_OK(run_in(rt, b, [&] { return t->give_away(a); }));
  }
  CHECK(t->owner() == a);
  REQUIRE_OK(rt.when_exits(b, [&](Pid, const ExitReason&) { b_gone = true; }));
  stop_process(rt, b);
  REQUIRE(eventually([&] { return b_gone.load(); }));
  CHECK_FALSE(t->deleted());
  stop_process(rt, a);
  REQUIRE(eventually([&] { return t->deleted(); }));
}

TEST_CASE("set_heir names a new heir, or none") {
  auto transfers = std::make_shared<Recorder<TableTransfer>>();
  Runtime rt(RuntimeOptions{.schedulers = 2});
  const Pid owner = spawn_runner(rt);
  const Pid heir = spawn_runner(rt, transfers);
  auto t = run_in(rt, owner, [&] { return StrTable::create(rt); });
  REQUIRE_OK(t);
  REQUIRE_OK(run_in(rt, owner, [&] { return t->set_heir(heir, "later"); }));
  CHECK(t->heir() == heir);
  stop_process(rt, owner);
  REQUIRE(eventually([&] { return transfers->size() == 1; }));
  CHECK(transfers->snapshot()[0].heir_data == "later");
  CHECK(t->owner() == heir);
}

TEST_CASE("tables() lists every table with owner, kind, size, memory and options") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  const Pid p = spawn_runner(rt);
  const Pid h = spawn_runner(rt);
  auto a = Table<int, int>::create(rt, TableOptions{.name = "a", .access = TableAccess::public_, .owner = p});
  auto b = Table<std::string, std::string>::create(rt, TableOptions{.name = "b",
                                                                    .kind = TableKind::ordered_set,
                                                                    .concurrency = TableConcurrency::write_heavy,
                                                                    .owner = p,
                                                                    .heir = h,
                                                                    .default_ttl = 5s,
                                                                    .max_entries = 10,
                                                                    .on_full = EvictionPolicy::evict_lru});
  REQUIRE_OK(a);
  REQUIRE_OK(b);
  REQUIRE_OK(a->insert(1, 1));
  REQUIRE_OK(a->insert(2, 2));
  (void)a->lookup(1);
  (void)a->lookup(3);

  const auto list = tables(rt);
  REQUIRE(list.size() == 2);
  const TableInfo& ia = list[0];
  CHECK(ia.name == "a");
  CHECK(ia.id == a->id());
  CHECK(ia.owner == p);
  CHECK_FALSE(ia.heir.valid());
  CHECK(ia.kind == TableKind::set);
  CHECK(ia.access == TableAccess::public_);
  CHECK(ia.concurrency == TableConcurrency::read_heavy);
  CHECK(ia.key_type == "int");
  CHECK(ia.value_type == "int");
  CHECK(ia.size == 2);
  CHECK(ia.memory_bytes == a->memory());
  CHECK(ia.memory_bytes == a->fixed_bytes() + 2 * Table<int, int>::entry_bytes(1, 1));
  CHECK(ia.stripes == 64);
  CHECK(ia.counters.inserts == 2);
  CHECK(ia.counters.lookups == 2);
  CHECK(ia.counters.hits == 1);
  CHECK(ia.counters.misses == 1);
  const TableInfo& ib = list[1];
  CHECK(ib.name == "b");
  CHECK(ib.heir == h);
  CHECK(ib.kind == TableKind::ordered_set);
  CHECK(ib.access == TableAccess::protected_);
  CHECK(ib.concurrency == TableConcurrency::write_heavy);
  CHECK(ib.default_ttl == 5s);
  CHECK(ib.max_entries == 10);
  CHECK(ib.on_full == EvictionPolicy::evict_lru);
  CHECK(ib.stripes == 1);
  CHECK(ib.size == 0);
  CHECK(std::string(to_string(ib.kind)) == "ordered_set");
  CHECK(std::string(to_string(ib.access)) == "protected");
  CHECK(std::string(to_string(ib.on_full)) == "evict_lru");
}

TEST_CASE("shutting the runtime down deletes its tables") {
  std::optional<StrTable> kept;
  {
    Runtime rt(RuntimeOptions{.schedulers = 2});
    const Pid p = spawn_runner(rt);
    auto t = StrTable::create(rt, TableOptions{.name = "doomed", .access = TableAccess::public_, .owner = p});
    REQUIRE_OK(t);
    REQUIRE_OK(t->insert(1, std::string(100, 'x')));
    kept = *t;
  }
  REQUIRE(kept->deleted());
  CHECK(kept->lookup(1).code() == Errc::not_registered);
  CHECK(kept->insert(1, "y").code() == Errc::not_registered);
  CHECK(kept->size() == 0);
}

TEST_CASE("an empty handle fails cleanly") {
  StrTable t;
  CHECK_FALSE(t.valid());
  CHECK(t.deleted());
  CHECK(t.lookup(1).code() == Errc::invalid_argument);
  CHECK(t.insert(1, "x").code() == Errc::invalid_argument);
  CHECK(t.size() == 0);
}

}  // namespace test_tables_ownership_test
