// The orphan audit: processes nobody would notice dying or leaking, and the
// canopy_orphan_processes gauge, which counts the same ones.
#include "support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_supervision_orphan_audit_test {

using namespace canopy;
using namespace sup_test;

namespace {

struct LinkTo {
  Pid pid;
};
struct MonitorIt {
  Pid pid;
};

// A process that links to or monitors whatever it is told to.
Pid spawn_wirer(Runtime& rt, SpawnOptions o = {}) {
  return spawn_fn(
      rt,
      [](FunctionActor& self, Message& m) {
        if (auto* l = m.as<LinkTo>()) {
          self.link(l->pid);
        } else if (auto* mon = m.as<MonitorIt>()) {
          (void)self.monitor(mon->pid);
        }
      },
      std::move(o));
}

std::vector<Pid> pids_of(const std::vector<ProcessInfo>& infos) {
  std::vector<Pid> out;
  for (const auto& i : infos) out.push_back(i.pid);
  std::sort(out.begin(), out.end());
  return out;
}

// A behaviour that unlinks from whatever pid a LinkTo names.
std::unique_ptr<Actor> unlinker() {
  return std::make_unique<FunctionActor>([](FunctionActor& self, Message& m) {
    if (auto* l = m.as<LinkTo>()) self.unlink(l->pid);
  });
}

// Every kind of process the orphan rule tells apart.
struct Population {
  Pid left, right, watcher, watched, keyed;  // linked, monitored, registered, keyed
  std::vector<Pid> orphans;                  // sorted
};

Population populate(Runtime& rt, const std::shared_ptr<Journal>& j) {
  Population pop;
  // Supervised: an application and its tree, with a child that unlinked from
  // its supervisor (still a child the supervisor knows).
  SupervisorSpec sub;
  sub.name = "sub";
  sub.flags = lenient();
  sub.children.push_back(worker("inner", j));
  SupervisorSpec root;
  root.name = "root";
  root.flags = lenient();
  root.children.push_back(worker("w1", j));
  root.children.push_back(ChildSpec::supervisor("sub", sub));
  ChildSpec loner;
  loner.id = "loner";
  loner.start = unlinker;
  root.children.push_back(std::move(loner));
  Result<Pid> started = rt.start_application("shop", root);
  REQUIRE_OK(started);
  const Pid app = started.value();
  const Pid loner_pid = running_pid(rt, app, "loner");
  REQUIRE_OK(rt.send(loner_pid, LinkTo{app}));
  REQUIRE(eventually([&] { return rt.process_info(loner_pid)->links.empty(); }));

  // A linked pair.
  pop.left = spawn_wirer(rt);
  pop.right = spawn_idle(rt);
  REQUIRE_OK(rt.send(pop.left, LinkTo{pop.right}));
  REQUIRE(eventually([&] {
    auto l = rt.process_info(pop.left);
    auto r = rt.process_info(pop.right);
    return l && r && contains(l->links, pop.right) && contains(r->links, pop.left);
  }));

  // A registered process that monitors another one.
  SpawnOptions named;
  named.name = "watcher";
  pop.watcher = spawn_wirer(rt, named);
  pop.watched = spawn_idle(rt);
  REQUIRE_OK(rt.send(pop.watcher, MonitorIt{pop.watched}));
  REQUIRE(eventually([&] {
    auto w = rt.process_info(pop.watched);
    return w && contains(w->monitored_by, pop.watcher);
  }));

  // A process holding a registry key.
  pop.keyed = spawn_idle(rt);
  REQUIRE_OK(rt.registry("sessions").register_key(pop.keyed, "user-1"));

  // The planted orphans.
  pop.orphans = {spawn_idle(rt), spawn_idle(rt), spawn_idle(rt)};
  std::sort(pop.orphans.begin(), pop.orphans.end());
  return pop;
}

}  // namespace

