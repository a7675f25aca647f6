#pragma once
// Behaviours. An Actor is the state and code of one process; the runtime calls
// its hooks one message at a time on some scheduler thread. Threading rule:
// owner process only — an Actor's methods may be called only from its own
// hooks (init, handle, terminate), never from another thread.
#include <chrono>
#include <functional>
#include <memory>
#include <memory_resource>
#include <typeinfo>

#include "canopy/core/call.hpp"
#include "canopy/core/exit_reason.hpp"
#include "canopy/core/message.hpp"
#include "canopy/core/options.hpp"
#include "canopy/core/pid.hpp"
#include "canopy/core/result.hpp"

namespace canopy {

class Runtime;

class Actor {
 public:
  Actor() = default;
  virtual ~Actor() = default;
  Actor(const Actor&) = delete;
  Actor& operator=(const Actor&) = delete;

  // Runs in the new process before spawn() returns. A failing Status (or an
  // exception) fails the spawn: the spawner gets Errc::init_failed with the
  // reason, and terminate() is not called.
  virtual Status init() { return {}; }
  // One message. An exception escaping it crashes this process (only this
  // one), with the exception's text as the exit reason.
  virtual void handle(Message& message) = 0;
  // Called once when the process exits for any reason but `kill`.
  virtual void terminate(const ExitReason& reason) { (void)reason; }

 protected:
  Pid self() const { return self_; }
  // The process that spawned this one; invalid when spawned from outside.
  Pid parent() const;
  Runtime& runtime() const { return *runtime_; }

  template <typename T>
  Status send(Pid to, T&& value);
  Status send_message(Pid to, std::unique_ptr<Message> message);
  // Delivers `value` to `to` after `delay` (like erlang:send_after).
  template <typename T>
  void send_after(Pid to, std::chrono::milliseconds delay, T&& value);

  // True when an exit signal that will end this process is on its way
  // (a kill, or a link's exit it does not trap): it exits right after the
  // current hook. Long handlers may check
  // it to stop early; results they produce now will not be seen.
  bool kill_pending() const;
  // Exit with `reason` once the current hook returns.
  void stop(ExitReason reason = ExitReason::normal());
  // Exit signals from links arrive as ExitMessage instead of killing us.
  void trap_exit(bool on);
  // Bidirectional link; linking to a dead pid delivers an exit signal `noproc`.
  void link(Pid other);
  void unlink(Pid other);
  // A DownMessage with this ref arrives when `other` exits (at once, `noproc`, if dead).
  MonitorRef monitor(Pid other);
  void demonitor(MonitorRef ref);

  // Spawn as a child of this process (parent = self), optionally linked.
  template <typename A, typename... Args>
  Result<Pid> spawn(Args&&... args);
  template <typename A, typename... Args>
  Result<Pid> spawn_link(Args&&... args);

  // A call that never blocks the scheduler: `then` runs later in this process,
  // with the reply, or with timeout / callee_exited / dead_process.
  template <typename Reply, typename Request>
  void call(Pid to, Request&& request, std::chrono::milliseconds timeout, std::function<void(Result<Reply>)> then);
  // A GenServer cast: no reply, handled by handle_cast.
  template <typename T>
  Status cast(Pid to, T&& value);

  // A counting memory resource: allocate the process's state from it (pmr
  // containers) and its bytes count in the process heap.
  std::pmr::memory_resource* heap() const;
  // Extra work done by this handler, in reductions (1 per message is implied).
  void add_reductions(uint32_t n);
  // Bytes this behaviour holds that heap() does not see (a cache, a buffer);
  // counted in the process heap. Call again whenever it changes.
  void report_heap_bytes(size_t bytes);

 private:
  friend class detail::Runtime;
  void call_untyped(Pid to, std::unique_ptr<Message> request, std::chrono::milliseconds timeout,
                    std::function<void(CallResult)> then);
  Result<Pid> spawn_child(std::unique_ptr<Actor> actor, bool link);
  void send_after_untyped(Pid to, std::chrono::milliseconds delay, std::unique_ptr<Message> message);

  // Set by the runtime before init(); constant afterwards.
  Runtime* runtime_ = nullptr;
  detail::Process* process_ = nullptr;
  Pid self_;
};

// Returning `handle` from a plain function: spawn a process from a lambda.
// `fn(actor, message)` runs for every message.
class FunctionActor final : public Actor {
 public:
  using Fn = std::function<void(FunctionActor& self, Message& message)>;
  explicit FunctionActor(Fn fn) : fn_(std::move(fn)) {}
  void handle(Message& message) override { fn_(*this, message); }
  using Actor::add_reductions;
  using Actor::call;
  using Actor::cast;
  using Actor::demonitor;
  using Actor::link;
  using Actor::monitor;
  using Actor::runtime;
  using Actor::self;
  using Actor::send;
  using Actor::send_after;
  using Actor::spawn;
  using Actor::spawn_link;
  using Actor::stop;
  using Actor::trap_exit;
  using Actor::unlink;

 private:
  Fn fn_;
};

template <typename T>
Status Actor::send(Pid to, T&& value) {
  return send_message(to, make_message(std::forward<T>(value)));
}

template <typename T>
Status Actor::cast(Pid to, T&& value) {
  return send_message(to, make_message(std::forward<T>(value), MessageKind::cast));
}

template <typename T>
void Actor::send_after(Pid to, std::chrono::milliseconds delay, T&& value) {
  send_after_untyped(to, delay, make_message(std::forward<T>(value)));
}

template <typename A, typename... Args>
Result<Pid> Actor::spawn(Args&&... args) {
  return spawn_child(std::make_unique<A>(std::forward<Args>(args)...), false);
}

template <typename A, typename... Args>
Result<Pid> Actor::spawn_link(Args&&... args) {
  return spawn_child(std::make_unique<A>(std::forward<Args>(args)...), true);
}

template <typename Reply, typename Request>
void Actor::call(Pid to, Request&& request, std::chrono::milliseconds timeout,
                 std::function<void(Result<Reply>)> then) {
  call_untyped(to, make_message(std::forward<Request>(request)), timeout,
               [then = std::move(then)](CallResult r) { then(typed_reply<Reply>(std::move(r))); });
}

}  // namespace canopy
