// Applications: booting a tree, boot errors that name the whole chain,
// optional children, readiness.
#include "support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_supervision_application_test {

using namespace canopy;
using namespace sup_test;

namespace {

// shop: root → [config, web_sup → [http, db_pool]]; db_pool needs `db_up`.
SupervisorSpec shop(const std::shared_ptr<Journal>& j, const std::shared_ptr<std::atomic<bool>>& db_up,
                    bool db_optional = false) {
  WorkerTraits db;
  db.available = db_up;
  db.init_error = "connection refused";

  SupervisorSpec web;
  web.name = "web_sup";
  web.flags = lenient();
  web.flags.backoff_initial = 10ms;
  web.flags.backoff_max = 50ms;
  web.children.push_back(worker("http", j));
  web.children.push_back(worker("db_pool", j, db));
  web.children.back().optional = db_optional;

  SupervisorSpec root;
  root.name = "root";
  root.flags = lenient();
  root.children.push_back(worker("config", j));
  root.children.push_back(ChildSpec::supervisor("web", web));
  return root;
}

}  // namespace

TEST_CASE("start_application boots the tree and the runtime becomes ready", "[supervision][application]") {
  auto j = std::make_shared<Journal>();
  auto db_up = std::make_shared<std::atomic<bool>>(true);
  Runtime rt(options());

  const auto before = rt.readiness();
  CHECK_FALSE(before.ready);
  CHECK_FALSE(before.reason.empty());

  auto app = rt.start_application("shop", shop(j, db_up));
  REQUIRE_OK(app);
  CHECK(stats_of(rt, app.value()).name == "root");
  CHECK(j->events.snapshot() == std::vector<std::string>{"start config", "start http", "start db_pool"});
  const auto ready = rt.readiness();
  INFO("readiness: " << ready.reason);
  CHECK(ready.ready);
  CHECK(rt.boot_failures().empty());

  // One application per name.
  auto again = rt.start_application("shop", shop(j, db_up));
  CHECK(again.code() == Errc::already_registered);
  CHECK(rt.alive(app.value()));
}

TEST_CASE("a boot failure three levels deep names the whole chain, exactly, and is logged once",
          "[supervision][application][boot]") {
  auto j = std::make_shared<Journal>();
  auto db_up = std::make_shared<std::atomic<bool>>(false);
  auto sink = std::make_shared<CaptureSink>();
  RuntimeOptions o = options();
  o.logger = capturing_logger(sink);
  Runtime rt(o);

  auto app = rt.start_application("shop", shop(j, db_up));

  REQUIRE_FALSE(app.ok());
  const std::string expected =
      "application 'shop' failed to start: supervisor 'root' → child 'web' → supervisor 'web_sup' → "
      "child 'db_pool' → init failed: connection refused";
  CHECK(app.error().message() == expected);
  CHECK(app.code() == Errc::init_failed);
  CHECK(sink->count(spdlog::level::err, expected) == 1);
  CHECK(sink->count_any(expected) == 1);

  // What did start is stopped again; nothing is left running.
  CHECK(j->count("start config") == 1);
  CHECK(j->count("start http") == 1);
  CHECK(j->count("start db_pool") == 0);
  CHECK(eventually([&] { return rt.process_count() == 0; }));
  CHECK(supervisor::all_stats(rt).empty());

  const auto failures = rt.boot_failures();
  CHECK(failures.count("db_pool") == 1);
  if (failures.count("db_pool") == 1) CHECK(failures.at("db_pool") == 1);
  CHECK_FALSE(rt.readiness().ready);

  // Once the database is up, the same application starts.
  db_up->store(true);
  auto retry = rt.start_application("shop", shop(j, db_up));
  REQUIRE_OK(retry);
  CHECK(rt.readiness().ready);
}

TEST_CASE("a boot failure of a direct child names the root supervisor and the child",
          "[supervision][application][boot]") {
  auto j = std::make_shared<Journal>();
  auto db_up = std::make_shared<std::atomic<bool>>(false);
  Runtime rt(options());
  WorkerTraits db;
  db.available = db_up;
  db.init_error = "no route to host";
  SupervisorSpec root;
  root.name = "root";
  root.flags = lenient();
  root.children.push_back(worker("db_pool", j, db));

  auto app = rt.start_application("shop", root);
  REQUIRE_FALSE(app.ok());
  CHECK(app.error().message() ==
        "application 'shop' failed to start: supervisor 'root' → child 'db_pool' → init failed: no route to host");

  // start_supervisor reports the chain without the application part.
  auto direct = start_supervisor(rt, root);
  REQUIRE_FALSE(direct.ok());
  CHECK(direct.error().message() == "supervisor 'root' → child 'db_pool' → init failed: no route to host");
}

