// Modules and hot upgrade: loading errors as values, spawning from a module,
// commit, rollback with the old state intact, dry runs, a migration that
// throws or times out, a process that crashes mid-upgrade, behaviours
// restarted instead of changed in place, and purging unused versions.
#include <catch2/catch.hpp>

#include <fstream>

#include "canopy/core/core.hpp"
#include "canopy_test/wait.hpp"

using namespace std::chrono_literals;
using canopy_test::eventually;

namespace code_test {

canopy::RuntimeOptions quiet() {
  canopy::RuntimeOptions o;
  o.schedulers = 2;
  return o;
}

std::string call(canopy::Runtime& rt, canopy::Pid pid, const std::string& body) {
  auto r = rt.call<std::string>(pid, canopy::ModuleCall{body}, 5s);
  return r.ok() ? r.value() : "error: " + r.error().to_string();
}

const canopy::ModuleVersionInfo* find(const std::vector<canopy::ModuleVersionInfo>& all, const std::string& version) {
  for (const auto& m : all) {
    if (m.version == version) return &m;
  }
  return nullptr;
}

}  // namespace code_test

using code_test::call;

TEST_CASE("load_module returns every bad library as an error value", "[code]") {
  canopy::Runtime rt(code_test::quiet());
  SECTION("a path that is not there") {
    auto r = rt.load_module("/nonexistent/libnothing.so");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message().find("cannot load") != std::string::npos);
  }
  SECTION("a file that is not a shared library") {
    auto r = rt.load_module(CANOPY_TEST_SOURCE_DIR "/CMakeLists.txt");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message().find("cannot load") != std::string::npos);
  }
  SECTION("a library without the entry point") {
    auto r = rt.load_module(CANOPY_TEST_NOT_A_MODULE);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message().find("no entry point 'canopy_module'") != std::string::npos);
  }
  SECTION("an ABI mismatch") {
    auto r = rt.load_module(CANOPY_TEST_COUNTER_BAD_ABI);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message().find("ABI version 99") != std::string::npos);
  }
  SECTION("the same version twice") {
    REQUIRE(rt.load_module(CANOPY_TEST_COUNTER_V1).ok());
    auto r = rt.load_module(CANOPY_TEST_COUNTER_V1);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message().find("counter version 1 is already loaded") != std::string::npos);
  }
  CHECK(rt.process_count() == 0);
}

TEST_CASE("a process spawned from a module is tagged with module and version", "[code]") {
  canopy::Runtime rt(code_test::quiet());
  auto loaded = rt.load_module(CANOPY_TEST_COUNTER_V1);
  REQUIRE(loaded.ok());
  CHECK(loaded->module == "counter");
  CHECK(loaded->version == "1");
  auto pid = rt.spawn_module("counter", "counter");
  REQUIRE(pid.ok());
  CHECK(call(rt, *pid, "1 1") == "ok");
  CHECK(call(rt, *pid, "get") == "version=1 count=1 violations=0 generation=1");
  auto info = rt.process_info(*pid);
  REQUIRE(info);
  CHECK(info->module == "counter");
  CHECK(info->module_version == "1");
  auto mods = rt.modules();
  REQUIRE(mods.size() == 1);
  CHECK(mods[0].processes == 1);
  CHECK(mods[0].current);

  SECTION("an unknown behaviour or module is an error") {
    CHECK(rt.spawn_module("counter", "nope").code() == canopy::Errc::invalid_argument);
    CHECK(rt.spawn_module("nope", "counter").code() == canopy::Errc::invalid_argument);
  }
  SECTION("a create that refuses fails the spawn") {
    auto r = rt.spawn_module("counter", "counter", "fail");
    REQUIRE_FALSE(r.ok());
    CHECK(r.code() == canopy::Errc::init_failed);
    CHECK(r.error().message().find("refused to start") != std::string::npos);
  }
  SECTION("a request of another type is answered with bad_request") {
    CHECK(rt.call<std::string>(*pid, 42, 5s).code() == canopy::Errc::bad_request);
  }
}

