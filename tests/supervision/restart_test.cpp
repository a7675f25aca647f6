// Restart types (permanent, transient, temporary), restart intensity, and
// escalation up a tree of supervisors.
#include "support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_supervision_restart_test {

using namespace canopy;
using namespace sup_test;

namespace {

// A one_for_one supervisor over one worker `id` with restart type `restart`,
// and a bystander worker "other".
SupervisorSpec one_child(Restart restart, const std::shared_ptr<Journal>& j, const std::string& id = "w") {
  SupervisorSpec spec;
  spec.name = "s";
  spec.flags = lenient();
  spec.children.push_back(worker(id, j));
  spec.children.back().restart = restart;
  spec.children.push_back(worker("other", j));
  return spec;
}

// Waits until the supervisor has seen the exit of its child `id` (the child
// is no longer running), then makes a call: its reply comes after the EXIT
// was handled completely, so the published state is settled.
std::optional<ChildInfo> settled_child(Runtime& rt, Pid sup, const std::string& id, Pid old) {
  REQUIRE(eventually([&] {
    auto c = peek_child(rt, sup, id);
    return !c || c->pid != old;
  }));
  return find_child(children_of(rt, sup), id);
}

}  // namespace

TEST_CASE("a permanent child is restarted even after a normal exit", "[supervision][restart]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());
  const Pid sup = start_sup(rt, one_child(Restart::permanent, j));
  const Pid old = running_pid(rt, sup, "w");

  REQUIRE_OK(rt.send(old, StopWith{ExitReason::normal()}));
  const Pid fresh = wait_restarted(rt, sup, "w", old);

  CHECK(fresh != old);
  CHECK(dead(rt, old));
  const auto c = child_of(rt, sup, "w");
  CHECK(c.restarts == 1);
  CHECK(c.last_exit_reason == "normal");
  CHECK(stats_of(rt, sup).restarts_total == 1);
  CHECK(j->count("start w") == 2);
}

TEST_CASE("a permanent child is restarted after a crash", "[supervision][restart]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());
  const Pid sup = start_sup(rt, one_child(Restart::permanent, j));
  const Pid old = running_pid(rt, sup, "w");

  REQUIRE_OK(rt.send(old, Crash{"kaput"}));
  wait_restarted(rt, sup, "w", old);
  CHECK(child_of(rt, sup, "w").restarts == 1);
  CHECK(child_of(rt, sup, "w").last_exit_reason == "error: kaput");
}

TEST_CASE("a transient child is restarted after an abnormal exit", "[supervision][restart]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());
  const Pid sup = start_sup(rt, one_child(Restart::transient, j));

  SECTION("a crash") {
    const Pid old = running_pid(rt, sup, "w");
    REQUIRE_OK(rt.send(old, Crash{"kaput"}));
    wait_restarted(rt, sup, "w", old);
    CHECK(child_of(rt, sup, "w").restarts == 1);
    CHECK(child_of(rt, sup, "w").last_exit_reason == "error: kaput");
  }
  SECTION("a kill") {
    const Pid old = running_pid(rt, sup, "w");
    REQUIRE_OK(rt.exit(old, ExitReason::kill()));
    wait_restarted(rt, sup, "w", old);
    CHECK(child_of(rt, sup, "w").restarts == 1);
    CHECK(child_of(rt, sup, "w").last_exit_reason == "killed");
  }
  CHECK(stats_of(rt, sup).restarts_total == 1);
  CHECK(j->count("start w") == 2);
}

TEST_CASE("a transient child is not restarted after a normal or shutdown exit", "[supervision][restart]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());
  const Pid sup = start_sup(rt, one_child(Restart::transient, j));
  const Pid old = running_pid(rt, sup, "w");

  ExitReason reason;
  SECTION("normal") { reason = ExitReason::normal(); }
  SECTION("shutdown") { reason = ExitReason::shutdown(); }

  REQUIRE_OK(rt.send(old, StopWith{reason}));
  auto c = settled_child(rt, sup, "w", old);

  REQUIRE(c.has_value());  // the spec is kept
  CHECK(c->state == ChildState::stopped);
  CHECK_FALSE(c->pid.valid());
  CHECK(c->restarts == 0);
  CHECK(c->last_exit_reason == reason.to_string());
  CHECK(dead(rt, old));
  CHECK(stats_of(rt, sup).restarts_total == 0);
  CHECK(j->count("start w") == 1);
  CHECK(rt.alive(sup));
}

TEST_CASE("a temporary child is never restarted and is removed from the supervisor", "[supervision][restart]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());
  const Pid sup = start_sup(rt, one_child(Restart::temporary, j));
  const Pid old = running_pid(rt, sup, "w");

  SECTION("after a crash") { REQUIRE_OK(rt.send(old, Crash{})); }
  SECTION("after a kill") { REQUIRE_OK(rt.exit(old, ExitReason::kill())); }
  SECTION("after a normal exit") { REQUIRE_OK(rt.send(old, StopWith{ExitReason::normal()})); }

  auto c = settled_child(rt, sup, "w", old);
  CHECK_FALSE(c.has_value());
  CHECK(dead(rt, old));
  auto counts = supervisor::count_children(rt, sup);
  REQUIRE_OK(counts);
  CHECK(counts.value().specs == 1);  // "other" only
  CHECK(counts.value().active == 1);
  CHECK(stats_of(rt, sup).restarts_total == 0);
  CHECK(j->count("start w") == 1);
}

