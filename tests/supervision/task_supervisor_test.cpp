// Task supervisors: async_nolink, await, yield, shutdown, await_async, and
// the guarantee that a task's failure never takes its caller down.
#include "support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_supervision_task_supervisor_test {

using namespace canopy;
using namespace sup_test;

namespace {

TaskSupervisor start_tasks(Runtime& rt, TaskSupervisorOptions o = {}) {
  auto r = TaskSupervisor::start(rt, std::move(o));
  REQUIRE_OK(r);
  return r.value();
}

// A task body that parks until `release` opens (bounded), then returns `value`.
auto parked(std::shared_ptr<Gate> entered, std::shared_ptr<Gate> release, int value) {
  return [entered = std::move(entered), release = std::move(release), value] {
    entered->open();
    (void)release->wait();
    return value;
  };
}

}  // namespace

TEST_CASE("a task's result is handed to whoever awaits it", "[supervision][task]") {
  Runtime rt(options());
  auto tasks = start_tasks(rt, {.name = "jobs"});
  CHECK(rt.whereis("jobs") == tasks.pid());

  auto task = tasks.async_nolink([] { return 6 * 7; });
  REQUIRE_OK(task);
  auto r = task.value().await(kPatience);
  REQUIRE_OK(r);
  CHECK(r.value() == 42);
  CHECK(eventually([&] { return dead(rt, task.value().pid()) && tasks.running() == 0; }));

  // A result is taken once.
  CHECK_FALSE(task.value().await(10ms).ok());

  // Tasks returning other types, or nothing.
  auto text = tasks.async_nolink([] { return std::string("done"); });
  REQUIRE_OK(text);
  auto t = text.value().await(kPatience);
  REQUIRE_OK(t);
  CHECK(t.value() == "done");
  std::atomic<bool> ran{false};
  auto nothing = tasks.async_nolink([&ran] { ran = true; });
  REQUIRE_OK(nothing);
  REQUIRE_OK(nothing.value().await(kPatience));
  CHECK(ran.load());
}

TEST_CASE("a task that throws hands an error to its awaiter", "[supervision][task]") {
  Runtime rt(options());
  auto tasks = start_tasks(rt);

  auto task = tasks.async_nolink([]() -> int { throw std::runtime_error("payment service down"); });
  REQUIRE_OK(task);
  auto r = task.value().await(kPatience);

  REQUIRE_FALSE(r.ok());
  CHECK(r.code() == Errc::callee_exited);
  CHECK_THAT(r.error().message(), Catch::Contains("payment service down"));
  CHECK(eventually([&] { return dead(rt, task.value().pid()); }));
  // The task supervisor is not taken down by its task.
  CHECK(rt.alive(tasks.pid()));
  auto next = tasks.async_nolink([] { return 1; });
  REQUIRE_OK(next);
  CHECK(next.value().await(kPatience).ok());
}

TEST_CASE("a task that is killed before it finishes hands an error to its awaiter", "[supervision][task]") {
  Runtime rt(options());
  auto entered = std::make_shared<Gate>();
  auto release = std::make_shared<Gate>();
  OpenOnExit open{release};
  auto tasks = start_tasks(rt);

  auto task = tasks.async_nolink(parked(entered, release, 1));
  REQUIRE_OK(task);
  REQUIRE(entered->wait(kPatience));

  SECTION("killed with an exit signal") { REQUIRE_OK(rt.exit(task.value().pid(), ExitReason::kill())); }
  SECTION("killed by Task::shutdown") { CHECK_FALSE(task.value().shutdown().has_value()); }
  SECTION("killed with its task supervisor") { tasks.stop(); }

  release->open();
  REQUIRE(eventually([&] { return dead(rt, task.value().pid()); }));
  auto r = task.value().await(kPatience);
  INFO("await: " << (r.ok() ? "the value " + std::to_string(r.value()) : r.error().to_string()));
  REQUIRE_FALSE(r.ok());
  CHECK(r.code() == Errc::callee_exited);
}

TEST_CASE("await gives up after its timeout and shuts the task down", "[supervision][task]") {
  Runtime rt(options());
  auto entered = std::make_shared<Gate>();
  auto release = std::make_shared<Gate>();
  OpenOnExit open{release};
  auto tasks = start_tasks(rt);

  auto task = tasks.async_nolink(parked(entered, release, 1));
  REQUIRE_OK(task);
  REQUIRE(entered->wait(kPatience));

  auto r = task.value().await(20ms);
  REQUIRE_FALSE(r.ok());
  CHECK(r.code() == Errc::timeout);

  // The running handler cannot be preempted: once it returns, the task is gone.
  release->open();
  CHECK(eventually([&] { return dead(rt, task.value().pid()) && tasks.running() == 0; }));
}