TEST_CASE("an upgrade migrates every process's state and commits", "[code]") {
  canopy::Runtime rt(code_test::quiet());
  REQUIRE(rt.load_module(CANOPY_TEST_COUNTER_V1).ok());
  std::vector<canopy::Pid> pids;
  for (int i = 0; i < 20; ++i) {
    auto p = rt.spawn_module("counter", "counter");
    REQUIRE(p.ok());
    for (int s = 1; s <= i; ++s) (void)rt.cast(*p, canopy::ModuleCast{"7 " + std::to_string(s)});
    pids.push_back(*p);
  }
  auto r = rt.upgrade("counter", CANOPY_TEST_COUNTER_V2);
  REQUIRE(r.ok());
  CHECK(r->outcome == canopy::UpgradeOutcome::committed);
  CHECK(r->from_version == "1");
  CHECK(r->to_version == "2");
  CHECK(r->processes == 20);
  CHECK(r->max_suspended_ms >= 0);
  for (int i = 0; i < 20; ++i) {
    CHECK(call(rt, pids[i], "get") == "version=2 count=" + std::to_string(i) + " violations=0 generation=2");
    CHECK(rt.process_info(pids[i])->module_version == "2");
  }
  // Casts that continue the old sequence keep their order across versions.
  CHECK(call(rt, pids[5], "7 6") == "ok");
  CHECK(call(rt, pids[5], "get") == "version=2 count=6 violations=0 generation=2");
  // Version 1 is no longer used: the upgrade purged it.
  CHECK(r->purged == std::vector<std::string>{"counter 1"});
  CHECK(code_test::find(rt.modules(), "1") == nullptr);
  // New spawns get version 2.
  auto fresh = rt.spawn_module("counter", "counter");
  REQUIRE(fresh.ok());
  CHECK(call(rt, *fresh, "get").rfind("version=2", 0) == 0);
}

TEST_CASE("a rejected migration rolls every process back with its state untouched", "[code]") {
  canopy::Runtime rt(code_test::quiet());
  REQUIRE(rt.load_module(CANOPY_TEST_COUNTER_V1).ok());
  std::vector<canopy::Pid> pids;
  for (int i = 0; i < 10; ++i) {
    auto p = rt.spawn_module("counter", "counter");
    REQUIRE(p.ok());
    CHECK(call(rt, *p, "3 1") == "ok");
    pids.push_back(*p);
  }
  REQUIRE(rt.upgrade("counter", CANOPY_TEST_COUNTER_V2).value().outcome == canopy::UpgradeOutcome::committed);
  (void)rt.cast(pids[6], canopy::ModuleCast{"poison"});
  std::vector<std::string> before;
  for (auto p : pids) before.push_back(call(rt, p, "state"));

  auto r = rt.upgrade("counter", CANOPY_TEST_COUNTER_V3);
  REQUIRE(r.ok());
  CHECK(r->outcome == canopy::UpgradeOutcome::rolled_back);
  CHECK(r->failed_pid == pids[6]);
  CHECK(r->reason.find("refusing a poisoned state") != std::string::npos);
  for (size_t i = 0; i < pids.size(); ++i) {
    CHECK(rt.process_info(pids[i])->module_version == "2");
    CHECK(call(rt, pids[i], "state") == before[i]);
  }
  // Version 3 was unloaded again; 2 is current.
  auto mods = rt.modules();
  CHECK(code_test::find(mods, "3") == nullptr);
  REQUIRE(code_test::find(mods, "2") != nullptr);
  CHECK(code_test::find(mods, "2")->current);
  CHECK(code_test::find(mods, "2")->processes == 10);
}

TEST_CASE("a dry run runs every code_change and switches nothing", "[code]") {
  canopy::Runtime rt(code_test::quiet());
  REQUIRE(rt.load_module(CANOPY_TEST_COUNTER_V1).ok());
  auto p = rt.spawn_module("counter", "counter");
  REQUIRE(p.ok());
  CHECK(call(rt, *p, "1 1") == "ok");
  const std::string before = call(rt, *p, "state");
  canopy::UpgradeOptions dry;
  dry.dry_run = true;
  auto ok = rt.upgrade("counter", CANOPY_TEST_COUNTER_V2, dry);
  REQUIRE(ok.ok());
  CHECK(ok->outcome == canopy::UpgradeOutcome::dry_run_ok);
  CHECK(ok->processes == 1);
  CHECK(call(rt, *p, "state") == before);
  CHECK(rt.process_info(*p)->module_version == "1");
  CHECK(rt.modules().size() == 1);
  auto bad = rt.upgrade("counter", CANOPY_TEST_COUNTER_V5, dry);
  REQUIRE(bad.ok());
  CHECK(bad->outcome == canopy::UpgradeOutcome::dry_run_failed);
  CHECK(bad->reason.find("always throws") != std::string::npos);
  CHECK(bad->failed_pid == *p);
  // After both rehearsals the real upgrade still works.
  CHECK(rt.upgrade("counter", CANOPY_TEST_COUNTER_V2).value().outcome == canopy::UpgradeOutcome::committed);
}

