// Restart strategies: which children a crash takes down and starts again.
#include "support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_supervision_strategy_test {

using namespace canopy;
using namespace sup_test;

namespace {

// A supervisor `name` over workers a, b, c (in that order).
SupervisorSpec abc(const std::string& name, Strategy strategy, const std::shared_ptr<Journal>& j) {
  SupervisorSpec spec;
  spec.name = name;
  spec.flags = lenient(strategy);
  for (const char* id : {"a", "b", "c"}) spec.children.push_back(worker(id, j));
  return spec;
}

}  // namespace

TEST_CASE("one_for_one restarts only the child that crashed", "[supervision][strategy]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());
  const Pid sup = start_sup(rt, abc("s", Strategy::one_for_one, j));
  const auto before = pid_map(rt, sup);
  const size_t mark = j->events.size();

  REQUIRE_OK(rt.send(before.at("b"), Crash{"b fell over"}));
  const Pid new_b = wait_restarted(rt, sup, "b", before.at("b"));

  const auto after = pid_map(rt, sup);
  CHECK(after.at("a") == before.at("a"));
  CHECK(after.at("b") == new_b);
  CHECK(after.at("c") == before.at("c"));
  CHECK(rt.alive(before.at("a")));
  CHECK(rt.alive(before.at("c")));
  CHECK(dead(rt, before.at("b")));
  CHECK(j->events_from(mark) == std::vector<std::string>{"stop b", "start b"});
  CHECK(j->stop_reasons("b") == std::vector<ExitReason>{ExitReason::error("b fell over")});

  const auto s = stats_of(rt, sup);
  CHECK(s.strategy == Strategy::one_for_one);
  CHECK(s.restarts_total == 1);
  const auto b = find_child(s.children, "b");
  REQUIRE(b.has_value());
  CHECK(b->restarts == 1);
  CHECK(b->last_exit_reason == "error: b fell over");
  CHECK(find_child(s.children, "a")->restarts == 0);
  CHECK(find_child(s.children, "c")->restarts == 0);
  CHECK(rt.stats().supervisor_restarts == 1);
}

TEST_CASE("one_for_all restarts every sibling when one child crashes", "[supervision][strategy]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());
  const Pid sup = start_sup(rt, abc("s", Strategy::one_for_all, j));
  const auto before = pid_map(rt, sup);
  const size_t mark = j->events.size();

  REQUIRE_OK(rt.send(before.at("b"), Crash{"b fell over"}));
  for (const char* id : {"a", "b", "c"}) wait_restarted(rt, sup, id, before.at(id));

  const auto after = pid_map(rt, sup);
  for (const char* id : {"a", "b", "c"}) {
    INFO("child " << id);
    CHECK(after.at(id) != before.at(id));
    CHECK(dead(rt, before.at(id)));
    CHECK(rt.alive(after.at(id)));
  }
  // The crashed child is gone; the others are stopped newest first, then all
  // start again in order.
  CHECK(j->events_from(mark) ==
        std::vector<std::string>{"stop b", "stop c", "stop a", "start a", "start b", "start c"});
  CHECK(j->stop_reasons("a") == std::vector<ExitReason>{ExitReason::shutdown()});
  CHECK(j->stop_reasons("c") == std::vector<ExitReason>{ExitReason::shutdown()});

  const auto s = stats_of(rt, sup);
  CHECK(s.restarts_total == 1);
  CHECK(find_child(s.children, "b")->restarts == 1);
  CHECK(rt.alive(sup));
}

