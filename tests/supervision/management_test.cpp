// Managing a running supervisor: which_children, count_children,
// terminate_child, restart_child, delete_child, start_child.
#include "support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_supervision_management_test {

using namespace canopy;
using namespace sup_test;

namespace {

// root over worker "a", a supervisor "sub" (one worker "inner"), worker "b".
SupervisorSpec tree(const std::shared_ptr<Journal>& j) {
  SupervisorSpec sub;
  sub.name = "sub";
  sub.flags = lenient();
  sub.children.push_back(worker("inner", j));

  SupervisorSpec root;
  root.name = "root";
  root.flags = lenient();
  root.children.push_back(worker("a", j));
  root.children.push_back(ChildSpec::supervisor("sub", sub));
  root.children.push_back(worker("b", j));
  root.children.back().restart = Restart::transient;
  return root;
}

}  // namespace

TEST_CASE("which_children lists every child in start order with its type, restart type, state and pid",
          "[supervision][management]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());
  const Pid sup = start_sup(rt, tree(j));

  const auto children = children_of(rt, sup);
  REQUIRE(children.size() == 3);
  CHECK(children[0].id == "a");
  CHECK(children[0].type == ChildType::worker);
  CHECK(children[0].restart == Restart::permanent);
  CHECK(children[1].id == "sub");
  CHECK(children[1].type == ChildType::supervisor);
  CHECK(children[2].id == "b");
  CHECK(children[2].restart == Restart::transient);
  for (const auto& c : children) {
    INFO("child " << c.id);
    CHECK(c.state == ChildState::running);
    CHECK(rt.alive(c.pid));
    CHECK(c.restarts == 0);
    CHECK(c.last_exit_reason.empty());
    CHECK(c.last_start_error.empty());
    CHECK_FALSE(c.optional);
  }
  // The child supervisor is a supervisor in its own right.
  CHECK(stats_of(rt, children[1].pid).name == "sub");
  CHECK(children_of(rt, children[1].pid).at(0).id == "inner");

  // The published stats agree with the call.
  const auto s = stats_of(rt, sup);
  CHECK(s.name == "root");
  CHECK(s.pid == sup);
  REQUIRE(s.children.size() == 3);
  for (size_t i = 0; i < 3; ++i) CHECK(s.children[i].pid == children[i].pid);
  CHECK(supervisor::all_stats(rt).size() == 2);
  CHECK_FALSE(supervisor::stats(rt, children[0].pid).has_value());  // a worker is no supervisor
}

TEST_CASE("count_children counts specs, running children, supervisors and workers", "[supervision][management]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());
  const Pid sup = start_sup(rt, tree(j));

  auto counts = supervisor::count_children(rt, sup);
  REQUIRE_OK(counts);
  CHECK(counts.value().specs == 3);
  CHECK(counts.value().active == 3);
  CHECK(counts.value().supervisors == 1);
  CHECK(counts.value().workers == 2);

  REQUIRE_OK(supervisor::terminate_child(rt, sup, "a"));
  counts = supervisor::count_children(rt, sup);
  REQUIRE_OK(counts);
  CHECK(counts.value().specs == 3);
  CHECK(counts.value().active == 2);
}

TEST_CASE("terminate_child stops a child, keeps its spec, and the supervisor leaves it stopped",
          "[supervision][management]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());
  const Pid sup = start_sup(rt, tree(j));
  const Pid a = running_pid(rt, sup, "a");

  REQUIRE_OK(supervisor::terminate_child(rt, sup, "a"));

  CHECK(dead(rt, a));
  const auto c = child_of(rt, sup, "a");
  CHECK(c.state == ChildState::stopped);
  CHECK_FALSE(c.pid.valid());
  CHECK(c.restarts == 0);
  CHECK(j->stop_reasons("a") == std::vector<ExitReason>{ExitReason::shutdown()});
  CHECK(stats_of(rt, sup).restarts_total == 0);
  CHECK(j->count("start a") == 1);

  // Terminating a stopped child is fine and changes nothing.
  REQUIRE_OK(supervisor::terminate_child(rt, sup, "a"));
  CHECK(child_of(rt, sup, "a").state == ChildState::stopped);
}

TEST_CASE("terminate_child of a child supervisor stops its whole subtree", "[supervision][management]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());
  const Pid sup = start_sup(rt, tree(j));
  const Pid sub = running_pid(rt, sup, "sub");
  const Pid inner = running_pid(rt, sub, "inner");

  REQUIRE_OK(supervisor::terminate_child(rt, sup, "sub"));

  CHECK(dead(rt, sub));
  CHECK(dead(rt, inner));
  CHECK(j->stop_reasons("inner") == std::vector<ExitReason>{ExitReason::shutdown()});
  CHECK_FALSE(supervisor::stats(rt, sub).has_value());
  CHECK(supervisor::all_stats(rt).size() == 1);
}