TEST_CASE("an upgrade that cannot start is an error, not a rollback", "[code]") {
  canopy::Runtime rt(code_test::quiet());
  CHECK(rt.upgrade("counter", CANOPY_TEST_COUNTER_V2).code() == canopy::Errc::invalid_argument);  // not loaded
  REQUIRE(rt.load_module(CANOPY_TEST_COUNTER_V1).ok());
  auto p = rt.spawn_module("counter", "counter");
  REQUIRE(p.ok());
  auto wrong = rt.upgrade("counter", CANOPY_TEST_OTHER_V2);
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.error().message().find("is module 'other', not 'counter'") != std::string::npos);
  auto same = rt.upgrade("counter", CANOPY_TEST_COUNTER_V1);
  REQUIRE_FALSE(same.ok());
  CHECK(same.error().message().find("already loaded") != std::string::npos);
  CHECK_FALSE(rt.upgrade("counter", "/nonexistent.so").ok());
  CHECK(rt.process_info(*p)->status != canopy::ProcessStatus::suspended);
  CHECK(call(rt, *p, "get").rfind("version=1", 0) == 0);
}

TEST_CASE("a version without a code_change from the running one rolls back", "[code]") {
  canopy::Runtime rt(code_test::quiet());
  REQUIRE(rt.load_module(CANOPY_TEST_COUNTER_V1).ok());
  auto p = rt.spawn_module("counter", "counter");
  REQUIRE(p.ok());
  auto r = rt.upgrade("counter", CANOPY_TEST_COUNTER_V3);  // accepts only version 2 states
  REQUIRE(r.ok());
  CHECK(r->outcome == canopy::UpgradeOutcome::rolled_back);
  CHECK(r->reason.find("no code_change for counter from version 1") != std::string::npos);
  CHECK(call(rt, *p, "get").rfind("version=1", 0) == 0);
}

TEST_CASE("a code_change that times out rolls back and the processes keep running", "[code]") {
  canopy::Runtime rt(code_test::quiet());
  REQUIRE(rt.load_module(CANOPY_TEST_COUNTER_V1).ok());
  auto p = rt.spawn_module("counter", "counter");
  REQUIRE(p.ok());
  canopy::UpgradeOptions o;
  o.code_change_timeout = 100ms;
  auto r = rt.upgrade("counter", CANOPY_TEST_COUNTER_V4, o);  // sleeps 2 s per state
  REQUIRE(r.ok());
  CHECK(r->outcome == canopy::UpgradeOutcome::rolled_back);
  CHECK(r->reason.find("did not finish within 100 ms") != std::string::npos);
  CHECK(call(rt, *p, "get").rfind("version=1", 0) == 0);
  // The abandoned migration still holds version 4; it lets go when it ends.
  CHECK(code_test::find(rt.modules(), "4") == nullptr);
  std::this_thread::sleep_for(2500ms);
}

TEST_CASE("a process that crashes during an upgrade leaves it, the others move on", "[code]") {
  canopy::Runtime rt(code_test::quiet());
  REQUIRE(rt.load_module(CANOPY_TEST_COUNTER_V1).ok());
  std::vector<canopy::Pid> pids;
  for (int i = 0; i < 50; ++i) pids.push_back(rt.spawn_module("counter", "counter").value());
  // One of them crashes on a message queued before the upgrade starts.
  (void)rt.cast(pids[17], canopy::ModuleCast{"crash"});
  auto r = rt.upgrade("counter", CANOPY_TEST_COUNTER_V2);
  REQUIRE(r.ok());
  CHECK(r->outcome == canopy::UpgradeOutcome::committed);
  CHECK(eventually([&] { return !rt.alive(pids[17]); }));
  for (size_t i = 0; i < pids.size(); ++i) {
    if (i == 17) continue;
    CHECK(call(rt, pids[i], "get").rfind("version=2", 0) == 0);
  }
}

