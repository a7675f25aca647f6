// Processes: spawn, send, self, ordering, FunctionActor, limits, stale pids,
// init failures and crash isolation.
#include "test_support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_core_process_test {

using namespace canopy;
using namespace canopy_test;
using Catch::Matchers::Contains;

namespace {

struct Hello {};
struct Burst {
  Pid to;
  int n;
};

// A behaviour built from constructor arguments.
class Greeter final : public Actor {
 public:
  Greeter(std::shared_ptr<Recorder<std::string>> out, std::string greeting)
      : out_(std::move(out)), greeting_(std::move(greeting)) {}
  void handle(Message& m) override {
    if (m.is<Hello>()) out_->push(greeting_ + " from " + self().to_string());
  }

 private:
  std::shared_ptr<Recorder<std::string>> out_;
  std::string greeting_;
};

class FailingInit final : public Actor {
 public:
  enum class How { throw_std, throw_other, return_error, call_stop };
  FailingInit(How how, std::shared_ptr<std::atomic<int>> terminated) : how_(how), terminated_(std::move(terminated)) {}
  Status init() override {
    switch (how_) {
      case How::throw_std:
        throw std::runtime_error("config file missing");
      case How::throw_other:
        throw 7;
      case How::return_error:
        return Error(Errc::invalid_argument, "port 99999 out of range");
      case How::call_stop:
        stop(ExitReason::shutdown("not today"));
        return {};
    }
    return {};
  }
  void handle(Message&) override {}
  void terminate(const ExitReason&) override { terminated_->fetch_add(1); }

 private:
  How how_;
  std::shared_ptr<std::atomic<int>> terminated_;
};

// Sends itself a message from init().
class EagerStarter final : public Actor {
 public:
  explicit EagerStarter(std::shared_ptr<Recorder<int>> seen) : seen_(std::move(seen)) {}
  Status init() override { return send(self(), 99); }
  void handle(Message& m) override {
    if (auto* i = m.as<int>()) seen_->push(*i);
  }

 private:
  std::shared_ptr<Recorder<int>> seen_;
};

class ThrowingTerminate final : public Actor {
 public:
  explicit ThrowingTerminate(std::shared_ptr<std::atomic<int>> calls) : calls_(std::move(calls)) {}
  void handle(Message& m) override {
    if (m.is<Stop>()) stop();
  }
  void terminate(const ExitReason&) override {
    calls_->fetch_add(1);
    throw std::runtime_error("terminate failed");
  }

 private:
  std::shared_ptr<std::atomic<int>> calls_;
};

}  // namespace

TEST_CASE("spawn starts a process whose self() is the pid spawn returned", "[core][process]") {
  std::atomic<uint64_t> self_raw{0};
  std::atomic<uint64_t> runtime_self_raw{0};
  Runtime rt(schedulers(2));
  const Pid pid = spawn_fn(rt, [&](FunctionActor& self, Message&) {
    self_raw = self.self().raw();
    runtime_self_raw = self.runtime().self().raw();
  });
  REQUIRE(pid.valid());
  CHECK(rt.alive(pid));
  CHECK(rt.process_count() == 1u);
  CHECK_FALSE(rt.self().valid());  // the test thread runs no process

  REQUIRE_OK(rt.send(pid, 1));
  REQUIRE(eventually([&] { return self_raw.load() != 0; }));
  CHECK(Pid::from_raw(self_raw.load()) == pid);
  CHECK(Pid::from_raw(runtime_self_raw.load()) == pid);
}

TEST_CASE("a message from outside has no sender; one sent by a process names it", "[core][process]") {
  Runtime rt(schedulers(2));
  auto receiver = spawn_probe(rt);
  auto sender = spawn_probe(rt);

  REQUIRE_OK(rt.send(receiver.pid, 1));
  REQUIRE(receiver.state->ints.wait_size(1));
  REQUIRE_OK(rt.send(sender.pid, Forward{receiver.pid, 2}));
  REQUIRE(receiver.state->ints.wait_size(2));

  CHECK(receiver.state->ints.snapshot() == std::vector<int>{1, 2});
  const auto senders = receiver.state->int_senders.snapshot();
  CHECK_FALSE(senders[0].valid());
  CHECK(senders[1] == sender.pid);
  CHECK(sender.state->send_results.snapshot() == std::vector<Errc>{Errc::ok});
}