TEST_CASE("the orphan audit finds exactly the processes nobody supervises, links, monitors or names",
          "[supervision][orphans]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());
  const Population pop = populate(rt, j);

  // Young processes are spared by the default min_age.
  CHECK(rt.audit_orphans().empty());

  const auto found = rt.audit_orphans({.min_age = 0ms});
  CHECK(pids_of(found) == pop.orphans);
  for (const auto& info : found) CHECK(rt.alive(info.pid));  // policy report: left alone

  const auto killed = rt.audit_orphans({.min_age = 0ms, .policy = OrphanAudit::Policy::terminate});
  CHECK(pids_of(killed) == pop.orphans);
  for (Pid p : pop.orphans) CHECK(eventually([&] { return dead(rt, p); }));

  // Everything else is untouched, and nothing is an orphan any more.
  for (Pid p : {pop.left, pop.right, pop.watcher, pop.watched, pop.keyed}) CHECK(rt.alive(p));
  CHECK(rt.readiness().ready);
  CHECK(rt.audit_orphans({.min_age = 0ms}).empty());
}

TEST_CASE("a supervisor's children and a top-level supervisor are not orphans", "[supervision][orphans]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());
  SupervisorSpec spec;
  spec.name = "s";
  spec.flags = lenient();
  spec.children.push_back(worker("w", j));
  const Pid sup = start_sup(rt, spec);

  CHECK(rt.audit_orphans({.min_age = 0ms}).empty());

  // A child that was restarted is still supervised.
  const Pid old = running_pid(rt, sup, "w");
  REQUIRE_OK(rt.send(old, Crash{}));
  wait_restarted(rt, sup, "w", old);
  CHECK(rt.audit_orphans({.min_age = 0ms}).empty());
}

TEST_CASE(
    "canopy_orphan_processes and audit_orphans() agree on supervised, linked, monitored, registered and orphan "
    "processes",
    "[supervision][orphans][telemetry]") {
  auto j = std::make_shared<Journal>();
  RuntimeOptions o = options();
  o.telemetry.poll_interval = 1h;  // only poll_now() runs a round
  o.telemetry.orphan_min_age = 0ms;
  Runtime rt(o);
  auto orphan_gauge = [&] {
    rt.poll_now();
    for (const auto& f : rt.collect()) {
      if (f.name != "canopy_orphan_processes" || f.samples.empty()) continue;
      double sum = 0;  // one series per behaviour
      for (const auto& s : f.samples) sum += s.value;
      return sum;
    }
    return -1.0;
  };
  const Population pop = populate(rt, j);

  const auto audited = rt.audit_orphans({.min_age = 0ms});
  CHECK(pids_of(audited) == pop.orphans);
  CHECK(orphan_gauge() == static_cast<double>(audited.size()));

  (void)rt.audit_orphans({.min_age = 0ms, .policy = OrphanAudit::Policy::terminate});
  for (Pid p : pop.orphans) CHECK(eventually([&] { return dead(rt, p); }));
  CHECK(rt.audit_orphans({.min_age = 0ms}).empty());
  CHECK(orphan_gauge() == 0.0);
}

// A kind of process that leaks: the gauge must name it.
struct LeakedHelper final : Actor {
  void handle(Message&) override {}
};

TEST_CASE("canopy_orphan_processes counts orphans by behaviour, the others at 0", "[supervision][orphans][telemetry]") {
  RuntimeOptions o = options();
  o.telemetry.poll_interval = 1h;  // only poll_now() runs a round
  o.telemetry.orphan_min_age = 0ms;
  Runtime rt(o);
  auto j = std::make_shared<Journal>();
  SupervisorSpec root;
  root.name = "root";
  root.flags = lenient();
  root.children.push_back(worker("w1", j));
  REQUIRE_OK(rt.start_application("shop", root));
  for (int i = 0; i < 2; ++i) REQUIRE_OK(rt.spawn<LeakedHelper>());
  rt.poll_now();
  double leaked = -1, others = 0;
  size_t series = 0;
  for (const auto& f : rt.collect()) {
    if (f.name != "canopy_orphan_processes") continue;
    for (const auto& s : f.samples) {
      REQUIRE(s.labels.size() == 1);
      REQUIRE(s.labels[0].first == "behaviour");
      ++series;
      const std::string& b = s.labels[0].second;
      if (b.size() >= 12 && b.compare(b.size() - 12, 12, "LeakedHelper") == 0) {
        leaked = s.value;
      } else {
        others += s.value;
      }
    }
  }
  CHECK(leaked == 2.0);
  CHECK(others == 0.0);
  CHECK(series >= 2);  // the supervised behaviours are series too, at 0
}

}  // namespace test_supervision_orphan_audit_test