TEST_CASE("restart_child starts a stopped child again under a new pid", "[supervision][management]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());
  const Pid sup = start_sup(rt, tree(j));
  const Pid old = running_pid(rt, sup, "a");
  REQUIRE_OK(supervisor::terminate_child(rt, sup, "a"));

  auto r = supervisor::restart_child(rt, sup, "a");
  REQUIRE_OK(r);

  CHECK(r.value() != old);
  CHECK(rt.alive(r.value()));
  CHECK(running_pid(rt, sup, "a") == r.value());
  CHECK(j->count("start a") == 2);
  // A manual restart is not a crash restart.
  CHECK(stats_of(rt, sup).restarts_total == 0);
}

TEST_CASE("restart_child of a running child is refused", "[supervision][management]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());
  const Pid sup = start_sup(rt, tree(j));
  const Pid a = running_pid(rt, sup, "a");

  auto r = supervisor::restart_child(rt, sup, "a");
  REQUIRE_FALSE(r.ok());
  CHECK(r.code() == Errc::invalid_argument);
  CHECK_THAT(r.error().message(), Catch::Contains("'a'"));
  CHECK(running_pid(rt, sup, "a") == a);
}

TEST_CASE("delete_child removes a stopped child's spec and refuses a running child", "[supervision][management]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());
  const Pid sup = start_sup(rt, tree(j));
  const Pid a = running_pid(rt, sup, "a");

  const Status refused = supervisor::delete_child(rt, sup, "a");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.code() == Errc::invalid_argument);
  CHECK_THAT(refused.error().message(), Catch::Contains("running"));
  CHECK(rt.alive(a));
  CHECK(children_of(rt, sup).size() == 3);

  REQUIRE_OK(supervisor::terminate_child(rt, sup, "a"));
  REQUIRE_OK(supervisor::delete_child(rt, sup, "a"));

  const auto children = children_of(rt, sup);
  REQUIRE(children.size() == 2);
  CHECK(children[0].id == "sub");
  CHECK(children[1].id == "b");
  auto counts = supervisor::count_children(rt, sup);
  REQUIRE_OK(counts);
  CHECK(counts.value().specs == 2);
  // The id is free again.
  CHECK(supervisor::restart_child(rt, sup, "a").code() == Errc::invalid_argument);
}

TEST_CASE("terminate_child, restart_child and delete_child refuse an unknown child id", "[supervision][management]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());
  const Pid sup = start_sup(rt, tree(j));

  const Status t = supervisor::terminate_child(rt, sup, "nope");
  CHECK(t.code() == Errc::invalid_argument);
  CHECK_THAT(t.error().message(), Catch::Contains("'nope'"));
  const auto r = supervisor::restart_child(rt, sup, "nope");
  CHECK(r.code() == Errc::invalid_argument);
  CHECK_THAT(r.error().message(), Catch::Contains("'nope'"));
  const Status d = supervisor::delete_child(rt, sup, "nope");
  CHECK(d.code() == Errc::invalid_argument);
  CHECK_THAT(d.error().message(), Catch::Contains("'nope'"));

  // Nothing changed.
  CHECK(children_of(rt, sup).size() == 3);
  CHECK(all_running(rt, sup, 3));
}

TEST_CASE("calls on a pid that is no supervisor fail instead of hanging", "[supervision][management]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());
  const Pid sup = start_sup(rt, tree(j));
  const Pid a = running_pid(rt, sup, "a");
  REQUIRE_OK(supervisor::terminate_child(rt, sup, "a"));

  // A dead pid.
  CHECK(supervisor::which_children(rt, a).code() == Errc::dead_process);
  CHECK(supervisor::count_children(rt, a).code() == Errc::dead_process);
  // A live process that is not a supervisor.
  const Pid b = running_pid(rt, sup, "b");
  CHECK_FALSE(supervisor::which_children(rt, b, 2s).ok());
}

TEST_CASE("start_child adds a child to a static supervisor, after the others", "[supervision][management]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());
  const Pid sup = start_sup(rt, tree(j));

  auto r = supervisor::start_child(rt, sup, worker("late", j));
  REQUIRE_OK(r);
  CHECK(rt.alive(r.value()));
  const auto children = children_of(rt, sup);
  REQUIRE(children.size() == 4);
  CHECK(children.back().id == "late");
  CHECK(children.back().pid == r.value());

  // Supervised like the others: restarted when it crashes.
  REQUIRE_OK(rt.send(r.value(), Crash{}));
  wait_restarted(rt, sup, "late", r.value());

  // Ids are unique.
  auto dup = supervisor::start_child(rt, sup, worker("late", j));
  CHECK(dup.code() == Errc::already_registered);

  // A child whose init fails is not added, and the error names it.
  WorkerTraits down;
  down.available = std::make_shared<std::atomic<bool>>(false);
  auto failed = supervisor::start_child(rt, sup, worker("broken", j, down));
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.code() == Errc::init_failed);
  CHECK(failed.error().message() == "supervisor 'root' → child 'broken' → init failed: connection refused");
  CHECK_FALSE(find_child(children_of(rt, sup), "broken").has_value());
}

}  // namespace test_supervision_management_test