TEST_CASE("a behaviour that cannot change in place is restarted by its supervisor on the new version", "[code]") {
  canopy::Runtime rt(code_test::quiet());
  REQUIRE(rt.load_module(CANOPY_TEST_COUNTER_V1).ok());
  canopy::SupervisorSpec spec;
  spec.name = "workers";
  canopy::ChildSpec child;
  child.id = "worker";
  child.start = [&rt] { return rt.module_actor("counter", "worker"); };
  spec.children.push_back(child);
  auto sup = rt.start_application("workers", spec);
  REQUIRE(sup.ok());
  canopy::Pid before;
  REQUIRE(eventually([&] {
    for (const auto& i : rt.processes()) {
      if (i.module == "counter") before = i.pid;
    }
    return before.valid();
  }));
  CHECK(call(rt, before, "x") == "worker version=1");
  auto r = rt.upgrade("counter", CANOPY_TEST_COUNTER_V2);
  REQUIRE(r.ok());
  CHECK(r->outcome == canopy::UpgradeOutcome::committed);
  CHECK(r->restarted == 1);
  CHECK(r->processes == 0);
  canopy::Pid after;
  REQUIRE(eventually([&] {
    for (const auto& i : rt.processes()) {
      if (i.module == "counter" && i.module_version == "2") after = i.pid;
    }
    return after.valid();
  }));
  CHECK(after != before);
  CHECK(call(rt, after, "x") == "worker version=2");
}

TEST_CASE("a version still in use is not unloaded, and is purged once unused", "[code]") {
  canopy::Runtime rt(code_test::quiet());
  REQUIRE(rt.load_module(CANOPY_TEST_COUNTER_V1).ok());
  auto a = rt.spawn_module("counter", "counter");
  REQUIRE(a.ok());
  // A newer version loaded directly: new spawns get it, `a` stays on 1.
  REQUIRE(rt.load_module(CANOPY_TEST_COUNTER_V2).ok());
  auto b = rt.spawn_module("counter", "counter");
  REQUIRE(b.ok());
  CHECK(rt.process_info(*a)->module_version == "1");
  CHECK(rt.process_info(*b)->module_version == "2");
  // The old code still runs (AddressSanitizer would see a call into unloaded code).
  CHECK(call(rt, *a, "get").rfind("version=1", 0) == 0);
  REQUIRE(rt.exit(*a, canopy::ExitReason::kill()).ok());
  REQUIRE(eventually([&] { return !rt.alive(*a); }));
  CHECK(code_test::find(rt.modules(), "1") != nullptr);  // loaded until an upgrade purges it
  auto r = rt.upgrade("counter", CANOPY_TEST_COUNTER_V3);
  REQUIRE(r.ok());
  CHECK(r->outcome == canopy::UpgradeOutcome::committed);
  CHECK(r->purged == std::vector<std::string>{"counter 1", "counter 2"});
  CHECK(call(rt, *b, "get").rfind("version=3", 0) == 0);
}

TEST_CASE("upgrades are counted by result and loaded versions exported", "[code]") {
  canopy::Runtime rt(code_test::quiet());
  REQUIRE(rt.load_module(CANOPY_TEST_COUNTER_V1).ok());
  REQUIRE(rt.spawn_module("counter", "counter").ok());
  REQUIRE(rt.upgrade("counter", CANOPY_TEST_COUNTER_V5).value().outcome == canopy::UpgradeOutcome::rolled_back);
  REQUIRE(rt.upgrade("counter", CANOPY_TEST_COUNTER_V2).value().outcome == canopy::UpgradeOutcome::committed);
  std::map<std::string, double> upgrades;
  std::vector<std::string> versions;
  uint64_t durations = 0;
  for (const auto& f : rt.collect()) {
    for (const auto& s : f.samples) {
      if (f.name == "canopy_code_upgrades_total") upgrades[s.labels.at(1).second] = s.value;
      if (f.name == "canopy_module_info") versions.push_back(s.labels.at(0).second + " " + s.labels.at(1).second);
      if (f.name == "canopy_code_upgrade_duration_seconds") durations += s.count;
    }
  }
  CHECK(upgrades["committed"] == 1);
  CHECK(upgrades["rolled_back"] == 1);
  CHECK(durations == 2);
  CHECK(versions == std::vector<std::string>{"counter 2"});
}