TEST_CASE("rest_for_one restarts the crashed child and the children started after it", "[supervision][strategy]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());
  const Pid sup = start_sup(rt, abc("s", Strategy::rest_for_one, j));
  const auto before = pid_map(rt, sup);
  const size_t mark = j->events.size();

  REQUIRE_OK(rt.send(before.at("b"), Crash{"b fell over"}));
  wait_restarted(rt, sup, "b", before.at("b"));
  wait_restarted(rt, sup, "c", before.at("c"));

  const auto after = pid_map(rt, sup);
  CHECK(after.at("a") == before.at("a"));
  CHECK(rt.alive(before.at("a")));
  CHECK(after.at("b") != before.at("b"));
  CHECK(after.at("c") != before.at("c"));
  CHECK(dead(rt, before.at("b")));
  CHECK(dead(rt, before.at("c")));
  CHECK(j->events_from(mark) == std::vector<std::string>{"stop b", "stop c", "start b", "start c"});
  CHECK(j->stop_reasons("a").empty());

  const auto s = stats_of(rt, sup);
  CHECK(s.restarts_total == 1);
  CHECK(find_child(s.children, "b")->restarts == 1);
}

TEST_CASE("rest_for_one: a crash of the last child restarts only that child", "[supervision][strategy]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());
  const Pid sup = start_sup(rt, abc("s", Strategy::rest_for_one, j));
  const auto before = pid_map(rt, sup);

  REQUIRE_OK(rt.send(before.at("c"), Crash{}));
  wait_restarted(rt, sup, "c", before.at("c"));

  const auto after = pid_map(rt, sup);
  CHECK(after.at("a") == before.at("a"));
  CHECK(after.at("b") == before.at("b"));
  CHECK(after.at("c") != before.at("c"));
}

TEST_CASE("simple_one_for_one starts children from its template on demand", "[supervision][strategy][dynamic]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());
  SupervisorSpec spec;
  spec.name = "pool";
  spec.flags = lenient(Strategy::simple_one_for_one);
  spec.children.push_back(worker("conn", j));
  const Pid sup = start_sup(rt, spec);

  // The template is not a child.
  CHECK(children_of(rt, sup).empty());
  CHECK(j->events.size() == 0);

  std::vector<Pid> started;
  for (int i = 0; i < 3; ++i) {
    auto r = supervisor::start_child(rt, sup, ChildSpec{});
    REQUIRE_OK(r);
    started.push_back(r.value());
  }
  CHECK(j->count("start conn") == 3);
  CHECK(started[0] != started[1]);
  CHECK(started[1] != started[2]);

  const auto children = children_of(rt, sup);
  REQUIRE(children.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(children[i].pid == started[i]);
    CHECK(children[i].state == ChildState::running);
    CHECK(rt.alive(started[i]));
  }
  auto counts = supervisor::count_children(rt, sup);
  REQUIRE_OK(counts);
  CHECK(counts.value().specs == 3);
  CHECK(counts.value().active == 3);
  CHECK(counts.value().workers == 3);
  CHECK(counts.value().supervisors == 0);
}

TEST_CASE("simple_one_for_one refuses start_child beyond max_children", "[supervision][strategy][dynamic]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());
  SupervisorSpec spec;
  spec.name = "pool";
  spec.flags = lenient(Strategy::simple_one_for_one);
  spec.flags.max_children = 2;
  spec.children.push_back(worker("conn", j));
  const Pid sup = start_sup(rt, spec);

  auto first = supervisor::start_child(rt, sup, ChildSpec{});
  auto second = supervisor::start_child(rt, sup, ChildSpec{});
  REQUIRE_OK(first);
  REQUIRE_OK(second);

  auto third = supervisor::start_child(rt, sup, ChildSpec{});
  REQUIRE_FALSE(third.ok());
  CHECK(third.code() == Errc::process_limit);
  CHECK(children_of(rt, sup).size() == 2);
  CHECK(j->count("start conn") == 2);

  // Room again once a child is gone.
  REQUIRE_OK(supervisor::terminate_child(rt, sup, first.value().to_string()));
  CHECK(dead(rt, first.value()));
  CHECK(children_of(rt, sup).size() == 1);
  auto again = supervisor::start_child(rt, sup, ChildSpec{});
  REQUIRE_OK(again);
  CHECK(children_of(rt, sup).size() == 2);
}