TEST_CASE("messages from one sender arrive in the order they were sent", "[core][process]") {
  constexpr int kCount = 2000;
  std::vector<int> expected(kCount);
  for (int i = 0; i < kCount; ++i) expected[i] = i;
  Runtime rt(schedulers(2));
  auto receiver = spawn_probe(rt);

  SECTION("from a thread outside the runtime") {
    for (int i = 0; i < kCount; ++i) REQUIRE_OK(rt.send(receiver.pid, i));
  }
  SECTION("from another process") {
    std::atomic<int> failures{0};
    const Pid sender = spawn_fn(rt, [&](FunctionActor& self, Message& m) {
      if (auto* b = m.as<Burst>()) {
        for (int i = 0; i < b->n; ++i) {
          if (!self.send(b->to, i).ok()) failures.fetch_add(1);
        }
      }
    });
    REQUIRE_OK(rt.send(sender, Burst{receiver.pid, kCount}));
    REQUIRE(receiver.state->ints.wait_size(kCount));
    CHECK(failures.load() == 0);
  }
  REQUIRE(receiver.state->ints.wait_size(kCount));
  CHECK(receiver.state->ints.snapshot() == expected);
}

TEST_CASE("a FunctionActor runs its function for every message and can reply to the sender", "[core][process]") {
  std::atomic<int> calls{0};
  Runtime rt(schedulers(2));
  const Pid doubler = spawn_fn(rt, [&](FunctionActor& self, Message& m) {
    calls.fetch_add(1);
    if (auto* n = m.as<int>()) {
      if (m.sender().valid()) (void)self.send(m.sender(), *n * 2);
    }
  });
  auto asker = spawn_probe(rt);
  for (int i = 1; i <= 3; ++i) REQUIRE_OK(rt.send(asker.pid, Forward{doubler, i}));
  REQUIRE(asker.state->ints.wait_size(3));
  CHECK(asker.state->ints.snapshot() == std::vector<int>{2, 4, 6});
  CHECK(calls.load() == 3);
}

TEST_CASE("spawn<A>(args...) constructs the behaviour from its arguments", "[core][process]") {
  auto out = std::make_shared<Recorder<std::string>>();
  Runtime rt(schedulers(1));
  auto a = rt.spawn<Greeter>(out, std::string("hello"));
  REQUIRE_OK(a);
  SpawnOptions o;
  o.name = "greeter-b";
  auto b = rt.spawn_opts<Greeter>(o, out, std::string("hi"));
  REQUIRE_OK(b);
  CHECK(rt.whereis("greeter-b") == b.value());
  REQUIRE_OK(rt.send(a.value(), Hello{}));
  REQUIRE(out->wait_size(1));
  REQUIRE_OK(rt.send("greeter-b", Hello{}));
  REQUIRE(out->wait_size(2));
  CHECK(out->snapshot() ==
        std::vector<std::string>{"hello from " + a.value().to_string(), "hi from " + b.value().to_string()});
}

TEST_CASE("bad spawn and send arguments fail cleanly and leave nothing behind", "[core][process]") {
  Runtime rt(schedulers(1));
  auto p = spawn_probe(rt);

  SECTION("spawning a null behaviour") { CHECK(rt.spawn(std::unique_ptr<Actor>()).code() == Errc::invalid_argument); }
  SECTION("spawn_link and spawn_monitor need a calling process") {
    auto state = std::make_shared<ProbeState>();
    CHECK(rt.spawn_link<ProbeActor>(state).code() == Errc::not_in_process);
    CHECK(rt.spawn_monitor(std::make_unique<ProbeActor>(state)).code() == Errc::not_in_process);
    CHECK(state->terminated.load() == 0);
  }
  SECTION("sending a null message") { CHECK(rt.send_message(p.pid, nullptr).code() == Errc::invalid_argument); }
  SECTION("sending to a pid that never existed") {
    CHECK(rt.send(Pid::from_parts(77, 3), 1).code() == Errc::dead_process);
    CHECK(rt.send(Pid(), 1).code() == Errc::dead_process);
    CHECK(rt.stats().dropped_by(DropReason::dead_process) == 2u);
  }
  CHECK(rt.process_count() == 1u);
  CHECK(rt.pids() == std::vector<Pid>{p.pid});
}