TEST_CASE("yield returns nothing while the task runs, and its result once it is done", "[supervision][task]") {
  Runtime rt(options());
  auto entered = std::make_shared<Gate>();
  auto release = std::make_shared<Gate>();
  OpenOnExit open{release};
  auto tasks = start_tasks(rt);

  auto task = tasks.async_nolink(parked(entered, release, 99));
  REQUIRE_OK(task);
  REQUIRE(entered->wait(kPatience));

  CHECK_FALSE(task.value().yield(10ms).has_value());
  CHECK(rt.alive(task.value().pid()));  // yield leaves the task running

  release->open();
  auto r = task.value().yield(kPatience);
  REQUIRE(r.has_value());
  REQUIRE_OK(*r);
  CHECK(r->value() == 99);
}

TEST_CASE("Task::shutdown of a finished task returns its result", "[supervision][task]") {
  Runtime rt(options());
  auto tasks = start_tasks(rt);
  auto task = tasks.async_nolink([] { return 5; });
  REQUIRE_OK(task);
  REQUIRE(eventually([&] { return dead(rt, task.value().pid()); }));

  auto r = task.value().shutdown();
  REQUIRE(r.has_value());
  REQUIRE_OK(*r);
  CHECK(r->value() == 5);
}

TEST_CASE("a task supervisor refuses tasks beyond max_children", "[supervision][task]") {
  Runtime rt(options());
  auto entered1 = std::make_shared<Gate>();
  auto entered2 = std::make_shared<Gate>();
  auto release = std::make_shared<Gate>();
  OpenOnExit open{release};
  auto tasks = start_tasks(rt, {.name = "limited", .max_children = 2});

  auto t1 = tasks.async_nolink(parked(entered1, release, 1));
  auto t2 = tasks.async_nolink(parked(entered2, release, 2));
  REQUIRE_OK(t1);
  REQUIRE_OK(t2);
  CHECK(tasks.running() == 2);

  auto t3 = tasks.async_nolink([] { return 3; });
  REQUIRE_FALSE(t3.ok());
  CHECK(t3.code() == Errc::process_limit);
  CHECK(tasks.running() == 2);

  release->open();
  auto r1 = t1.value().await(kPatience);
  auto r2 = t2.value().await(kPatience);
  REQUIRE_OK(r1);
  REQUIRE_OK(r2);
  CHECK(r1.value() + r2.value() == 3);
  REQUIRE(eventually([&] { return tasks.running() == 0; }));

  auto t4 = tasks.async_nolink([] { return 4; });
  REQUIRE_OK(t4);
  CHECK(t4.value().await(kPatience).value() == 4);
}

namespace {
struct Go {};
struct Outcome {
  Recorder<Pid> continuation_self;  // rt.self() inside the continuation
  Recorder<int> values;
  Recorder<Errc> errors;
  std::atomic<int> handled{0};
};
}  // namespace

TEST_CASE("await_async inside an actor runs the continuation in that actor's process", "[supervision][task]") {
  auto out = std::make_shared<Outcome>();
  Runtime rt(options());
  auto tasks = start_tasks(rt);
  Runtime* rtp = &rt;

  const Pid caller = spawn_fn(rt, [tasks, out, rtp](FunctionActor&, Message& m) mutable {
    out->handled.fetch_add(1);
    if (!m.is<Go>()) return;
    auto task = tasks.async_nolink([] { return 11; });
    if (!task.ok()) {
      out->errors.push(task.code());
      return;
    }
    task.value().await_async(kPatience, [out, rtp](Result<int> r) {
      out->continuation_self.push(rtp->self());
      if (r.ok()) {
        out->values.push(r.value());
      } else {
        out->errors.push(r.code());
      }
    });
  });

  REQUIRE_OK(rt.send(caller, Go{}));
  REQUIRE(out->continuation_self.wait_size(1));
  CHECK(out->continuation_self.snapshot() == std::vector<Pid>{caller});
  CHECK(out->values.snapshot() == std::vector<int>{11});
  CHECK(out->errors.size() == 0);
  CHECK(rt.alive(caller));
}

