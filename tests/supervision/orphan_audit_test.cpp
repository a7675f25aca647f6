// The orphan audit: processes nobody would notice dying or leaking.
#include "support.hpp"

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

}  // namespace

TEST_CASE("the orphan audit finds exactly the processes nobody supervises, links, monitors or names",
          "[supervision][orphans]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());

  // Supervised: an application and its tree.
  SupervisorSpec sub;
  sub.name = "sub";
  sub.flags = lenient();
  sub.children.push_back(worker("inner", j));
  SupervisorSpec root;
  root.name = "root";
  root.flags = lenient();
  root.children.push_back(worker("w1", j));
  root.children.push_back(ChildSpec::supervisor("sub", sub));
  REQUIRE_OK(rt.start_application("shop", root));

  // A linked pair.
  const Pid left = spawn_wirer(rt);
  const Pid right = spawn_idle(rt);
  REQUIRE_OK(rt.send(left, LinkTo{right}));
  REQUIRE(eventually([&] {
    auto l = rt.process_info(left);
    auto r = rt.process_info(right);
    return l && r && contains(l->links, right) && contains(r->links, left);
  }));

  // A registered process that monitors another one.
  SpawnOptions named;
  named.name = "watcher";
  const Pid watcher = spawn_wirer(rt, named);
  const Pid watched = spawn_idle(rt);
  REQUIRE_OK(rt.send(watcher, MonitorIt{watched}));
  REQUIRE(eventually([&] {
    auto w = rt.process_info(watched);
    return w && contains(w->monitored_by, watcher);
  }));

  // A process holding a registry key.
  const Pid keyed = spawn_idle(rt);
  REQUIRE_OK(rt.registry("sessions").register_key(keyed, "user-1"));

  // The planted orphans.
  std::vector<Pid> planted{spawn_idle(rt), spawn_idle(rt), spawn_idle(rt)};
  std::sort(planted.begin(), planted.end());

  // Young processes are spared by the default min_age.
  CHECK(rt.audit_orphans().empty());

  const auto found = rt.audit_orphans({.min_age = 0ms});
  CHECK(pids_of(found) == planted);
  for (const auto& info : found) CHECK(rt.alive(info.pid));  // policy report: left alone

  const auto killed = rt.audit_orphans({.min_age = 0ms, .policy = OrphanAudit::Policy::terminate});
  CHECK(pids_of(killed) == planted);
  for (Pid p : planted) CHECK(eventually([&] { return dead(rt, p); }));

  // Everything else is untouched, and nothing is an orphan any more.
  for (Pid p : {left, right, watcher, watched, keyed}) CHECK(rt.alive(p));
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