TEST_CASE("spawning beyond max_processes fails with process_limit naming the limit", "[core][process]") {
  RuntimeOptions o = schedulers(1);
  o.max_processes = 3;
  Runtime rt(o);
  std::vector<Probe> probes;
  for (int i = 0; i < 3; ++i) probes.push_back(spawn_probe(rt));
  CHECK(rt.stats().process_limit == 3u);

  auto over = rt.spawn(std::make_unique<ProbeActor>(std::make_shared<ProbeState>()));
  REQUIRE(over.code() == Errc::process_limit);
  CHECK_THAT(over.error().message(), Contains("3"));
  CHECK_THAT(over.error().message(), Contains("max_processes"));
  CHECK(rt.process_count() == 3u);

  // An exit frees a slot for a new spawn.
  REQUIRE_OK(rt.send(probes[0].pid, Stop{}));
  REQUIRE(eventually([&] { return dead(rt, probes[0].pid); }));
  std::optional<Pid> again;
  REQUIRE(eventually([&] {
    auto r = rt.spawn(std::make_unique<ProbeActor>(std::make_shared<ProbeState>()));
    if (r.ok()) again = r.value();
    return r.ok();
  }));
  CHECK(rt.alive(*again));
  CHECK(rt.process_count() == 3u);
}

TEST_CASE("a stale pid never reaches the new process in a reused slot", "[core][pid][process]") {
  RuntimeOptions o = schedulers(2);
  o.max_processes = 4;
  Runtime rt(o);

  auto old_probe = spawn_probe(rt);
  const Pid old = old_probe.pid;
  REQUIRE_OK(rt.send(old, Stop{}));  // exits normally
  REQUIRE(eventually([&] { return dead(rt, old); }));

  // Spawn until a process lands in the old slot. The others stay alive and
  // hold the remaining slots, so the old slot is the only one left.
  std::vector<Probe> others;
  std::optional<Probe> fresh;
  std::vector<Errc> unexpected;
  REQUIRE(eventually([&] {
    auto state = std::make_shared<ProbeState>();
    auto r = rt.spawn(std::make_unique<ProbeActor>(state));
    if (!r.ok()) {
      if (r.code() != Errc::process_limit) unexpected.push_back(r.code());
      return false;  // the old slot is not reclaimed yet
    }
    if (r.value().index() == old.index()) {
      fresh = Probe{r.value(), state};
      return true;
    }
    others.push_back(Probe{r.value(), state});
    return false;
  }));
  CHECK(unexpected.empty());
  REQUIRE(fresh.has_value());
  CHECK(fresh->pid != old);
  CHECK(fresh->pid.generation() > old.generation());
  CHECK(rt.alive(fresh->pid));
  CHECK_FALSE(rt.alive(old));
  CHECK_FALSE(rt.process_info(old).has_value());

  const uint64_t dropped_before = rt.stats().dropped_by(DropReason::dead_process);
  const auto fresh_dropped_before = info_of(rt, fresh->pid).messages_dropped;

  SECTION("sending from outside the runtime") {
    CHECK(rt.send(old, 666).code() == Errc::dead_process);
    CHECK(rt.stats().dropped_by(DropReason::dead_process) == dropped_before + 1);
  }
  SECTION("sending from another process") {
    Probe forwarder = others.empty() ? spawn_probe(rt) : others.front();
    REQUIRE_OK(rt.send(forwarder.pid, Forward{old, 666}));
    REQUIRE(forwarder.state->send_results.wait_size(1));
    CHECK(forwarder.state->send_results.snapshot() == std::vector<Errc>{Errc::dead_process});
    CHECK(rt.stats().dropped_by(DropReason::dead_process) == dropped_before + 1);
  }
  // The drop is not charged to the process now living in the slot.
  CHECK(info_of(rt, fresh->pid).messages_dropped == fresh_dropped_before);

  // A marker sent to the new pid after the stale send arrives first and alone:
  // had the stale message been delivered, it would be ahead of the marker.
  REQUIRE_OK(rt.send(fresh->pid, 1));
  REQUIRE(fresh->state->ints.wait_size(1));
  CHECK(fresh->state->ints.snapshot() == std::vector<int>{1});
  CHECK(fresh->state->handled.load() == 1);
  CHECK(old_probe.state->ints.size() == 0u);
}