TEST_CASE("an optional child that fails to boot does not block the application and is retried until it starts",
          "[supervision][application][optional]") {
  auto j = std::make_shared<Journal>();
  auto db_up = std::make_shared<std::atomic<bool>>(false);
  Runtime rt(options());

  auto app = rt.start_application("shop", shop(j, db_up, /*db_optional=*/true));
  REQUIRE_OK(app);

  const Pid web = running_pid(rt, app.value(), "web");
  const auto db = child_of(rt, web, "db_pool");
  CHECK(db.optional);
  CHECK(db.state == ChildState::restarting);
  CHECK_FALSE(db.pid.valid());
  CHECK_THAT(db.last_start_error, Catch::Contains("connection refused"));
  CHECK(child_of(rt, web, "http").state == ChildState::running);
  CHECK(rt.boot_failures().count("db_pool") == 1);

  // Optional children do not count for readiness.
  const auto ready = rt.readiness();
  INFO("readiness: " << ready.reason);
  CHECK(ready.ready);

  // Still retrying while the database is down (a call makes sure the
  // supervisor has handled whatever it had).
  CHECK(child_of(rt, web, "db_pool").state == ChildState::restarting);

  db_up->store(true);
  REQUIRE(eventually([&] { return child_in_state(rt, web, "db_pool", ChildState::running); }));
  const auto started = child_of(rt, web, "db_pool");
  CHECK(rt.alive(started.pid));
  CHECK(started.last_start_error.empty());
  CHECK(j->count("start db_pool") == 1);
  CHECK(rt.readiness().ready);
  // A boot retry is not a crash restart.
  CHECK(stats_of(rt, web).restarts_total == 0);
}

TEST_CASE("a non-optional child that is stopped makes the runtime not ready, naming it",
          "[supervision][application][readiness]") {
  auto j = std::make_shared<Journal>();
  auto db_up = std::make_shared<std::atomic<bool>>(true);
  Runtime rt(options());
  auto app = rt.start_application("shop", shop(j, db_up));
  REQUIRE_OK(app);
  REQUIRE(rt.readiness().ready);

  SECTION("a direct child of the root") {
    REQUIRE_OK(supervisor::terminate_child(rt, app.value(), "config"));
    const auto r = rt.readiness();
    CHECK_FALSE(r.ready);
    CHECK_THAT(r.reason, Catch::Contains("'shop'"));
    CHECK_THAT(r.reason, Catch::Contains("'root'"));
    CHECK_THAT(r.reason, Catch::Contains("'config'"));
    CHECK_THAT(r.reason, Catch::Contains("stopped"));

    REQUIRE_OK(supervisor::restart_child(rt, app.value(), "config"));
    const auto back = rt.readiness();
    INFO("readiness: " << back.reason);
    CHECK(back.ready);
  }
  SECTION("a child deeper in the tree") {
    const Pid web = running_pid(rt, app.value(), "web");
    REQUIRE_OK(supervisor::terminate_child(rt, web, "db_pool"));
    const auto r = rt.readiness();
    CHECK_FALSE(r.ready);
    CHECK_THAT(r.reason, Catch::Contains("'shop'"));
    CHECK_THAT(r.reason, Catch::Contains("'web_sup'"));
    CHECK_THAT(r.reason, Catch::Contains("'db_pool'"));

    REQUIRE_OK(supervisor::restart_child(rt, web, "db_pool"));
    CHECK(rt.readiness().ready);
  }
}

TEST_CASE("a registered supervisor can be found by name", "[supervision][application]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());
  SupervisorSpec spec;
  spec.name = "named_sup";
  spec.flags = lenient();
  spec.register_name = true;
  spec.children.push_back(worker("w", j));
  const Pid sup = start_sup(rt, spec);

  CHECK(rt.whereis("named_sup") == sup);
  CHECK(children_of(rt, rt.whereis("named_sup")).size() == 1);
}

TEST_CASE("a child registered by name keeps its name across restarts", "[supervision][application]") {
  auto j = std::make_shared<Journal>();
  Runtime rt(options());
  SupervisorSpec spec;
  spec.name = "s";
  spec.flags = lenient();
  spec.children.push_back(worker("w", j));
  spec.children.back().spawn.name = "the_worker";
  const Pid sup = start_sup(rt, spec);

  const Pid first = running_pid(rt, sup, "w");
  CHECK(rt.whereis("the_worker") == first);
  REQUIRE_OK(rt.send(first, Crash{}));
  const Pid second = wait_restarted(rt, sup, "w", first);
  CHECK(rt.whereis("the_worker") == second);
}

}  // namespace test_supervision_application_test
