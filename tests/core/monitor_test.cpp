// Monitors: DOWN reasons, refs, noproc, demonitor, spawn_monitor.
#include "test_support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_core_monitor_test {

using namespace canopy;
using namespace canopy_test;

TEST_CASE("a monitor delivers DOWN with the exit reason of the watched process", "[core][monitor]") {
  Runtime rt(schedulers(2));
  auto watcher = spawn_probe(rt);
  auto target = spawn_probe(rt);
  const MonitorRef ref = watch(rt, watcher, target.pid);

  ExitReason expected;
  SECTION("normal") {
    REQUIRE_OK(rt.send(target.pid, Stop{}));
    expected = ExitReason::normal();
  }
  SECTION("shutdown") {
    REQUIRE_OK(rt.send(target.pid, Stop{ExitReason::shutdown("rolling restart")}));
    expected = ExitReason::shutdown("rolling restart");
  }
  SECTION("error, with the exception text") {
    REQUIRE_OK(rt.send(target.pid, Crash{"out of widgets"}));
    expected = ExitReason::error("out of widgets");
  }
  SECTION("killed, after an exit signal kill") {
    REQUIRE_OK(rt.exit(target.pid, ExitReason::kill()));
    expected = ExitReason::killed();
  }
  auto down = wait_down(watcher, target.pid);
  REQUIRE(down.has_value());
  CHECK(down->ref == ref);
  CHECK(down->pid == target.pid);
  CHECK(down->reason == expected);
  // A monitor is one-way: the watcher is unaffected, whatever the reason.
  REQUIRE_OK(rt.send(watcher.pid, 1));
  REQUIRE(watcher.state->ints.wait_size(1));
  CHECK(rt.alive(watcher.pid));
  // Exactly one DOWN, and the watcher no longer lists the monitor.
  CHECK(watcher.state->downs.size() == 1u);
  CHECK(info_of(rt, watcher.pid).monitors.empty());
}

TEST_CASE("monitoring a dead pid delivers DOWN noproc at once", "[core][monitor]") {
  Runtime rt(schedulers(2));
  auto watcher = spawn_probe(rt);
  auto gone = spawn_probe(rt);
  REQUIRE_OK(rt.send(gone.pid, Stop{}));
  REQUIRE(eventually([&] { return dead(rt, gone.pid); }));

  SECTION("a pid that has exited") {
    REQUIRE_OK(rt.send(watcher.pid, MonitorCmd{gone.pid}));
    REQUIRE(watcher.state->downs.wait_size(1));
    const auto down = watcher.state->downs.snapshot().front();
    CHECK(down.pid == gone.pid);
    CHECK(down.reason == ExitReason::noproc());
    REQUIRE(watcher.state->monitor_ref(gone.pid).has_value());
    CHECK(down.ref == *watcher.state->monitor_ref(gone.pid));
  }
  SECTION("a pid that never existed") {
    const Pid never = Pid::from_parts(999, 5);
    REQUIRE_OK(rt.send(watcher.pid, MonitorCmd{never}));
    REQUIRE(watcher.state->downs.wait_size(1));
    const auto down = watcher.state->downs.snapshot().front();
    CHECK(down.pid == never);
    CHECK(down.reason == ExitReason::noproc());
  }
  REQUIRE(eventually([&] { return info_of(rt, watcher.pid).monitors.empty(); }));
  CHECK(rt.alive(watcher.pid));
}

TEST_CASE("each monitor gets its own DOWN with its own ref", "[core][monitor]") {
  Runtime rt(schedulers(2));
  auto w1 = spawn_probe(rt);
  auto w2 = spawn_probe(rt);
  auto target = spawn_probe(rt);
  const MonitorRef r1 = watch(rt, w1, target.pid);
  const MonitorRef r2 = watch(rt, w1, target.pid);  // the same watcher twice
  const MonitorRef r3 = watch(rt, w2, target.pid);
  CHECK(r1 != r2);
  CHECK(r1 != r3);
  CHECK(r2 != r3);
  REQUIRE(eventually([&] { return info_of(rt, target.pid).monitored_by.size() == 3u; }));

  REQUIRE_OK(rt.send(target.pid, Crash{"x"}));
  REQUIRE(w1.state->downs.wait_size(2));
  REQUIRE(w2.state->downs.wait_size(1));
  CHECK(w1.state->down_with_ref(r1).has_value());
  CHECK(w1.state->down_with_ref(r2).has_value());
  CHECK(w2.state->down_with_ref(r3).has_value());
}

TEST_CASE("demonitor stops delivery of that monitor's DOWN", "[core][monitor]") {
  Runtime rt(schedulers(2));
  auto watcher = spawn_probe(rt);
  auto target = spawn_probe(rt);
  // Two monitors from the same watcher: the one kept is the control. DOWNs
  // from one process arrive in order, so once the kept one's DOWN is in, a
  // DOWN for the removed one would be too.
  const MonitorRef removed = watch(rt, watcher, target.pid);
  const MonitorRef kept = watch(rt, watcher, target.pid);
  REQUIRE(eventually([&] { return info_of(rt, target.pid).monitored_by.size() == 2u; }));

  REQUIRE_OK(rt.send(watcher.pid, DemonitorCmd{removed}));
  REQUIRE(eventually([&] { return watcher.state->demonitored.load() == 1; }));
  CHECK(info_of(rt, watcher.pid).monitors == std::vector<Pid>{target.pid});
  REQUIRE(eventually([&] { return info_of(rt, target.pid).monitored_by == std::vector<Pid>{watcher.pid}; }));

  REQUIRE_OK(rt.exit(target.pid, ExitReason::kill()));
  REQUIRE(eventually([&] { return watcher.state->down_with_ref(kept).has_value(); }));
  CHECK_FALSE(watcher.state->down_with_ref(removed).has_value());
  CHECK(watcher.state->downs.size() == 1u);
}

