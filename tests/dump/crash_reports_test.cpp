// Crash reports: kept in a bounded ring, newest first, filterable, each
// with what the supervisor then did; counted in canopy_crashes_total.
#include "support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_dump_crash_reports_test {

using namespace canopy;
using namespace dump_test;

namespace {

// Crashes an unsupervised Crasher with `reason` and waits until it is gone.
void crash_one(Runtime& rt, const std::string& reason) {
  auto pid = rt.spawn<Crasher>();
  REQUIRE_OK(pid);
  REQUIRE_OK(rt.send(pid.value(), CrashOn{reason}));
  REQUIRE(eventually([&] { return !rt.alive(pid.value()); }));
}

double crashes_counted(Runtime& rt, const std::string& behaviour) {
  for (const auto& f : rt.collect()) {
    if (f.name != "canopy_crashes_total") continue;
    for (const auto& s : f.samples) {
      for (const auto& [k, v] : s.labels) {
        if (k == "behaviour" && v == behaviour) return s.value;
      }
    }
  }
  return 0;
}

SupervisorSpec one_child(const std::string& name, Restart restart, uint32_t intensity) {
  SupervisorSpec spec;
  spec.name = name;
  spec.flags.intensity = intensity;
  spec.flags.period = std::chrono::milliseconds(60'000);
  ChildSpec c = ChildSpec::worker<Crasher>("worker");
  c.restart = restart;
  c.spawn.name = "the_worker";
  spec.children.push_back(std::move(c));
  return spec;
}

}  // namespace

TEST_CASE("crash reports are bounded and newest first", "[dump][crash_reports]") {
  RuntimeOptions o = options();
  o.crash_reports.max = 5;
  Runtime rt(o);
  for (int i = 0; i < 8; ++i) crash_one(rt, "boom " + std::to_string(i));
  REQUIRE(eventually([&] { return crashes_total(rt) == 8; }));
  const auto reports = crash_reports(rt, CrashQuery{100, ""});
  REQUIRE(reports.size() == 5);
  for (size_t i = 0; i < reports.size(); ++i) {
    CHECK(reports[i].reason == "error: boom " + std::to_string(7 - i));
    CHECK(reports[i].seq == 8 - i);
    CHECK(reports[i].hook == "handler");
    CHECK(reports[i].behaviour.find("Crasher") != std::string::npos);
    CHECK(reports[i].last_message_type.find("CrashOn") != std::string::npos);
    CHECK(reports[i].action == SupervisorAction::none);  // nobody supervises it
    CHECK(reports[i].supervisors.empty());
  }
}

TEST_CASE("crash reports filter by behaviour and limit, and are counted by behaviour", "[dump][crash_reports]") {
  Runtime rt(options());
  crash_one(rt, "a1");
  auto other = rt.spawn<OtherCrasher>();
  REQUIRE_OK(other);
  REQUIRE_OK(rt.send(other.value(), CrashOn{"b1"}));
  REQUIRE(eventually([&] { return !rt.alive(other.value()); }));
  crash_one(rt, "a2");
  crash_one(rt, "a3");
  REQUIRE(eventually([&] { return crashes_total(rt) == 4; }));

  const std::string crasher = crash_reports(rt, CrashQuery{1, ""}).at(0).behaviour;
  const auto only = crash_reports(rt, CrashQuery{100, crasher});
  REQUIRE(only.size() == 3);
  CHECK(only[0].reason == "error: a3");
  CHECK(only[2].reason == "error: a1");
  const auto two = crash_reports(rt, CrashQuery{2, crasher});
  REQUIRE(two.size() == 2);
  CHECK(two[1].reason == "error: a2");
  const auto others = crash_reports(rt, CrashQuery{100, type_name(typeid(OtherCrasher))});
  REQUIRE(others.size() == 1);
  CHECK(others[0].reason == "error: b1");
  CHECK(crash_reports(rt, CrashQuery{100, "no such behaviour"}).empty());

  CHECK(crashes_counted(rt, crasher) == 3);
  CHECK(crashes_counted(rt, type_name(typeid(OtherCrasher))) == 1);
}

TEST_CASE("a crash report records the restart: the supervisor chain and the new pid", "[dump][crash_reports]") {
  Runtime rt(options());
  SupervisorSpec root;
  root.name = "root_sup";
  root.children.push_back(ChildSpec::supervisor("inner", one_child("inner_sup", Restart::permanent, 10)));
  REQUIRE_OK(rt.start_application("shop", root));
  const Pid first = rt.whereis("the_worker");
  REQUIRE(first.valid());
  REQUIRE_OK(rt.send(first, CrashOn{"kaboom"}));
  REQUIRE(eventually([&] {
    const Pid now = rt.whereis("the_worker");
    return now.valid() && now != first;
  }));
  const Pid second = rt.whereis("the_worker");
  REQUIRE(eventually([&] {
    const auto r = crash_reports(rt);
    return !r.empty() && r[0].action != SupervisorAction::pending;
  }));
  const CrashReport r = crash_reports(rt).at(0);
  CHECK(r.pid == first);
  CHECK(r.registered_name == "the_worker");
  CHECK(r.reason == "error: kaboom");
  CHECK(r.supervisors == std::vector<std::string>{"inner_sup", "root_sup"});
  CHECK(r.application == "shop");
  CHECK(r.action == SupervisorAction::restarted);
  CHECK(r.restarted_as == second);
}

TEST_CASE("a crash report records a supervisor giving up, and none for a temporary child", "[dump][crash_reports]") {
  Runtime rt(options());
  // intensity 1: the first crash is restarted, the second makes it give up.
  auto sup = start_supervisor(rt, one_child("strict_sup", Restart::permanent, 1));
  REQUIRE_OK(sup);
  for (int i = 0; i < 2; ++i) {
    const Pid w = rt.whereis("the_worker");
    REQUIRE(w.valid());
    REQUIRE_OK(rt.send(w, CrashOn{"crash " + std::to_string(i)}));
    REQUIRE(eventually([&] { return rt.whereis("the_worker") != w; }));
  }
  REQUIRE(eventually([&] { return !rt.alive(sup.value()); }));
  REQUIRE(eventually([&] {
    const auto r = crash_reports(rt);
    return r.size() == 2 && r[0].action != SupervisorAction::pending;
  }));
  auto r = crash_reports(rt);
  CHECK(r[0].reason == "error: crash 1");
  CHECK(r[0].action == SupervisorAction::gave_up);
  CHECK(r[1].action == SupervisorAction::restarted);

  auto temp = start_supervisor(rt, one_child("temp_sup", Restart::temporary, 10));
  REQUIRE_OK(temp);
  const Pid w = rt.whereis("the_worker");
  REQUIRE(w.valid());
  REQUIRE_OK(rt.send(w, CrashOn{"once"}));
  REQUIRE(eventually([&] {
    const auto now = crash_reports(rt);
    return now.size() == 3 && now[0].action != SupervisorAction::pending;
  }));
  r = crash_reports(rt);
  CHECK(r[0].reason == "error: once");
  CHECK(r[0].supervisors == std::vector<std::string>{"temp_sup"});
  CHECK(r[0].action == SupervisorAction::none);
}

}  // namespace test_dump_crash_reports_test