TEST_CASE("a failing init fails the spawn with init_failed and leaves no process behind", "[core][process][init]") {
  auto terminated = std::make_shared<std::atomic<int>>(0);
  Runtime rt(schedulers(2));
  auto bystander = spawn_probe(rt);
  const size_t count_before = rt.process_count();
  const auto pids_before = rt.pids();

  Result<Pid> r = Error(Errc::ok, "unset");
  std::string expected_text;
  SECTION("init throws a std::exception") {
    r = rt.spawn<FailingInit>(FailingInit::How::throw_std, terminated);
    expected_text = "config file missing";
  }
  SECTION("init throws something else") {
    r = rt.spawn<FailingInit>(FailingInit::How::throw_other, terminated);
    expected_text = "unknown exception";
  }
  SECTION("init returns an error Status") {
    r = rt.spawn<FailingInit>(FailingInit::How::return_error, terminated);
    expected_text = "port 99999 out of range";
  }
  SECTION("init calls stop()") {
    r = rt.spawn<FailingInit>(FailingInit::How::call_stop, terminated);
    expected_text = "not today";
  }
  REQUIRE_FALSE(r.ok());
  CHECK(r.code() == Errc::init_failed);
  CHECK_THAT(r.error().message(), Contains(expected_text));
  CHECK_THAT(r.error().cause(), Contains(expected_text));  // the bare reason, without "init of ... failed"
  CHECK_THAT(r.error().message(), Contains("FailingInit"));
  CHECK(terminated->load() == 0);  // terminate() is not called after a failed init
  CHECK(rt.process_count() == count_before);
  CHECK(rt.stats().processes == count_before);
  CHECK(rt.pids() == pids_before);
  // The runtime is unaffected.
  REQUIRE_OK(rt.send(bystander.pid, 1));
  REQUIRE(bystander.state->ints.wait_size(1));
}

TEST_CASE("messages a process sends itself during init are handled once it runs", "[core][process][init]") {
  auto seen = std::make_shared<Recorder<int>>();
  Runtime rt(schedulers(2));
  auto r = rt.spawn<EagerStarter>(seen);
  REQUIRE_OK(r);
  REQUIRE_OK(rt.send(r.value(), 100));
  REQUIRE(seen->wait_size(2));
  CHECK(seen->snapshot() == std::vector<int>{99, 100});
}

TEST_CASE("a failed spawn_link inside a process returns the error and does not kill the spawner",
          "[core][process][init]") {
  auto terminated = std::make_shared<std::atomic<int>>(0);
  Recorder<Errc> results;
  Runtime rt(schedulers(2));
  const Pid parent = spawn_fn(rt, [&](FunctionActor& self, Message& m) {
    if (m.is<Hello>()) results.push(self.spawn_link<FailingInit>(FailingInit::How::throw_std, terminated).code());
  });
  auto watcher = spawn_probe(rt);
  watch(rt, watcher, parent);
  REQUIRE_OK(rt.send(parent, Hello{}));
  REQUIRE(results.wait_size(1));
  CHECK(results.snapshot() == std::vector<Errc>{Errc::init_failed});
  // Still alive and handling messages, with no link left behind.
  REQUIRE_OK(rt.send(parent, Hello{}));
  REQUIRE(results.wait_size(2));
  CHECK(rt.alive(parent));
  CHECK(info_of(rt, parent).links.empty());
  CHECK_FALSE(watcher.state->down_for(parent).has_value());
}

TEST_CASE("an exception escaping a handler crashes only that process", "[core][process][crash]") {
  Runtime rt(schedulers(2));
  auto watcher = spawn_probe(rt);
  auto victim = spawn_probe(rt);
  auto bystander = spawn_probe(rt);
  watch(rt, watcher, victim.pid);
  const uint64_t crashed_before = rt.stats().crashed;

  ExitReason expected;
  SECTION("a std::exception: the reason is its what()") {
    REQUIRE_OK(rt.send(victim.pid, Crash{"handler blew up"}));
    expected = ExitReason::error("handler blew up");
  }
  SECTION("anything else: the reason says so") {
    REQUIRE_OK(rt.send(victim.pid, CrashUnknown{}));
    expected = ExitReason::error("unknown exception");
  }
  auto down = wait_down(watcher, victim.pid);
  REQUIRE(down.has_value());
  CHECK(down->reason == expected);
  CHECK_FALSE(rt.alive(victim.pid));
  CHECK(victim.state->terminate_reasons.snapshot() == std::vector<ExitReason>{expected});
  // The exit is accounted right after the DOWN goes out.
  CHECK(eventually([&] { return rt.stats().crashed == crashed_before + 1; }));

  // Everyone else keeps working.
  REQUIRE_OK(rt.send(bystander.pid, 7));
  REQUIRE(bystander.state->ints.wait_size(1));
  CHECK(rt.alive(bystander.pid));
  CHECK(rt.alive(watcher.pid));
  CHECK(eventually([&] { return rt.process_count() == 2u; }));
}