TEST_CASE("one crash too many within the period makes the supervisor give up and exit", "[supervision][intensity]") {
  auto j = std::make_shared<Journal>();
  // The sentinel parks in terminate() while the supervisor stops it, so the
  // supervisor (still alive, waiting for it) can be inspected after it gave up.
  j->park_in_terminate = "sentinel";
  Runtime rt(options());
  OpenOnExit release{j->terminate_release};

  SupervisorSpec spec;
  spec.name = "fragile";
  spec.flags.strategy = Strategy::one_for_one;
  spec.flags.intensity = 3;
  spec.flags.period = kLongPeriod;  // every crash of this test falls within it
  spec.children.push_back(worker("sentinel", j));
  spec.children.back().shutdown = Shutdown::infinity();
  spec.children.push_back(worker("crashy", j));
  const Pid sup = start_sup(rt, spec);
  const Pid sentinel = running_pid(rt, sup, "sentinel");

  CHECK(stats_of(rt, sup).restart_budget_remaining == 3);
  Pid crashy = running_pid(rt, sup, "crashy");
  for (uint32_t n = 1; n <= 3; ++n) {
    INFO("crash " << n);
    REQUIRE_OK(rt.send(crashy, Crash{"crash " + std::to_string(n)}));
    crashy = wait_restarted(rt, sup, "crashy", crashy);
    const auto s = stats_of(rt, sup);
    CHECK(s.restarts_total == n);
    CHECK(s.restart_budget_remaining == 3 - n);
    CHECK(s.intensity_exceeded == 0);
  }

  // The fourth crash within the period exceeds intensity 3.
  REQUIRE_OK(rt.send(crashy, Crash{"crash 4"}));
  REQUIRE(j->terminate_entered->wait(kPatience));  // the supervisor is stopping its children

  const auto s = stats_of(rt, sup);
  CHECK(s.intensity_exceeded == 1);
  CHECK(s.restarts_total == 3);
  CHECK(s.restart_budget_remaining == 0);
  CHECK(j->stop_reasons("sentinel") == std::vector<ExitReason>{ExitReason::shutdown()});

  j->terminate_release->open();
  REQUIRE(eventually([&] { return dead(rt, sup); }));
  CHECK(dead(rt, crashy));
  CHECK(dead(rt, sentinel));
  CHECK_FALSE(supervisor::stats(rt, sup).has_value());
  CHECK(j->count("start crashy") == 4);  // never restarted after the fourth crash
  CHECK(rt.stats().supervisor_restarts == 3);
  REQUIRE(eventually([&] { return rt.process_count() == 0; }));
}

TEST_CASE("a supervisor that gives up exits with reason shutdown", "[supervision][intensity]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());
  // A plain process that traps exits and links to the supervisor, to see its exit reason.
  auto reasons = std::make_shared<Recorder<ExitReason>>();
  struct LinkTo {
    Pid pid;
  };
  const Pid watcher = spawn_fn(rt, [reasons](FunctionActor& self, Message& m) {
    if (auto* l = m.as<LinkTo>()) {
      self.trap_exit(true);
      self.link(l->pid);
    } else if (auto* e = m.as<ExitMessage>()) {
      reasons->push(e->reason);
    }
  });

  SupervisorSpec spec;
  spec.name = "fragile";
  spec.flags.intensity = 0;  // the first crash is one too many
  spec.flags.period = kLongPeriod;
  spec.children.push_back(worker("crashy", j));
  const Pid sup = start_sup(rt, spec);
  REQUIRE_OK(rt.send(watcher, LinkTo{sup}));
  REQUIRE(eventually([&] {
    auto info = rt.process_info(sup);
    return info && contains(info->links, watcher);
  }));

  REQUIRE_OK(rt.send(running_pid(rt, sup, "crashy"), Crash{}));
  REQUIRE(reasons->wait_size(1));
  CHECK(reasons->snapshot() == std::vector<ExitReason>{ExitReason::shutdown()});
  CHECK(dead(rt, sup));
  CHECK(j->count("start crashy") == 1);
}