TEST_CASE("no DOWN arrives for a demonitored ref even when the target was already exiting", "[core][monitor]") {
  // Erlang's guarantee: once demonitor returns, no DOWN for that ref is put in
  // the caller's mailbox. Here the target is parked in terminate() -- already
  // dead to lookups, its DOWNs not yet sent -- while the watcher demonitors.
  auto target_state = std::make_shared<ProbeState>();
  target_state->terminate_entered = std::make_shared<Gate>();
  target_state->terminate_release = std::make_shared<Gate>();
  Runtime rt(schedulers(2));
  OpenOnExit guard{target_state->terminate_release};
  auto watcher = spawn_probe(rt);
  auto target = spawn_probe(rt, {}, target_state);
  const MonitorRef removed = watch(rt, watcher, target.pid);
  const MonitorRef kept = watch(rt, watcher, target.pid);
  REQUIRE(eventually([&] { return info_of(rt, target.pid).monitored_by.size() == 2u; }));

  REQUIRE_OK(rt.send(target.pid, Stop{}));
  REQUIRE(target_state->terminate_entered->wait());
  REQUIRE(eventually([&] { return dead(rt, target.pid); }));

  REQUIRE_OK(rt.send(watcher.pid, DemonitorCmd{removed}));
  REQUIRE(eventually([&] { return watcher.state->demonitored.load() == 1; }));
  // demonitor has returned: only now may the target's DOWNs go out.
  target_state->terminate_release->open();

  REQUIRE(eventually([&] { return watcher.state->down_with_ref(kept).has_value(); }));
  CHECK(watcher.state->down_with_ref(kept)->reason == ExitReason::normal());
  CHECK_FALSE(watcher.state->down_with_ref(removed).has_value());
}

TEST_CASE("spawn_monitor inside a process returns the ref its DOWN will carry", "[core][monitor]") {
  auto child_state = std::make_shared<ProbeState>();
  Recorder<DownMessage> downs;
  std::atomic<uint64_t> child_raw{0};
  std::atomic<uint64_t> ref_seen{0};
  Runtime rt(schedulers(2));
  const Pid parent = spawn_fn(rt, [&](FunctionActor& self, Message& m) {
    if (m.is<int>()) {
      auto r = self.runtime().spawn_monitor(std::make_unique<ProbeActor>(child_state));
      if (r.ok()) {
        ref_seen = r.value().second;
        child_raw = r.value().first.raw();
      }
    } else if (auto* d = m.as<DownMessage>()) {
      downs.push(*d);
    }
  });
  REQUIRE_OK(rt.send(parent, 1));
  REQUIRE(eventually([&] { return child_raw.load() != 0; }));
  const Pid child = Pid::from_raw(child_raw.load());
  CHECK(info_of(rt, child).parent == parent);
  CHECK(info_of(rt, child).monitored_by == std::vector<Pid>{parent});
  CHECK(info_of(rt, parent).monitors == std::vector<Pid>{child});
  CHECK(info_of(rt, child).links.empty());  // a monitor, not a link

  REQUIRE_OK(rt.send(child, Crash{"child crashed"}));
  REQUIRE(downs.wait_size(1));
  const auto d = downs.snapshot().front();
  CHECK(d.ref == ref_seen.load());
  CHECK(d.pid == child);
  CHECK(d.reason == ExitReason::error("child crashed"));
  CHECK(rt.alive(parent));
}

namespace {
class FailsInit final : public Actor {
 public:
  Status init() override { return Error(Errc::invalid_argument, "refusing to start"); }
  void handle(Message&) override {}
};
}  // namespace

TEST_CASE("a failed spawn_monitor returns the error and leaves no monitor or DOWN behind", "[core][monitor][init]") {
  // As for spawn_link: the spawner gets init_failed instead of a signal.
  Recorder<Errc> codes;
  Recorder<DownMessage> downs;
  Runtime rt(schedulers(2));
  const Pid parent = spawn_fn(rt, [&](FunctionActor& self, Message& m) {
    if (m.is<int>()) {
      codes.push(self.runtime().spawn_monitor(std::make_unique<FailsInit>()).code());
    } else if (auto* d = m.as<DownMessage>()) {
      downs.push(*d);
    }
  });
  REQUIRE_OK(rt.send(parent, 1));
  REQUIRE(codes.wait_size(1));
  CHECK(codes.snapshot() == std::vector<Errc>{Errc::init_failed});
  // Anything the failed spawn sent the parent is ahead of this message.
  REQUIRE_OK(rt.send(parent, 2));
  REQUIRE(codes.wait_size(2));
  CHECK(downs.size() == 0u);
  CHECK(info_of(rt, parent).monitors.empty());
}

TEST_CASE("a monitor goes away when the watcher exits", "[core][monitor]") {
  Runtime rt(schedulers(2));
  auto watcher = spawn_probe(rt);
  auto target = spawn_probe(rt);
  watch(rt, watcher, target.pid);
  REQUIRE_OK(rt.send(watcher.pid, Stop{}));
  REQUIRE(eventually([&] { return info_of(rt, target.pid).monitored_by.empty(); }));
  CHECK(rt.alive(target.pid));
}

}  // namespace test_core_monitor_test
