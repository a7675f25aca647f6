// How children are stopped: shutdown specs (brutal_kill, a timeout,
// infinity), and the order of starts and stops in a tree.
#include "support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_supervision_shutdown_test {

using namespace canopy;
using namespace sup_test;

namespace {

SupervisorSpec single(ChildSpec child) {
  SupervisorSpec spec;
  spec.name = "s";
  spec.flags = lenient();
  spec.children.push_back(std::move(child));
  return spec;
}

}  // namespace

TEST_CASE("a child that traps exits and ignores the shutdown signal is killed when its shutdown timeout expires",
          "[supervision][shutdown]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());
  WorkerTraits stubborn;
  stubborn.trap_exits = true;
  stubborn.ignore_exit_signals = true;
  ChildSpec child = worker("stubborn", j, stubborn);
  child.shutdown = Shutdown::after(100ms);
  const Pid sup = start_sup(rt, single(child));
  const Pid pid = running_pid(rt, sup, "stubborn");

  REQUIRE_OK(supervisor::terminate_child(rt, sup, "stubborn"));

  CHECK(dead(rt, pid));
  // It was asked first (and ignored it), then killed: terminate() never ran.
  CHECK(j->trapped_reasons("stubborn") == std::vector<ExitReason>{ExitReason::shutdown()});
  CHECK(j->stop_reasons("stubborn").empty());
  const auto c = child_of(rt, sup, "stubborn");
  CHECK(c.state == ChildState::stopped);
  CHECK_FALSE(c.pid.valid());
  CHECK(c.last_exit_reason == "killed");
  CHECK(c.restarts == 0);
  CHECK(rt.alive(sup));
}

TEST_CASE("a brutal_kill child is killed at once, without a shutdown signal first", "[supervision][shutdown]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());
  WorkerTraits trapping;
  trapping.trap_exits = true;  // would see a shutdown signal, if one came
  ChildSpec child = worker("victim", j, trapping);
  child.shutdown = Shutdown::brutal_kill();
  const Pid sup = start_sup(rt, single(child));
  const Pid pid = running_pid(rt, sup, "victim");

  REQUIRE_OK(supervisor::terminate_child(rt, sup, "victim"));

  CHECK(dead(rt, pid));
  CHECK(j->trapped_reasons("victim").empty());
  CHECK(j->stop_reasons("victim").empty());
  const auto c = child_of(rt, sup, "victim");
  CHECK(c.state == ChildState::stopped);
  CHECK(c.last_exit_reason == "killed");
}

TEST_CASE("a cooperative child with shutdown infinity is waited for and cleans up", "[supervision][shutdown]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());
  WorkerTraits cooperative;
  cooperative.trap_exits = true;  // gets the shutdown signal as a message, then leaves
  ChildSpec child = worker("db", j, cooperative);
  child.shutdown = Shutdown::infinity();
  const Pid sup = start_sup(rt, single(child));
  const Pid pid = running_pid(rt, sup, "db");

  REQUIRE_OK(supervisor::terminate_child(rt, sup, "db"));

  CHECK(dead(rt, pid));
  CHECK(j->trapped_reasons("db") == std::vector<ExitReason>{ExitReason::shutdown()});
  CHECK(j->stop_reasons("db") == std::vector<ExitReason>{ExitReason::shutdown()});
  const auto c = child_of(rt, sup, "db");
  CHECK(c.state == ChildState::stopped);
  CHECK(c.last_exit_reason == "shutdown");
}

TEST_CASE("a child that does not trap exits stops on the shutdown signal and its terminate() runs",
          "[supervision][shutdown]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());
  ChildSpec child = worker("plain", j);
  child.shutdown = Shutdown::after(std::chrono::milliseconds(kPatience));
  const Pid sup = start_sup(rt, single(child));
  const Pid pid = running_pid(rt, sup, "plain");

  REQUIRE_OK(supervisor::terminate_child(rt, sup, "plain"));

  CHECK(dead(rt, pid));
  CHECK(j->stop_reasons("plain") == std::vector<ExitReason>{ExitReason::shutdown()});
  CHECK(child_of(rt, sup, "plain").last_exit_reason == "shutdown");
}

