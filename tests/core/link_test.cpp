// Links and exit signals: propagation, trap_exit, kill, normal exits.
#include "test_support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_core_link_test {

using namespace canopy;
using namespace canopy_test;

namespace {

SpawnOptions trapping() {
  SpawnOptions o;
  o.trap_exit = true;
  return o;
}

// Links a to b (from a) and waits until both sides list the link.
void link_and_wait(Runtime& rt, const Probe& a, Pid b) {
  REQUIRE_OK(rt.send(a.pid, LinkTo{b}));
  REQUIRE(eventually([&] { return linked(rt, a.pid, b); }));
}

struct ExitOther {
  Pid target;
  ExitReason reason;
};

}  // namespace

TEST_CASE("a crash propagates over a link and kills the linked process with the same reason", "[core][link]") {
  Runtime rt(schedulers(2));
  auto watcher = spawn_probe(rt);
  auto a = spawn_probe(rt);
  auto b = spawn_probe(rt);
  link_and_wait(rt, a, b.pid);
  watch(rt, watcher, a.pid);
  watch(rt, watcher, b.pid);

  REQUIRE_OK(rt.send(b.pid, Crash{"disk on fire"}));

  const ExitReason expected = ExitReason::error("disk on fire");
  auto down_b = wait_down(watcher, b.pid);
  auto down_a = wait_down(watcher, a.pid);
  REQUIRE(down_b.has_value());
  REQUIRE(down_a.has_value());
  CHECK(down_b->reason == expected);
  CHECK(down_a->reason == expected);
  CHECK(a.state->terminate_reasons.snapshot() == std::vector<ExitReason>{expected});
  CHECK(rt.alive(watcher.pid));
}

TEST_CASE("a crash travels the whole length of a chain of links", "[core][link]") {
  Runtime rt(schedulers(2));
  auto watcher = spawn_probe(rt);
  std::vector<Probe> chain;
  for (int i = 0; i < 5; ++i) chain.push_back(spawn_probe(rt));
  for (size_t i = 0; i + 1 < chain.size(); ++i) link_and_wait(rt, chain[i], chain[i + 1].pid);
  for (auto& p : chain) watch(rt, watcher, p.pid);

  REQUIRE_OK(rt.send(chain.back().pid, Crash{"end of the line"}));
  for (auto& p : chain) {
    auto down = wait_down(watcher, p.pid);
    REQUIRE(down.has_value());
    CHECK(down->reason == ExitReason::error("end of the line"));
  }
}

TEST_CASE("a normal exit does not kill linked processes", "[core][link]") {
  Runtime rt(schedulers(2));
  auto watcher = spawn_probe(rt);
  auto a = spawn_probe(rt);
  auto b = spawn_probe(rt);
  link_and_wait(rt, a, b.pid);
  watch(rt, watcher, b.pid);

  REQUIRE_OK(rt.send(b.pid, Stop{}));
  auto down = wait_down(watcher, b.pid);
  REQUIRE(down.has_value());
  CHECK(down->reason == ExitReason::normal());

  // b's exit signal reached a's mailbox before the DOWN went out, so a message
  // sent now is handled after it: a survived the signal.
  REQUIRE_OK(rt.send(a.pid, 1));
  REQUIRE(a.state->ints.wait_size(1));
  CHECK(rt.alive(a.pid));
  CHECK(info_of(rt, a.pid).links.empty());
  CHECK(a.state->terminated.load() == 0);
}

TEST_CASE("a shutdown exit is not normal: it kills linked processes", "[core][link]") {
  Runtime rt(schedulers(2));
  auto watcher = spawn_probe(rt);
  auto a = spawn_probe(rt);
  auto b = spawn_probe(rt);
  link_and_wait(rt, a, b.pid);
  watch(rt, watcher, a.pid);

  REQUIRE_OK(rt.send(b.pid, Stop{ExitReason::shutdown("bye")}));
  auto down = wait_down(watcher, a.pid);
  REQUIRE(down.has_value());
  CHECK(down->reason == ExitReason::shutdown("bye"));
}