TEST_CASE("terminate runs once with the exit reason, except after a kill", "[core][process]") {
  Runtime rt(schedulers(2));
  auto watcher = spawn_probe(rt);
  auto p = spawn_probe(rt);
  watch(rt, watcher, p.pid);

  SECTION("a normal stop") {
    REQUIRE_OK(rt.send(p.pid, Stop{}));
    REQUIRE(wait_down(watcher, p.pid).has_value());
    CHECK(p.state->terminate_reasons.snapshot() == std::vector<ExitReason>{ExitReason::normal()});
  }
  SECTION("a stop with a shutdown reason") {
    REQUIRE_OK(rt.send(p.pid, Stop{ExitReason::shutdown("maintenance")}));
    REQUIRE(wait_down(watcher, p.pid).has_value());
    CHECK(p.state->terminate_reasons.snapshot() == std::vector<ExitReason>{ExitReason::shutdown("maintenance")});
  }
  SECTION("a kill skips terminate") {
    REQUIRE_OK(rt.exit(p.pid, ExitReason::kill()));
    REQUIRE(wait_down(watcher, p.pid).has_value());
    CHECK(p.state->terminated.load() == 0);
  }
}

TEST_CASE("an exception thrown by terminate is contained", "[core][process][crash]") {
  auto calls = std::make_shared<std::atomic<int>>(0);
  Runtime rt(schedulers(2));
  auto watcher = spawn_probe(rt);
  auto r = rt.spawn<ThrowingTerminate>(calls);
  REQUIRE_OK(r);
  watch(rt, watcher, r.value());
  REQUIRE_OK(rt.send(r.value(), Stop{}));
  auto down = wait_down(watcher, r.value());
  REQUIRE(down.has_value());
  CHECK(down->reason == ExitReason::normal());
  CHECK(calls->load() == 1);
  // The runtime goes on.
  auto p = spawn_probe(rt);
  REQUIRE_OK(rt.send(p.pid, 3));
  REQUIRE(p.state->ints.wait_size(1));
}

namespace {
struct SpawnChild {};

// Records what Runtime::self() says inside its init(), and can spawn a child
// from a handler to check that the "current process" nests and unwinds.
class SelfAware final : public Actor {
 public:
  explicit SelfAware(std::shared_ptr<Recorder<std::pair<Pid, Pid>>> seen) : seen_(std::move(seen)) {}
  Status init() override {
    seen_->push({self(), runtime().self()});
    return {};
  }
  void handle(Message& m) override {
    if (m.is<SpawnChild>()) {
      auto child = spawn<SelfAware>(seen_);
      if (!child.ok()) throw std::runtime_error(child.error().to_string());
      seen_->push({self(), runtime().self()});  // back to the parent after the child's init
    }
  }

 private:
  std::shared_ptr<Recorder<std::pair<Pid, Pid>>> seen_;
};
}  // namespace

TEST_CASE("inside init, and after a nested spawn, Runtime::self() names the running process", "[core][process][init]") {
  auto seen = std::make_shared<Recorder<std::pair<Pid, Pid>>>();
  Runtime rt(schedulers(2));
  auto r = rt.spawn<SelfAware>(seen);
  REQUIRE_OK(r);
  CHECK_FALSE(rt.self().valid());  // init ran on this thread, and its scope ended
  REQUIRE_OK(rt.send(r.value(), SpawnChild{}));
  REQUIRE(seen->wait_size(3));
  const auto s = seen->snapshot();
  CHECK(s[0].first == r.value());
  CHECK(s[0].second == r.value());
  CHECK(s[1].first != r.value());  // the child, in its init
  CHECK(s[1].second == s[1].first);
  CHECK(s[2].first == r.value());  // the parent again
  CHECK(s[2].second == r.value());
  CHECK(info_of(rt, s[1].first).parent == r.value());
}

TEST_CASE("RuntimeOptions::default_mailbox applies to spawns without their own", "[core][process][mailbox]") {
  RuntimeOptions o = schedulers(2);
  o.default_mailbox.capacity = 2;
  o.default_mailbox.overflow = OverflowPolicy::reject;
  Runtime rt(o);
  auto p = spawn_probe(rt);
  CHECK(info_of(rt, p.pid).mailbox_capacity == 2u);
  SpawnOptions own;
  own.mailbox = MailboxOptions{};
  auto q = spawn_probe(rt, own);
  CHECK(info_of(rt, q.pid).mailbox_capacity == 0u);
}

}  // namespace test_core_process_test
