// Task supervisors: a process that owns (is linked to) its tasks, and the
// tasks themselves, each a process that runs one function and stops.
#include "canopy/core/task_supervisor.hpp"

#include "canopy/core/runtime.hpp"
#include "canopy/telemetry/detail/mutex.hpp"
#include "runtime/cycle_clock.hpp"
#include "runtime/runtime_impl.hpp"

namespace canopy {
namespace detail {

// Where a task's result waits for whoever takes it. Thread-safe.
class TaskState {
 public:
  // The first completion wins; later ones are ignored.
  void complete(CallResult r) EXCLUDES(mu_) {
    std::shared_ptr<ReplySlot> forward;
    {
      MutexLock lock(&mu_);
      if (completed_) return;
      completed_ = true;
      if (waiter_) {
        forward = std::move(waiter_);
      } else {
        result_.emplace(std::move(r));
      }
    }
    if (forward) {
      forward->complete(std::move(r));
    } else {
      cv_.notify_all();
    }
  }
  // Takes the result if it arrives within `timeout`.
  std::optional<CallResult> take(std::chrono::milliseconds timeout) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!result_.has_value() && !taken_) {
      if (cv_.wait_until(mu_, deadline) == std::cv_status::timeout) break;
    }
    return take_locked();
  }
  std::optional<CallResult> take_now() EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    return take_locked();
  }
  // Hands the result to `slot` now or on completion.
  void forward_to(std::shared_ptr<ReplySlot> slot) EXCLUDES(mu_) {
    std::optional<CallResult> ready;
    {
      MutexLock lock(&mu_);
      if (!completed_) {
        waiter_ = std::move(slot);
        return;
      }
      ready = take_locked();
    }
    slot->complete(ready ? std::move(*ready)
                         : CallResult(Error(Errc::invalid_argument, "the task's result was already taken")));
  }

 private:
  std::optional<CallResult> take_locked() REQUIRES(mu_) {
    if (!result_) {
      if (taken_) return CallResult(Error(Errc::invalid_argument, "the task's result was already taken"));
      return std::nullopt;
    }
    std::optional<CallResult> r = std::move(result_);
    result_.reset();
    taken_ = true;
    return r;
  }

  Mutex mu_;
  CondVar cv_;
  bool completed_ GUARDED_BY(mu_) = false;
  bool taken_ GUARDED_BY(mu_) = false;
  std::optional<CallResult> result_ GUARDED_BY(mu_);
  std::shared_ptr<ReplySlot> waiter_ GUARDED_BY(mu_);
};

struct TaskSupervisorShared {
  std::string name;
  uint32_t max_children = 0;
  std::atomic<uint32_t> running{0};
  std::atomic<bool> stopped{false};  // stop() was called: every task is being killed
};

namespace {

struct RunTask {};

class TaskActor final : public Actor {
 public:
  TaskActor(std::function<std::unique_ptr<Message>()> work, std::shared_ptr<TaskState> state,
            std::shared_ptr<TaskSupervisorShared> shared)
      : work_(std::move(work)), state_(std::move(state)), shared_(std::move(shared)) {}
  ~TaskActor() override {
    state_->complete(Error(Errc::callee_exited, "the task exited before it finished (killed or shut down)"));
    shared_->running.fetch_sub(1, std::memory_order_relaxed);
  }
  Status init() override { return send(self(), RunTask{}); }
  void handle(Message& m) override {
    if (!m.is<RunTask>()) return;
    try {
      std::unique_ptr<Message> result = work_();
      // Killed while it ran (a handler cannot be preempted): the kill wins.
      if (kill_pending() || shared_->stopped.load(std::memory_order_relaxed)) {
        state_->complete(Error(Errc::callee_exited, "task " + self().to_string() + " was killed"));
      } else {
        state_->complete(std::move(result));
      }
    } catch (const std::exception& e) {
      state_->complete(Error(Errc::callee_exited, "task " + self().to_string() + " crashed: " + e.what()));
      throw;  // crash this process (and log it), as an uncaught task error does
    } catch (...) {
      state_->complete(Error(Errc::callee_exited, "task " + self().to_string() + " crashed: unknown exception"));
      throw;
    }
    stop();
  }