TEST_CASE("children start in order and a supervisor stops them in reverse order", "[supervision][shutdown][order]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());

  SupervisorSpec sub;
  sub.name = "sub";
  sub.flags = lenient();
  for (const char* id : {"a", "b", "c"}) sub.children.push_back(worker(id, j));

  SupervisorSpec root;
  root.name = "root";
  root.flags = lenient();
  root.children.push_back(worker("first", j));
  root.children.push_back(ChildSpec::supervisor("sub", sub));
  root.children.push_back(worker("last", j));
  const Pid root_pid = start_sup(rt, root);

  CHECK(j->events.snapshot() == std::vector<std::string>{"start first", "start a", "start b", "start c", "start last"});
  const auto sub_children = children_of(rt, running_pid(rt, root_pid, "sub"));
  REQUIRE(sub_children.size() == 3);
  CHECK(sub_children[0].id == "a");
  CHECK(sub_children[1].id == "b");
  CHECK(sub_children[2].id == "c");

  // Stopping the subtree stops its children newest first, and terminate_child
  // returns once they are all gone.
  const size_t mark = j->events.size();
  REQUIRE_OK(supervisor::terminate_child(rt, root_pid, "sub"));
  CHECK(j->events_from(mark) == std::vector<std::string>{"stop c", "stop b", "stop a"});
  for (const char* id : {"a", "b", "c"}) CHECK(j->stop_reasons(id) == std::vector<ExitReason>{ExitReason::shutdown()});
  CHECK(rt.alive(running_pid(rt, root_pid, "first")));
  CHECK(rt.alive(running_pid(rt, root_pid, "last")));

  // Started again: in order.
  const size_t mark2 = j->events.size();
  REQUIRE_OK(supervisor::restart_child(rt, root_pid, "sub"));
  CHECK(j->events_from(mark2) == std::vector<std::string>{"start a", "start b", "start c"});
}

TEST_CASE("stop_application stops the whole tree in reverse start order and waits for it",
          "[supervision][shutdown][order][application]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());

  SupervisorSpec sub;
  sub.name = "sub";
  sub.flags = lenient();
  sub.children.push_back(worker("b1", j));
  sub.children.push_back(worker("b2", j));

  SupervisorSpec root;
  root.name = "root";
  root.flags = lenient();
  root.children.push_back(worker("a", j));
  root.children.push_back(ChildSpec::supervisor("sub", sub));
  root.children.push_back(worker("c", j));

  auto app = rt.start_application("shop", root);
  REQUIRE_OK(app);
  CHECK(j->events.snapshot() == std::vector<std::string>{"start a", "start b1", "start b2", "start c"});
  REQUIRE(rt.readiness().ready);

  const size_t mark = j->events.size();
  REQUIRE_OK(rt.stop_application("shop", std::chrono::milliseconds(kPatience)));

  CHECK(dead(rt, app.value()));
  CHECK(j->events_from(mark) == std::vector<std::string>{"stop c", "stop b2", "stop b1", "stop a"});
  for (const char* id : {"a", "b1", "b2", "c"}) {
    INFO("child " << id);
    CHECK(j->stop_reasons(id) == std::vector<ExitReason>{ExitReason::shutdown()});
  }
  CHECK(j->count("start a") == 1);  // nothing was restarted on the way down
  CHECK(eventually([&] { return rt.process_count() == 0; }));
  CHECK_FALSE(rt.readiness().ready);
  CHECK(rt.stop_application("shop").code() == Errc::not_registered);
}

TEST_CASE("stop_application does not bring back a child that was terminated before",
          "[supervision][shutdown][application]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());
  SupervisorSpec root;
  root.name = "root";
  root.flags = lenient();
  root.children.push_back(worker("a", j));
  root.children.push_back(worker("b", j));
  auto app = rt.start_application("shop", root);
  REQUIRE_OK(app);
  REQUIRE_OK(supervisor::terminate_child(rt, app.value(), "b"));
  REQUIRE(child_of(rt, app.value(), "b").state == ChildState::stopped);

  const Status stopped = rt.stop_application("shop", std::chrono::milliseconds(kPatience));
  INFO("stop_application: " << stopped.to_string());
  CHECK(stopped.ok());
  CHECK(j->count("start b") == 1);  // a stopped child stays stopped
  CHECK(eventually([&] { return dead(rt, app.value()); }));
}

}  // namespace test_supervision_shutdown_test