TEST_CASE("simple_one_for_one does not restart temporary children and forgets them",
          "[supervision][strategy][dynamic]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());
  SupervisorSpec spec;
  spec.name = "pool";
  spec.flags = lenient(Strategy::simple_one_for_one);
  spec.children.push_back(worker("conn", j));
  spec.children.back().restart = Restart::temporary;
  const Pid sup = start_sup(rt, spec);

  auto a = supervisor::start_child(rt, sup, ChildSpec{});
  auto b = supervisor::start_child(rt, sup, ChildSpec{});
  REQUIRE_OK(a);
  REQUIRE_OK(b);

  REQUIRE_OK(rt.send(a.value(), Crash{}));
  REQUIRE(eventually([&] { return dead(rt, a.value()); }));
  REQUIRE(eventually([&] {
    auto s = supervisor::stats(rt, sup);
    return s && s->children.size() == 1;
  }));

  // A call is answered after the EXIT was handled: the state is settled.
  const auto children = children_of(rt, sup);
  REQUIRE(children.size() == 1);
  CHECK(children[0].pid == b.value());
  auto counts = supervisor::count_children(rt, sup);
  REQUIRE_OK(counts);
  CHECK(counts.value().specs == 1);
  CHECK(counts.value().active == 1);
  CHECK(stats_of(rt, sup).restarts_total == 0);
  CHECK(j->count("start conn") == 2);
  CHECK(rt.alive(b.value()));
}

TEST_CASE("simple_one_for_one restarts a permanent child, which stays addressable by its new pid",
          "[supervision][strategy][dynamic]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());
  SupervisorSpec spec;
  spec.name = "pool";
  spec.flags = lenient(Strategy::simple_one_for_one);
  spec.children.push_back(worker("conn", j));
  const Pid sup = start_sup(rt, spec);

  auto first = supervisor::start_child(rt, sup, ChildSpec{});
  REQUIRE_OK(first);
  REQUIRE_OK(rt.send(first.value(), Crash{}));

  REQUIRE(eventually([&] {
    auto s = supervisor::stats(rt, sup);
    return s && s->children.size() == 1 && s->children[0].state == ChildState::running && s->children[0].pid.valid() &&
           s->children[0].pid != first.value();
  }));
  const ChildInfo child = children_of(rt, sup).at(0);
  CHECK(child.restarts == 1);
  CHECK(stats_of(rt, sup).restarts_total == 1);
  CHECK(j->count("start conn") == 2);

  // A dynamic child is named by its pid's text: the restarted child answers to its new pid.
  CHECK(child.id == child.pid.to_string());
  REQUIRE_OK(supervisor::terminate_child(rt, sup, child.pid.to_string()));
  CHECK(dead(rt, child.pid));
  CHECK(children_of(rt, sup).empty());
}

TEST_CASE("simple_one_for_one needs exactly one template child spec", "[supervision][strategy][dynamic]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());
  SupervisorSpec spec;
  spec.name = "pool";
  spec.flags = lenient(Strategy::simple_one_for_one);
  spec.children.push_back(worker("one", j));
  spec.children.push_back(worker("two", j));

  auto r = start_supervisor(rt, spec);
  REQUIRE_FALSE(r.ok());
  CHECK(r.code() == Errc::init_failed);
  CHECK_THAT(r.error().message(), Catch::Contains("simple_one_for_one"));
  CHECK(rt.process_count() == 0);
}

TEST_CASE("one_for_all leaves a child that was terminated on purpose stopped", "[supervision][strategy]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());
  const Pid sup = start_sup(rt, abc("s", Strategy::one_for_all, j));
  REQUIRE_OK(supervisor::terminate_child(rt, sup, "c"));
  const auto before = pid_map(rt, sup);

  REQUIRE_OK(rt.send(before.at("a"), Crash{}));
  wait_restarted(rt, sup, "a", before.at("a"));
  wait_restarted(rt, sup, "b", before.at("b"));

  const auto c = child_of(rt, sup, "c");  // a call: the restart is over
  CHECK(c.state == ChildState::stopped);
  CHECK_FALSE(c.pid.valid());
  CHECK(j->count("start c") == 1);
  CHECK(stats_of(rt, sup).restarts_total == 1);
}

}  // namespace test_supervision_strategy_test