TEST_CASE("await_async times out with Errc::timeout and shuts the task down", "[supervision][task]") {
  auto out = std::make_shared<Outcome>();
  auto entered = std::make_shared<Gate>();
  auto release = std::make_shared<Gate>();
  Runtime rt(options());
  OpenOnExit open{release};
  auto tasks = start_tasks(rt);
  auto task_pid = std::make_shared<std::atomic<uint64_t>>(0);
  Runtime* rtp = &rt;

  const Pid caller = spawn_fn(rt, [tasks, out, rtp, entered, release, task_pid](FunctionActor&, Message& m) mutable {
    if (!m.is<Go>()) return;
    auto task = tasks.async_nolink(parked(entered, release, 1));
    if (!task.ok()) {
      out->errors.push(task.code());
      return;
    }
    task_pid->store(task.value().pid().raw());
    task.value().await_async(20ms, [out, rtp](Result<int> r) {
      out->continuation_self.push(rtp->self());
      if (r.ok()) {
        out->values.push(r.value());
      } else {
        out->errors.push(r.code());
      }
    });
  });

  REQUIRE_OK(rt.send(caller, Go{}));
  REQUIRE(entered->wait(kPatience));
  REQUIRE(out->continuation_self.wait_size(1));  // the timeout
  CHECK(out->errors.snapshot() == std::vector<Errc>{Errc::timeout});
  CHECK(out->continuation_self.snapshot() == std::vector<Pid>{caller});

  release->open();
  CHECK(eventually([&] { return dead(rt, Pid::from_raw(task_pid->load())); }));
  CHECK(out->continuation_self.size() == 1);  // the continuation runs once
  CHECK(rt.alive(caller));
}

TEST_CASE("a crashing task never kills the process that started it", "[supervision][task]") {
  auto out = std::make_shared<Outcome>();
  Runtime rt(options());
  auto tasks = start_tasks(rt);
  Runtime* rtp = &rt;

  const Pid caller = spawn_fn(rt, [tasks, out, rtp](FunctionActor&, Message& m) mutable {
    out->handled.fetch_add(1);
    if (!m.is<Go>()) return;
    auto task = tasks.async_nolink([]() -> int { throw std::runtime_error("task blew up"); });
    if (!task.ok()) {
      out->errors.push(task.code());
      return;
    }
    task.value().await_async(kPatience, [out, rtp](Result<int> r) {
      out->continuation_self.push(rtp->self());
      if (r.ok()) {
        out->values.push(r.value());
      } else {
        out->errors.push(r.code());
      }
    });
  });

  REQUIRE_OK(rt.send(caller, Go{}));
  REQUIRE(out->errors.wait_size(1));
  CHECK(out->errors.snapshot() == std::vector<Errc>{Errc::callee_exited});
  CHECK(out->continuation_self.snapshot() == std::vector<Pid>{caller});

  // The caller is alive and still handles messages.
  const int handled = out->handled.load();
  REQUIRE_OK(rt.send(caller, 1));
  CHECK(eventually([&] { return out->handled.load() > handled; }));
  CHECK(rt.alive(caller));
  CHECK(rt.alive(tasks.pid()));
  const auto info = rt.process_info(caller);
  REQUIRE(info.has_value());
  CHECK(info->links.empty());  // async_nolink: never linked to the caller
}

TEST_CASE("Task::await inside a process refuses instead of blocking a scheduler", "[supervision][task]") {
  auto out = std::make_shared<Outcome>();
  Runtime rt(options());
  auto tasks = start_tasks(rt);

  const Pid caller = spawn_fn(rt, [tasks, out](FunctionActor&, Message& m) mutable {
    if (!m.is<Go>()) return;
    auto task = tasks.async_nolink([] { return 1; });
    if (!task.ok()) return;
    out->errors.push(task.value().await(kPatience).code());
  });
  REQUIRE_OK(rt.send(caller, Go{}));
  REQUIRE(out->errors.wait_size(1));
  CHECK(out->errors.snapshot() == std::vector<Errc>{Errc::not_in_process});
}

TEST_CASE("await_async outside a process runs the continuation at once with not_in_process", "[supervision][task]") {
  Runtime rt(options());
  auto tasks = start_tasks(rt);
  auto task = tasks.async_nolink([] { return 1; });
  REQUIRE_OK(task);
  std::optional<Errc> got;
  task.value().await_async(kPatience, [&got](Result<int> r) { got = r.code(); });
  REQUIRE(got.has_value());
  CHECK(*got == Errc::not_in_process);
}

TEST_CASE("stopping a task supervisor kills its running tasks", "[supervision][task]") {
  Runtime rt(options());
  auto entered = std::make_shared<Gate>();
  auto release = std::make_shared<Gate>();
  OpenOnExit open{release};
  auto tasks = start_tasks(rt);
  auto task = tasks.async_nolink(parked(entered, release, 1));
  REQUIRE_OK(task);
  REQUIRE(entered->wait(kPatience));

  tasks.stop();
  REQUIRE(eventually([&] { return dead(rt, tasks.pid()); }));
  release->open();
  CHECK(eventually([&] { return dead(rt, task.value().pid()) && tasks.running() == 0; }));
  CHECK(eventually([&] { return rt.process_count() == 0; }));
}

}  // namespace test_supervision_task_supervisor_test