TEST_CASE("a process trapping exits receives ExitMessage instead of dying", "[core][link][trap_exit]") {
  Runtime rt(schedulers(2));
  auto a = spawn_probe(rt, trapping());
  CHECK(info_of(rt, a.pid).trap_exit);

  SECTION("from a crashed linked process") {
    auto b = spawn_probe(rt);
    link_and_wait(rt, a, b.pid);
    REQUIRE_OK(rt.send(b.pid, Crash{"boom"}));
    REQUIRE(a.state->exits.wait_size(1));
    const auto e = a.state->exits.snapshot().front();
    CHECK(e.from == b.pid);
    CHECK(e.reason == ExitReason::error("boom"));
    CHECK(info_of(rt, a.pid).links.empty());
  }
  SECTION("from a linked process that exits normally") {
    auto b = spawn_probe(rt);
    link_and_wait(rt, a, b.pid);
    REQUIRE_OK(rt.send(b.pid, Stop{}));
    REQUIRE(a.state->exits.wait_size(1));
    const auto e = a.state->exits.snapshot().front();
    CHECK(e.from == b.pid);
    CHECK(e.reason == ExitReason::normal());
  }
  SECTION("from Runtime::exit on a thread outside the runtime") {
    REQUIRE_OK(rt.exit(a.pid, ExitReason::error("go away")));
    REQUIRE(a.state->exits.wait_size(1));
    const auto e = a.state->exits.snapshot().front();
    CHECK_FALSE(e.from.valid());
    CHECK(e.reason == ExitReason::error("go away"));
  }
  SECTION("a normal exit signal is delivered too") {
    REQUIRE_OK(rt.exit(a.pid, ExitReason::normal()));
    REQUIRE(a.state->exits.wait_size(1));
    CHECK(a.state->exits.snapshot().front().reason == ExitReason::normal());
  }
  SECTION("from Runtime::exit called inside another process") {
    const Pid sender = spawn_fn(rt, [&](FunctionActor& self, Message& m) {
      if (auto* x = m.as<ExitOther>()) (void)self.runtime().exit(x->target, x->reason);
    });
    REQUIRE_OK(rt.send(sender, ExitOther{a.pid, ExitReason::shutdown("reorg")}));
    REQUIRE(a.state->exits.wait_size(1));
    const auto e = a.state->exits.snapshot().front();
    CHECK(e.from == sender);
    CHECK(e.reason == ExitReason::shutdown("reorg"));
  }
  SECTION("trap_exit switched on from inside the process") {
    auto c = spawn_probe(rt);
    REQUIRE_OK(rt.send(c.pid, SetTrap{true}));
    REQUIRE(eventually([&] { return info_of(rt, c.pid).trap_exit; }));
    REQUIRE_OK(rt.exit(c.pid, ExitReason::error("x")));
    REQUIRE(c.state->exits.wait_size(1));
    REQUIRE_OK(rt.send(c.pid, 1));
    REQUIRE(c.state->ints.wait_size(1));
    CHECK(rt.alive(c.pid));
  }
  // Still alive and working.
  REQUIRE_OK(rt.send(a.pid, 5));
  REQUIRE(a.state->ints.wait_size(1));
  CHECK(rt.alive(a.pid));
  CHECK(a.state->terminated.load() == 0);
}

TEST_CASE("an exit signal `kill` kills even a trapping process, and links see `killed`", "[core][link][kill]") {
  Runtime rt(schedulers(2));
  auto watcher = spawn_probe(rt);
  auto victim = spawn_probe(rt, trapping());
  auto plain = spawn_probe(rt);                // linked, not trapping: dies too
  auto trapper = spawn_probe(rt, trapping());  // linked, trapping: told
  link_and_wait(rt, plain, victim.pid);
  link_and_wait(rt, trapper, victim.pid);
  watch(rt, watcher, victim.pid);
  watch(rt, watcher, plain.pid);

  REQUIRE_OK(rt.exit(victim.pid, ExitReason::kill()));

  auto down_victim = wait_down(watcher, victim.pid);
  REQUIRE(down_victim.has_value());
  CHECK(down_victim->reason == ExitReason::killed());
  CHECK(victim.state->exits.size() == 0u);      // never saw it as a message
  CHECK(victim.state->terminated.load() == 0);  // terminate() is skipped for kill

  auto down_plain = wait_down(watcher, plain.pid);
  REQUIRE(down_plain.has_value());
  CHECK(down_plain->reason == ExitReason::killed());

  REQUIRE(trapper.state->exits.wait_size(1));
  const auto e = trapper.state->exits.snapshot().front();
  CHECK(e.from == victim.pid);
  CHECK(e.reason == ExitReason::killed());
  CHECK(rt.alive(trapper.pid));
}

TEST_CASE("Runtime::exit with reason normal is ignored by a process that does not trap exits", "[core][link]") {
  Runtime rt(schedulers(2));
  auto p = spawn_probe(rt);
  REQUIRE_OK(rt.exit(p.pid, ExitReason::normal()));
  // The signal is ahead of this message in the mailbox.
  REQUIRE_OK(rt.send(p.pid, 1));
  REQUIRE(p.state->ints.wait_size(1));
  CHECK(rt.alive(p.pid));
  CHECK(p.state->terminated.load() == 0);
}