TEST_CASE("a supervisor that gives up escalates: its own supervisor restarts it with fresh children",
          "[supervision][intensity][escalation]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());

  SupervisorSpec mid;
  mid.name = "mid";
  mid.flags.strategy = Strategy::one_for_one;
  mid.flags.intensity = 1;
  mid.flags.period = kLongPeriod;
  mid.children.push_back(worker("leaf", j));

  SupervisorSpec root;
  root.name = "root";
  root.flags = lenient();
  root.children.push_back(ChildSpec::supervisor("mid", mid));
  const Pid root_pid = start_sup(rt, root);

  const Pid mid1 = running_pid(rt, root_pid, "mid");
  const Pid leaf1 = running_pid(rt, mid1, "leaf");

  // First crash: within mid's intensity, mid restarts the leaf itself.
  REQUIRE_OK(rt.send(leaf1, Crash{"first"}));
  const Pid leaf2 = wait_restarted(rt, mid1, "leaf", leaf1);
  CHECK(running_pid(rt, root_pid, "mid") == mid1);
  CHECK(stats_of(rt, mid1).restarts_total == 1);
  CHECK(stats_of(rt, root_pid).restarts_total == 0);

  // Second crash: mid gives up, root restarts mid, and the new mid starts a fresh leaf.
  REQUIRE_OK(rt.send(leaf2, Crash{"second"}));
  const Pid mid2 = wait_restarted(rt, root_pid, "mid", mid1);
  REQUIRE(eventually([&] { return dead(rt, mid1); }));

  const Pid leaf3 = running_pid(rt, mid2, "leaf");
  CHECK(leaf3 != leaf1);
  CHECK(leaf3 != leaf2);
  CHECK(dead(rt, leaf2));
  const auto fresh = stats_of(rt, mid2);
  CHECK(fresh.restarts_total == 0);
  CHECK(fresh.intensity_exceeded == 0);
  CHECK(find_child(fresh.children, "leaf")->restarts == 0);

  const auto r = stats_of(rt, root_pid);
  CHECK(r.pid == root_pid);
  CHECK(rt.alive(root_pid));
  CHECK(r.restarts_total == 1);
  CHECK(find_child(r.children, "mid")->restarts == 1);
  CHECK(find_child(r.children, "mid")->last_exit_reason == "shutdown");
  CHECK(j->count("start leaf") == 3);
  CHECK(rt.stats().supervisor_restarts == 2);  // mid restarted the leaf once, root restarted mid once
  // root, mid, leaf: nothing of the first mid's tree is left.
  CHECK(eventually([&] { return rt.process_count() == 3; }));
}

TEST_CASE("a child that cannot be restarted counts towards the intensity: the supervisor gives up instead of looping",
          "[supervision][intensity]") {
  auto j = std::make_shared<Journal>();
  auto available = std::make_shared<std::atomic<bool>>(true);
  Runtime rt(options());
  WorkerTraits flaky;
  flaky.available = available;

  SupervisorSpec spec;
  spec.name = "s";
  spec.flags.intensity = 3;
  spec.flags.period = kLongPeriod;
  spec.children.push_back(worker("flaky", j, flaky));
  const Pid sup = start_sup(rt, spec);
  const Pid first = running_pid(rt, sup, "flaky");

  available->store(false);  // every restart fails from now on
  REQUIRE_OK(rt.send(first, Crash{}));

  REQUIRE(eventually([&] { return dead(rt, sup); }));
  CHECK(j->count("start flaky") == 1);
  CHECK(eventually([&] { return rt.process_count() == 0; }));
}

TEST_CASE("a child whose restarts keep failing is retried up to a high intensity without deepening the stack",
          "[supervision][intensity]") {
  // Each failed restart counts as a crash and plans the next restart. The
  // supervisor used to run that plan one nested call deeper per failure, so
  // an intensity this high overflowed its scheduler's stack (SIGSEGV): the
  // chaos test's tree (intensity 10,000) crashed so when the runtime shut
  // down under it with restarts pending, its spawns refused.
  // Sanitizer builds: ASan frames at -O0 are several times larger, so fewer
  // levels overflowed the stack, and each failed restart costs ~1 ms there.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  constexpr uint32_t kIntensity = 8'000;
#else
  constexpr uint32_t kIntensity = 100'000;
#endif
  auto j = std::make_shared<Journal>();
  auto starts = std::make_shared<std::atomic<uint64_t>>(0);
  Runtime rt(options());

  SupervisorSpec spec;
  spec.name = "s";
  spec.flags.intensity = kIntensity;
  spec.flags.period = kLongPeriod;
  ChildSpec flaky;
  flaky.id = "flaky";
  flaky.start = [j, starts]() -> std::unique_ptr<Actor> {
    if (starts->fetch_add(1) > 0) throw std::runtime_error("gone for good");
    return std::make_unique<Worker>(j, "flaky");
  };
  spec.children.push_back(std::move(flaky));
  const Pid sup = start_sup(rt, spec);
  const Pid first = running_pid(rt, sup, "flaky");

  REQUIRE_OK(rt.exit(first, ExitReason::kill()));

  // kIntensity restarts, each failing; the one after them is one too many.
  REQUIRE(eventually([&] { return dead(rt, sup); }, 120s));
  CHECK(starts->load() == uint64_t{kIntensity} + 1);  // the first start, then one per restart
  CHECK(rt.stats().supervisor_restarts == kIntensity);
  CHECK(rt.boot_failures()["flaky"] == kIntensity);
  CHECK(j->count("start flaky") == 1);
  CHECK(eventually([&] { return rt.process_count() == 0; }));
}

}  // namespace test_supervision_restart_test