 private:
  std::function<std::unique_ptr<Message>()> work_;
  std::shared_ptr<TaskState> state_;
  std::shared_ptr<TaskSupervisorShared> shared_;
};

// The task supervisor process: traps its tasks' exits (tasks are temporary:
// never restarted) and takes them down with it.
class TaskSupervisorActor final : public Actor {
 public:
  Status init() override {
    trap_exit(true);
    return {};
  }
  void handle(Message& m) override {
    if (auto* e = m.as<ExitMessage>(); e != nullptr && e->from == parent() && !e->reason.is_normal()) stop(e->reason);
  }
};

}  // namespace
}  // namespace detail

Result<TaskSupervisor> TaskSupervisor::start(Runtime& rt, TaskSupervisorOptions options) {
  SpawnOptions o;
  o.name = options.name;
  Result<Pid> pid = rt.spawn(std::make_unique<detail::TaskSupervisorActor>(), std::move(o));
  if (!pid.ok()) return pid.error();
  auto shared = std::make_shared<detail::TaskSupervisorShared>();
  shared->name = options.name.empty() ? pid->to_string() : options.name;
  shared->max_children = options.max_children;
  return TaskSupervisor(&rt, pid.value(), std::move(shared));
}

Result<TaskHandle> TaskSupervisor::spawn_task(std::function<std::unique_ptr<Message>()> work) {
  const uint32_t before = shared_->running.fetch_add(1, std::memory_order_relaxed);
  if (shared_->max_children != 0 && before >= shared_->max_children) {
    shared_->running.fetch_sub(1, std::memory_order_relaxed);
    return Error(Errc::process_limit, "task supervisor '" + shared_->name + "' already runs max_children=" +
                                          std::to_string(shared_->max_children) + " tasks");
  }
  auto state = std::make_shared<detail::TaskState>();
  // From here the TaskActor's destructor gives the count back, whatever happens.
  auto actor = std::make_unique<detail::TaskActor>(std::move(work), state, shared_);
  SpawnOptions o;
  o.link = true;
  Result<Pid> pid = detail::impl_of(*rt_).spawn_under(pid_, std::move(actor), std::move(o));
  if (!pid.ok()) return pid.error();
  return TaskHandle(rt_, pid.value(), std::move(state));
}

size_t TaskSupervisor::running() const { return shared_->running.load(std::memory_order_relaxed); }

void TaskSupervisor::stop() {
  shared_->stopped.store(true, std::memory_order_relaxed);
  (void)rt_->exit(pid_, ExitReason::kill());
}

CallResult TaskHandle::await_untyped(std::chrono::milliseconds timeout) {
  if (detail::Process* p = detail::current_process(); p != nullptr && &p->runtime == &detail::impl_of(*rt_)) {
    return Error(Errc::not_in_process, "Task::await would block a scheduler thread; inside a process use await_async");
  }
  if (auto r = state_->take(timeout)) return std::move(*r);
  (void)rt_->exit(pid_, ExitReason::kill());
  return Error(Errc::timeout, "task " + pid_.to_string() + " did not finish within " + std::to_string(timeout.count()) +
                                  " ms; it was shut down");
}

std::optional<CallResult> TaskHandle::yield_untyped(std::chrono::milliseconds timeout) {
  if (detail::Process* p = detail::current_process(); p != nullptr && &p->runtime == &detail::impl_of(*rt_)) {
    return CallResult(
        Error(Errc::not_in_process, "Task::yield would block a scheduler thread; inside a process use await_async"));
  }
  return state_->take(timeout);
}

std::optional<CallResult> TaskHandle::shutdown_untyped() {
  (void)rt_->exit(pid_, ExitReason::kill());
  return state_->take_now();
}

void TaskHandle::await_async_untyped(std::chrono::milliseconds timeout, std::function<void(CallResult)> then) {
  detail::Process* caller = detail::current_process();
  if (caller == nullptr || &caller->runtime != &detail::impl_of(*rt_)) {
    then(CallResult(Error(Errc::not_in_process, "Task::await_async needs a calling process")));
    return;
  }
  const Pid task = pid_;
  Runtime* rt = rt_;
  detail::impl_of(*rt_).await_async(
      *caller, timeout,
      [this_state = state_](std::shared_ptr<detail::ReplySlot> slot) { this_state->forward_to(std::move(slot)); },
      [rt, task, then = std::move(then)](CallResult r) {
        if (!r.ok() && r.code() == Errc::timeout) (void)rt->exit(task, ExitReason::kill());
        then(std::move(r));
      });
}

}  // namespace canopy
