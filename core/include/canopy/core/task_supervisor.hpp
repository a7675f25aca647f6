#pragma once
// Tasks, as Elixir's Task.Supervisor.async_nolink: run a function in its own
// process under a task supervisor and collect its result later. A task that
// throws or is killed hands an error to whoever awaits it; it never takes the
// caller down. A task's result can be taken once (await, or a yield that
// returns it).
//
//   auto tasks = TaskSupervisor::start(rt, {.name = "jobs", .max_children = 100}).value();
//   auto task = tasks.async_nolink([] { return expensive(); }).value();
//   Result<int> r = task.await(500ms);          // outside the runtime: blocks
//   task.await_async(500ms, [](Result<int> r) { ... });  // inside an actor: never blocks
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <variant>

#include "canopy/core/call.hpp"
#include "canopy/core/pid.hpp"
#include "canopy/core/result.hpp"

namespace canopy {

class Runtime;

namespace detail {
class TaskState;
struct TaskSupervisorShared;
}  // namespace detail

// The untyped part of a task handle. Thread-safe.
class TaskHandle {
 public:
  Pid pid() const { return pid_; }
  CallResult await_untyped(std::chrono::milliseconds timeout);
  std::optional<CallResult> yield_untyped(std::chrono::milliseconds timeout);
  std::optional<CallResult> shutdown_untyped();
  void await_async_untyped(std::chrono::milliseconds timeout, std::function<void(CallResult)> then);

 private:
  friend class TaskSupervisor;
  TaskHandle(Runtime* rt, Pid pid, std::shared_ptr<detail::TaskState> state)
      : rt_(rt), pid_(pid), state_(std::move(state)) {}
  Runtime* rt_;
  Pid pid_;
  std::shared_ptr<detail::TaskState> state_;
};

template <typename T>
class Task {
 public:
  explicit Task(TaskHandle handle) : handle_(std::move(handle)) {}
  Pid pid() const { return handle_.pid(); }
  // Outside the runtime: the result, or an error (the task threw, was
  // killed, or did not finish within `timeout` — then it is shut down).
  Result<T> await(std::chrono::milliseconds timeout) { return typed_reply<T>(handle_.await_untyped(timeout)); }
  // Outside the runtime: the result if it arrives within `timeout`, else
  // nullopt and the task keeps running (ask again later).
  std::optional<Result<T>> yield(std::chrono::milliseconds timeout) {
    auto r = handle_.yield_untyped(timeout);
    if (!r) return std::nullopt;
    return typed_reply<T>(std::move(*r));
  }
  // Kills the task; its result if it had already finished.
  std::optional<Result<T>> shutdown() {
    auto r = handle_.shutdown_untyped();
    if (!r) return std::nullopt;
    return typed_reply<T>(std::move(*r));
  }
  // Inside an actor: `then` runs later in the calling process with the result
  // or with Errc::timeout (the task is then shut down). Outside a process,
  // `then` runs at once with Errc::not_in_process.
  void await_async(std::chrono::milliseconds timeout, std::function<void(Result<T>)> then) {
    handle_.await_async_untyped(timeout,
                                [then = std::move(then)](CallResult r) { then(typed_reply<T>(std::move(r))); });
  }

 private:
  TaskHandle handle_;
};

struct TaskSupervisorOptions {
  std::string name;           // registered under this name when not empty
  uint32_t max_children = 0;  // 0 = unlimited
};

// A handle to a task supervisor process. Copyable; thread-safe.
class TaskSupervisor {
 public:
  static Result<TaskSupervisor> start(Runtime& rt, TaskSupervisorOptions options = {});

  // Runs `fn()` in a new process linked to the task supervisor (not to the
  // caller). Errors: process_limit when max_children tasks are running.
  template <typename F>
  auto async_nolink(F&& fn) {
    using R = std::invoke_result_t<F>;
    using T = std::conditional_t<std::is_void_v<R>, std::monostate, R>;
    Result<TaskHandle> h = spawn_task([fn = std::forward<F>(fn)]() mutable -> std::unique_ptr<Message> {
      if constexpr (std::is_void_v<R>) {
        fn();
        return make_message(std::monostate{});
      } else {
        return make_message(fn());
      }
    });
    if (!h.ok()) return Result<Task<T>>(h.error());
    return Result<Task<T>>(Task<T>(std::move(h.value())));
  }

  Pid pid() const { return pid_; }
  // Tasks running now.
  size_t running() const;
  // Kills every task and the supervisor process.
  void stop();

 private:
  TaskSupervisor(Runtime* rt, Pid pid, std::shared_ptr<detail::TaskSupervisorShared> shared)
      : rt_(rt), pid_(pid), shared_(std::move(shared)) {}
  Result<TaskHandle> spawn_task(std::function<std::unique_ptr<Message>()> work);
  Runtime* rt_;
  Pid pid_;
  std::shared_ptr<detail::TaskSupervisorShared> shared_;
};

}  // namespace canopy