TEST_CASE("Runtime::exit with a non-normal reason kills a process that does not trap exits", "[core][link]") {
  Runtime rt(schedulers(2));
  auto watcher = spawn_probe(rt);
  auto p = spawn_probe(rt);
  watch(rt, watcher, p.pid);
  REQUIRE_OK(rt.exit(p.pid, ExitReason::shutdown("drain")));
  auto down = wait_down(watcher, p.pid);
  REQUIRE(down.has_value());
  CHECK(down->reason == ExitReason::shutdown("drain"));
  CHECK(p.state->terminate_reasons.snapshot() == std::vector<ExitReason>{ExitReason::shutdown("drain")});

  SECTION("and exit on a dead pid reports dead_process") {
    CHECK(rt.exit(p.pid, ExitReason::kill()).code() == Errc::dead_process);
    CHECK(rt.exit(Pid(), ExitReason::kill()).code() == Errc::dead_process);
  }
}

TEST_CASE("unlink removes the link on both sides and stops propagation", "[core][link]") {
  Runtime rt(schedulers(2));
  auto watcher = spawn_probe(rt);
  auto a = spawn_probe(rt);
  auto b = spawn_probe(rt);
  link_and_wait(rt, a, b.pid);
  REQUIRE_OK(rt.send(a.pid, UnlinkFrom{b.pid}));
  REQUIRE(eventually([&] {
    auto ia = rt.process_info(a.pid);
    auto ib = rt.process_info(b.pid);
    return ia && ib && ia->links.empty() && ib->links.empty();
  }));
  watch(rt, watcher, b.pid);
  REQUIRE_OK(rt.send(b.pid, Crash{"alone"}));
  REQUIRE(wait_down(watcher, b.pid).has_value());
  REQUIRE_OK(rt.send(a.pid, 1));
  REQUIRE(a.state->ints.wait_size(1));
  CHECK(rt.alive(a.pid));
}

TEST_CASE("linking to a dead pid delivers an exit signal noproc", "[core][link]") {
  Runtime rt(schedulers(2));
  auto watcher = spawn_probe(rt);
  auto gone = spawn_probe(rt);
  REQUIRE_OK(rt.send(gone.pid, Stop{}));
  REQUIRE(eventually([&] { return dead(rt, gone.pid); }));

  SECTION("a trapping process gets ExitMessage{dead pid, noproc}") {
    auto a = spawn_probe(rt, trapping());
    REQUIRE_OK(rt.send(a.pid, LinkTo{gone.pid}));
    REQUIRE(a.state->exits.wait_size(1));
    const auto e = a.state->exits.snapshot().front();
    CHECK(e.from == gone.pid);
    CHECK(e.reason == ExitReason::noproc());
    CHECK(rt.alive(a.pid));
    CHECK(info_of(rt, a.pid).links.empty());
  }
  SECTION("a process not trapping exits dies with noproc") {
    auto a = spawn_probe(rt);
    watch(rt, watcher, a.pid);
    REQUIRE_OK(rt.send(a.pid, LinkTo{gone.pid}));
    auto down = wait_down(watcher, a.pid);
    REQUIRE(down.has_value());
    CHECK(down->reason == ExitReason::noproc());
  }
}

TEST_CASE("spawn_link inside a process links parent and child both ways", "[core][link]") {
  auto child_state = std::make_shared<ProbeState>();
  std::atomic<uint64_t> child_raw{0};
  Runtime rt(schedulers(2));
  auto watcher = spawn_probe(rt);
  const Pid parent = spawn_fn(rt, [&](FunctionActor& self, Message& m) {
    if (m.is<int>()) {
      auto r = self.spawn_link<ProbeActor>(child_state);
      if (r.ok()) child_raw = r.value().raw();
    }
  });
  REQUIRE_OK(rt.send(parent, 1));
  REQUIRE(eventually([&] { return child_raw.load() != 0; }));
  const Pid child = Pid::from_raw(child_raw.load());
  REQUIRE(linked(rt, parent, child));
  CHECK(info_of(rt, child).parent == parent);

  watch(rt, watcher, parent);
  REQUIRE_OK(rt.send(child, Crash{"child failed"}));
  auto down = wait_down(watcher, parent);
  REQUIRE(down.has_value());
  CHECK(down->reason == ExitReason::error("child failed"));
}

TEST_CASE("a process calling Runtime::exit on itself with reason normal exits normally", "[core][link]") {
  Runtime rt(schedulers(2));
  auto watcher = spawn_probe(rt);
  const Pid p = spawn_fn(rt, [](FunctionActor& self, Message& m) {
    if (m.is<int>()) (void)self.runtime().exit(self.self(), ExitReason::normal());
  });
  watch(rt, watcher, p);
  REQUIRE_OK(rt.send(p, 1));
  auto down = wait_down(watcher, p);
  REQUIRE(down.has_value());
  CHECK(down->reason == ExitReason::normal());
}

}  // namespace test_core_link_test
