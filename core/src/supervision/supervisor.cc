// Room supervision/: supervisors (strategies, restart intensity and its
// escalation, shutdown plans), applications and readiness, task supervisors,
// and the orphan audit (orphan_audit.cc). It owns every restart counter and the boot error
// chain. It may use runtime/ and instrumentation/; nothing in runtime/ may
// use it.
//
// This file: Supervisors: the SupervisorActor behaviour, start_supervisor and
// the blocking helpers. A supervisor never blocks its scheduler: stopping a
// child is a step in a plan that waits for the child's EXIT (or the shutdown
// timeout) as a message, and the plan resumes when it arrives.
#include "canopy/core/supervisor.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>

#include "canopy/core/dump.hpp"
#include "canopy/core/gen_server.hpp"
#include "canopy/core/runtime.hpp"
#include "dump/dumps.hpp"
#include "runtime/cycle_clock.hpp"
#include "runtime/runtime_impl.hpp"
#include "supervision/supervisor_state.hpp"

namespace canopy {

const char* to_string(Strategy s) {
  switch (s) {
    case Strategy::one_for_one:
      return "one_for_one";
    case Strategy::one_for_all:
      return "one_for_all";
    case Strategy::rest_for_one:
      return "rest_for_one";
    case Strategy::simple_one_for_one:
      return "simple_one_for_one";
  }
  return "unknown";
}
const char* to_string(Restart r) {
  switch (r) {
    case Restart::permanent:
      return "permanent";
    case Restart::transient:
      return "transient";
    case Restart::temporary:
      return "temporary";
  }
  return "unknown";
}
const char* to_string(ChildType t) { return t == ChildType::worker ? "worker" : "supervisor"; }
const char* to_string(ChildState s) {
  switch (s) {
    case ChildState::running:
      return "running";
    case ChildState::restarting:
      return "restarting";
    case ChildState::stopped:
      return "stopped";
  }
  return "unknown";
}

namespace detail {
namespace {

struct ShutdownTimeout {
  uint64_t token;
};
struct RetryStart {
  std::string id;
  uint64_t token;
};

bool should_restart(Restart restart, const ExitReason& reason) {
  switch (restart) {
    case Restart::permanent:
      return true;
    case Restart::transient:
      return !reason.is_orderly();
    case Restart::temporary:
      return false;
  }
  return false;
}

class SupervisorActor final : public GenServer<SupervisorRequest, SupervisorReply> {
 public:
  explicit SupervisorActor(SupervisorSpec spec) : spec_(std::move(spec)) {}

  ~SupervisorActor() override {
    if (state_) detail::impl_of(runtime()).unregister_supervisor(self());
  }

  Status init() override {
    trap_exit(true);
    parent_ = parent();
    log_ = detail::impl_of(runtime()).log_ptr();
    if (spec_.name.empty()) spec_.name = self().to_string();
    const bool dynamic = spec_.flags.strategy == Strategy::simple_one_for_one;
    if (dynamic && spec_.children.size() != 1) {
      return Error(Errc::invalid_argument,
                   "supervisor '" + spec_.name +
                       "': simple_one_for_one needs exactly one child spec (the template), got " +
                       std::to_string(spec_.children.size()));
    }
    for (size_t i = 0; i < spec_.children.size(); ++i) {
      const ChildSpec& c = spec_.children[i];
      if (!c.start)
        return Error(Errc::invalid_argument,
                     "supervisor '" + spec_.name + "': child '" + c.id + "' has no start function");
      for (size_t j = 0; j < i; ++j) {
        if (spec_.children[j].id == c.id) {
          return Error(Errc::invalid_argument,
                       "supervisor '" + spec_.name + "': two children have the id '" + c.id + "'");
        }
      }
    }
    state_ = std::make_shared<SupervisorState>(spec_.name, self(), spec_.flags);
    detail::impl_of(runtime()).register_supervisor(self(), state_);
    if (dynamic) {
      template_ = spec_.children.front();
      return {};
    }
    for (const ChildSpec& c : spec_.children) add_entry(c);
    for (size_t i = 0; i < entries_.size(); ++i) {
      Result<Pid> r = start_entry(i);
      if (r.ok()) continue;
      Entry& e = entries_[i];
      detail::impl_of(runtime()).count_boot_failure(spec_.name, e.spec.id, e.last_error);
      if (e.spec.optional) {
        log_->warn("supervisor '{}': optional child '{}' failed to start ({}); retrying in {} ms", spec_.name,
                   e.spec.id, e.last_error, e.backoff.count());
        schedule_retry(i);
        continue;
      }
      // Boot failed: stop what started, newest first, and say exactly where.
      for (size_t j = i; j-- > 0;) {
        if (entries_[j].pid.valid()) (void)runtime().exit(entries_[j].pid, ExitReason::kill());
      }
      return Error(Errc::init_failed, "supervisor '" + spec_.name + "' → child '" + e.spec.id + "' → " + e.last_error);
    }
    return {};
  }

  std::optional<SupervisorReply> handle_call(SupervisorRequest& request, const From& from) override {
    using namespace supervisor_request;
    if (std::holds_alternative<WhichChildren>(request)) return SupervisorReply(child_infos());
    if (std::holds_alternative<CountChildren>(request)) return SupervisorReply(counts());
    if (auto* t = std::get_if<TerminateChild>(&request)) {
      const Entry* e = find(t->id);
      if (e == nullptr) return no_child(t->id);
      plan_.push_back(Step{Step::stop, e->spec.id, {}, false, {}});
      if (dynamic()) plan_.push_back(Step{Step::remove, e->spec.id, {}, false, {}});
      plan_.push_back(Step{Step::reply, e->spec.id, from, false, {}});
      run_plan();
      return std::nullopt;
    }
    if (auto* r = std::get_if<RestartChild>(&request)) {
      const Entry* e = find(r->id);
      if (e == nullptr) return no_child(r->id);
      if (dynamic())
        return SupervisorReply(
            Error(Errc::invalid_argument,
                  "restart_child is not supported by simple_one_for_one supervisor '" + spec_.name + "'"));
      if (e->pid.valid())
        return SupervisorReply(
            Error(Errc::invalid_argument, "child '" + r->id + "' of supervisor '" + spec_.name + "' is running"));
      plan_.push_back(Step{Step::start, e->spec.id, {}, false, {}});
      plan_.push_back(Step{Step::reply, e->spec.id, from, true, {}});
      run_plan();
      return std::nullopt;
    }
    if (auto* d = std::get_if<DeleteChild>(&request)) {
      const Entry* e = find(d->id);
      if (e == nullptr) return no_child(d->id);
      if (e->pid.valid())
        return SupervisorReply(Error(Errc::invalid_argument, "child '" + d->id + "' of supervisor '" + spec_.name +
                                                                 "' is running; terminate it first"));
      remove_entry(d->id);
      return SupervisorReply(std::monostate{});
    }
    if (auto* s = std::get_if<StartChild>(&request)) return start_new_child(std::move(s->spec));
    return SupervisorReply(Error(Errc::bad_request, "unknown supervisor request"));
  }

  void handle_info(Message& m) override {
    if (auto* exit = m.as<ExitMessage>()) {
      on_exit(exit->from, exit->reason);
    } else if (auto* down = m.as<DownMessage>()) {
      on_exit(down->pid, down->reason);
    } else if (auto* t = m.as<ShutdownTimeout>()) {
      if (waiting_ && waiting_->token == t->token) {
        log_->warn("supervisor '{}': child '{}' did not stop within its shutdown timeout; killing it", spec_.name,
                   waiting_->id);
        (void)runtime().exit(waiting_->pid, ExitReason::kill());
      }
    } else if (auto* r = m.as<RetryStart>()) {
      retry(r->id, r->token);
    }
  }

  void terminate(const ExitReason&) override {
    // Leaving without a plan (runtime shutdown, a kill of our parent): ask
    // every child to stop, newest first; we cannot wait for them here.
    for (size_t i = entries_.size(); i-- > 0;) {
      if (entries_[i].pid.valid()) (void)runtime().exit(entries_[i].pid, ExitReason::shutdown());
    }
  }

 private:
  struct Entry {
    ChildSpec spec;
    Pid pid;
    Pid crashed;  // a crash of this child waiting for the restart's outcome
    std::string last_error;
    std::chrono::milliseconds backoff{0};
    uint64_t retry_token = 0;
  };
  struct Step {
    enum Kind { stop, start, remove, reply, exit } kind;
    std::string id;
    From from;
    bool reply_pid = false;
    ExitReason reason;
  };
  struct Waiting {
    Pid pid;
    std::string id;
    uint64_t token;
    MonitorRef monitor;
  };

  bool dynamic() const { return spec_.flags.strategy == Strategy::simple_one_for_one; }

  SupervisorReply no_child(const std::string& id) const {
    return SupervisorReply(Error(Errc::invalid_argument, "supervisor '" + spec_.name + "' has no child '" + id + "'"));
  }

  Entry* find(const std::string& id) {
    for (auto& e : entries_) {
      if (e.spec.id == id) return &e;
    }
    return nullptr;
  }
  std::optional<size_t> index_of(const std::string& id) const {
    for (size_t i = 0; i < entries_.size(); ++i) {
      if (entries_[i].spec.id == id) return i;
    }
    return std::nullopt;
  }
  std::optional<size_t> index_of(Pid pid) const {
    if (!pid.valid()) return std::nullopt;  // a stopped child holds no pid
    for (size_t i = 0; i < entries_.size(); ++i) {
      if (entries_[i].pid == pid) return i;
    }
    return std::nullopt;
  }

  void add_entry(ChildSpec spec) {
    Entry e;
    e.backoff = spec_.flags.backoff_initial;
    ChildInfo info;
    info.id = spec.id;
    info.type = spec.type;
    info.restart = spec.restart;
    info.optional = spec.optional;
    info.state = ChildState::stopped;
    e.spec = std::move(spec);
    entries_.push_back(std::move(e));
    state_->update([&](SupervisorStats& s) { s.children.push_back(std::move(info)); });
  }

  void remove_entry(const std::string& id) {
    auto i = index_of(id);
    if (!i) return;
    entries_.erase(entries_.begin() + static_cast<long>(*i));
    state_->update([&](SupervisorStats& s) { s.children.erase(s.children.begin() + static_cast<long>(*i)); });
  }

  template <typename Fn>
  void update_info(size_t i, Fn&& fn) {
    state_->update([&](SupervisorStats& s) { fn(s.children[i]); });
  }

  std::vector<ChildInfo> child_infos() const { return state_->snapshot(mono_ns()).children; }

  ChildCounts counts() const {
    ChildCounts c;
    for (const auto& e : entries_) {
      ++c.specs;
      if (e.pid.valid()) ++c.active;
      if (e.spec.type == ChildType::supervisor) {
        ++c.supervisors;
      } else {
        ++c.workers;
      }
    }
    return c;
  }

  // Starts entry `i` now (spawn runs its init before returning).
  Result<Pid> start_entry(size_t i) {
    Entry& e = entries_[i];
    std::unique_ptr<Actor> actor;
    try {
      actor = e.spec.start();
    } catch (const std::exception& ex) {
      e.last_error = std::string("start function threw: ") + ex.what();
    }
    SpawnOptions options = e.spec.spawn;
    options.link = true;
    Result<Pid> r =
        actor ? runtime().spawn(std::move(actor), std::move(options))
              : Result<Pid>(Error(Errc::invalid_argument,
                                  e.last_error.empty() ? "start function returned no behaviour" : e.last_error));
    if (r.ok()) {
      e.pid = r.value();
      if (e.crashed.valid()) report_supervisor_action(runtime(), e.crashed, SupervisorAction::restarted, e.pid);
      e.crashed = Pid();
      e.last_error.clear();
      e.backoff = spec_.flags.backoff_initial;
      // A dynamic child is named by its pid: a restarted one answers to its new pid.
      if (dynamic()) e.spec.id = e.pid.to_string();
      update_info(i, [&](ChildInfo& c) {
        if (dynamic()) c.id = e.spec.id;
        c.pid = e.pid;
        c.state = ChildState::running;
        c.last_start_error.clear();
      });
    } else {
      e.pid = Pid();
      const Error& err = r.error();
      e.last_error = err.code() != Errc::init_failed        ? err.message()
                     : e.spec.type == ChildType::supervisor ? err.cause()
                                                            : "init failed: " + err.cause();
      update_info(i, [&](ChildInfo& c) {
        c.pid = Pid();
        c.state = ChildState::stopped;
        c.last_start_error = e.last_error;
      });
    }
    return r;
  }

  void schedule_retry(size_t i) {
    Entry& e = entries_[i];
    e.retry_token = ++tokens_;
    update_info(i, [&](ChildInfo& c) { c.state = ChildState::restarting; });
    send_after(self(), e.backoff, RetryStart{e.spec.id, e.retry_token});
    e.backoff = std::min(e.backoff * 2, spec_.flags.backoff_max);
  }

  void retry(const std::string& id, uint64_t token) {
    auto i = index_of(id);
    if (!i || entries_[*i].retry_token != token || entries_[*i].pid.valid()) return;
    if (start_entry(*i).ok()) {
      log_->info("supervisor '{}': child '{}' started after retry", spec_.name, id);
      return;
    }
    log_->warn("supervisor '{}': child '{}' failed to start again ({}); retrying in {} ms", spec_.name, id,
               entries_[*i].last_error, entries_[*i].backoff.count());
    detail::impl_of(runtime()).count_boot_failure(spec_.name, id, entries_[*i].last_error);
    schedule_retry(*i);
  }

  SupervisorReply start_new_child(ChildSpec spec) {
    if (dynamic()) {
      if (spec_.flags.max_children != 0 && entries_.size() >= spec_.flags.max_children) {
        return SupervisorReply(Error(Errc::process_limit, "supervisor '" + spec_.name + "' already has max_children=" +
                                                              std::to_string(spec_.flags.max_children) + " children"));
      }
      ChildSpec c = template_;
      if (spec.start) c.start = std::move(spec.start);
      c.id = "pending";
      add_entry(std::move(c));
      const size_t i = entries_.size() - 1;
      Result<Pid> r = start_entry(i);
      if (!r.ok()) {
        const std::string why = entries_[i].last_error;
        remove_entry("pending");
        return SupervisorReply(Error(Errc::init_failed, "supervisor '" + spec_.name + "' → child → " + why, why));
      }
      entries_[i].spec.id = r.value().to_string();
      update_info(i, [&](ChildInfo& info) { info.id = entries_[i].spec.id; });
      return SupervisorReply(r.value());
    }
    if (spec.id.empty() || !spec.start) {
      return SupervisorReply(
          Error(Errc::invalid_argument, "start_child: a child spec needs an id and a start function"));
    }
    if (find(spec.id) != nullptr) {
      return SupervisorReply(
          Error(Errc::already_registered, "supervisor '" + spec_.name + "' already has a child '" + spec.id + "'"));
    }
    const std::string id = spec.id;
    add_entry(std::move(spec));
    Result<Pid> r = start_entry(entries_.size() - 1);
    if (!r.ok()) {
      const std::string why = entries_.back().last_error;
      remove_entry(id);
      return SupervisorReply(
          Error(Errc::init_failed, "supervisor '" + spec_.name + "' → child '" + id + "' → " + why, why));
    }
    return SupervisorReply(r.value());
  }

  void on_exit(Pid from, const ExitReason& reason) {
    if (waiting_ && from == waiting_->pid) {
      demonitor(waiting_->monitor);
      if (auto i = index_of(from)) mark_stopped(*i, reason);
      waiting_.reset();
      run_plan();
      return;
    }
    if (auto i = index_of(from)) {
      on_child_exit(*i, reason);
      return;
    }
    if ((from == parent_ && parent_.valid()) || !from.valid()) {
      // Our own supervisor (or starter) is gone, or the runtime itself asks
      // (stop_application signals from no process): stop the tree and follow.
      give_up(reason);
    }
  }

  void mark_stopped(size_t i, const ExitReason& reason) {
    entries_[i].pid = Pid();
    update_info(i, [&](ChildInfo& c) {
      c.pid = Pid();
      c.state = ChildState::stopped;
      c.last_exit_reason = reason.to_string();
    });
  }

  void on_child_exit(size_t i, const ExitReason& reason) {
    const std::string id = entries_[i].spec.id;
    const Restart restart = entries_[i].spec.restart;
    // A crash (the runtime kept its report) waits to hear what we did.
    const Pid gone = entries_[i].pid;
    const bool crashed = gone.valid() && reason.kind() == ExitKind::error;
    mark_stopped(i, reason);
    if (!should_restart(restart, reason)) {
      if (crashed) report_supervisor_action(runtime(), gone, SupervisorAction::none);
      if (dynamic() || restart == Restart::temporary) remove_entry(id);
      return;
    }
    if (crashed) entries_[i].crashed = gone;
    if (!state_->record_restart(mono_ns())) {
      state_->update([](SupervisorStats& s) { ++s.intensity_exceeded; });
      detail::impl_of(runtime()).count_intensity_exceeded(spec_.name);
      log_->error(
          "supervisor '{}': child '{}' exited ({}); restart intensity reached ({} restarts in {} ms): "
          "stopping all children and exiting with reason shutdown",
          spec_.name, id, reason.to_string(), spec_.flags.intensity, spec_.flags.period.count());
      escalate(id, gone, reason);
      give_up(ExitReason::shutdown());
      return;
    }
    update_info(i, [](ChildInfo& c) { ++c.restarts; });
    state_->update([](SupervisorStats& s) { ++s.restarts_total; });
    detail::impl_of(runtime()).count_restart(spec_.name, id, reason.to_string());
    switch (spec_.flags.strategy) {
      case Strategy::one_for_one:
      case Strategy::simple_one_for_one:
        plan_.push_back(Step{Step::start, id, {}, false, {}});
        break;
      case Strategy::one_for_all:
        restart_from(0, id);
        break;
      case Strategy::rest_for_one:
        restart_from(i, id);
        break;
    }
    run_plan();
  }

  // Stops the running children at index `first` and after (newest first),
  // then starts them again in order, together with the one that died.
  void restart_from(size_t first, const std::string& crashed) {
    std::vector<std::string> to_start;
    for (size_t j = first; j < entries_.size(); ++j) {
      if (entries_[j].pid.valid() || entries_[j].spec.id == crashed) to_start.push_back(entries_[j].spec.id);
    }
    for (size_t j = entries_.size(); j-- > first;) {
      if (entries_[j].pid.valid()) plan_.push_back(Step{Step::stop, entries_[j].spec.id, {}, false, {}});
    }
    for (auto& id : to_start) plan_.push_back(Step{Step::start, id, {}, false, {}});
  }

  // Why we give up, for the supervisor above us (it finds the chain by our
  // pid when we exit); an application's root writes a dump with the chain.
  void escalate(const std::string& id, Pid gone, const ExitReason& reason) {
    std::string chain = "supervisor '" + spec_.name + "' gave up: child '" + id + "' exited (" + reason.to_string() +
                        "), restart intensity " + std::to_string(spec_.flags.intensity) + " in " +
                        std::to_string(spec_.flags.period.count()) + " ms reached";
    if (gone.valid()) {
      if (std::string below = take_give_up(runtime(), gone); !below.empty()) chain += " <- " + below;
    }
    for (const auto& [app, root] : runtime().applications()) {
      if (root == self()) request_dump(runtime(), "application '" + app + "' gave up: " + chain);
    }
    report_give_up(runtime(), self(), std::move(chain));
  }

  void give_up(ExitReason reason) {
    // Crashes still waiting for a restart will not get one.
    for (auto& e : entries_) {
      if (e.crashed.valid()) report_supervisor_action(runtime(), e.crashed, SupervisorAction::gave_up);
      e.crashed = Pid();
    }
    for (auto& step : plan_) {
      if (step.kind == Step::reply && step.from.valid()) {
        step.from.reply_error(Error(Errc::callee_exited, "supervisor '" + spec_.name + "' is shutting down"));
      }
    }
    plan_.clear();
    for (size_t j = entries_.size(); j-- > 0;) {
      if (entries_[j].pid.valid()) plan_.push_back(Step{Step::stop, entries_[j].spec.id, {}, false, {}});
    }
    plan_.push_back(Step{Step::exit, {}, {}, false, std::move(reason)});
    run_plan();
  }

  void begin_stop(size_t i) {
    Entry& e = entries_[i];
    const uint64_t token = ++tokens_;
    waiting_ = Waiting{e.pid, e.spec.id, token, monitor(e.pid)};
    switch (e.spec.shutdown.kind) {
      case Shutdown::Kind::brutal_kill:
        (void)runtime().exit(e.pid, ExitReason::kill());
        break;
      case Shutdown::Kind::timeout:
        (void)runtime().exit(e.pid, ExitReason::shutdown());
        send_after(self(), e.spec.shutdown.timeout, ShutdownTimeout{token});
        break;
      case Shutdown::Kind::infinity:
        (void)runtime().exit(e.pid, ExitReason::shutdown());
        break;
    }
  }

  // Runs the plan until it waits for an EXIT or is done. Steps add steps (a
  // failed restart counts as a crash and plans another start; reaching the
  // intensity replaces the plan with give_up's): a call made while the plan
  // runs only queues, and this loop takes the new steps. A nested run went one
  // level deeper per failed restart, up to the intensity: 10,000 failed
  // restarts (a runtime refusing spawns while it shuts down) overflowed the
  // stack.
  void run_plan() {
    if (running_plan_) return;
    running_plan_ = true;
    struct Done {
      bool& flag;
      ~Done() { flag = false; }
    } done{running_plan_};
    while (!waiting_ && !plan_.empty()) {
      Step step = std::move(plan_.front());
      plan_.pop_front();
      switch (step.kind) {
        case Step::stop: {
          auto i = index_of(step.id);
          if (i && entries_[*i].pid.valid()) begin_stop(*i);
          break;
        }
        case Step::start: {
          auto i = index_of(step.id);
          if (!i || entries_[*i].pid.valid()) break;
          Result<Pid> started = start_entry(*i);
          if (started.ok()) break;
          Entry& e = entries_[*i];
          if (started.code() == Errc::shutting_down) {
            // The runtime is stopping (and stops us next): no crash, no retry.
            log_->debug("supervisor '{}': child '{}' not restarted: {}", spec_.name, step.id, e.last_error);
            break;
          }
          log_->error("supervisor '{}': child '{}' failed to restart: {}", spec_.name, step.id, e.last_error);
          detail::impl_of(runtime()).count_boot_failure(spec_.name, e.spec.id, e.last_error);
          if (e.spec.optional) {
            schedule_retry(*i);
          } else {
            // A failed restart counts as another crash (and towards the intensity).
            on_child_exit(*i, ExitReason::error("restart failed: " + e.last_error));
          }
          break;
        }
        case Step::remove:
          remove_entry(step.id);
          break;
        case Step::reply: {
          if (!step.reply_pid) {
            step.from.reply(SupervisorReply(std::monostate{}));
            break;
          }
          const Entry* e = find(step.id);
          if (e != nullptr && e->pid.valid()) {
            step.from.reply(SupervisorReply(e->pid));
          } else {
            step.from.reply(
                SupervisorReply(Error(Errc::init_failed, e ? e->last_error : "child '" + step.id + "' is gone")));
          }
          break;
        }
        case Step::exit:
          stop(step.reason);
          return;
      }
    }
  }

  SupervisorSpec spec_;
  ChildSpec template_;  // simple_one_for_one
  std::shared_ptr<SupervisorState> state_;
  std::shared_ptr<spdlog::logger> log_;
  Pid parent_;
  std::vector<Entry> entries_;
  std::deque<Step> plan_;
  std::optional<Waiting> waiting_;
  bool running_plan_ = false;
  uint64_t tokens_ = 0;
};

}  // namespace
}  // namespace detail

ChildSpec ChildSpec::supervisor(std::string id, SupervisorSpec spec) {
  ChildSpec c;
  c.id = std::move(id);
  c.type = ChildType::supervisor;
  c.shutdown = Shutdown::infinity();
  c.start = [spec = std::move(spec)]() -> std::unique_ptr<Actor> {
    return std::make_unique<detail::SupervisorActor>(spec);
  };
  return c;
}

Result<Pid> start_supervisor(Runtime& rt, SupervisorSpec spec) {
  SpawnOptions o;
  o.link = rt.self().valid();
  if (spec.register_name) o.name = spec.name;
  Result<Pid> r = rt.spawn(std::make_unique<detail::SupervisorActor>(std::move(spec)), std::move(o));
  if (!r.ok() && r.code() == Errc::init_failed) return Error(Errc::init_failed, r.error().cause(), r.error().cause());
  return r;
}

namespace supervisor {
namespace {
template <typename T>
Result<T> ask(Runtime& rt, Pid sup, SupervisorRequest request, std::chrono::milliseconds timeout) {
  Result<SupervisorReply> r = rt.call<SupervisorReply>(sup, std::move(request), timeout);
  if (!r.ok()) return r.error();
  if (auto* e = std::get_if<Error>(&r.value())) return *e;
  if (auto* v = std::get_if<T>(&r.value())) return std::move(*v);
  return Error(Errc::bad_request, "unexpected reply from supervisor " + sup.to_string());
}
Status ask_status(Runtime& rt, Pid sup, SupervisorRequest request, std::chrono::milliseconds timeout) {
  Result<std::monostate> r = ask<std::monostate>(rt, sup, std::move(request), timeout);
  if (!r.ok()) return r.error();
  return {};
}
}  // namespace

Result<std::vector<ChildInfo>> which_children(Runtime& rt, Pid sup, std::chrono::milliseconds timeout) {
  return ask<std::vector<ChildInfo>>(rt, sup, supervisor_request::WhichChildren{}, timeout);
}
Result<ChildCounts> count_children(Runtime& rt, Pid sup, std::chrono::milliseconds timeout) {
  return ask<ChildCounts>(rt, sup, supervisor_request::CountChildren{}, timeout);
}
Status terminate_child(Runtime& rt, Pid sup, const std::string& id, std::chrono::milliseconds timeout) {
  return ask_status(rt, sup, supervisor_request::TerminateChild{id}, timeout);
}
Result<Pid> restart_child(Runtime& rt, Pid sup, const std::string& id, std::chrono::milliseconds timeout) {
  return ask<Pid>(rt, sup, supervisor_request::RestartChild{id}, timeout);
}
Status delete_child(Runtime& rt, Pid sup, const std::string& id, std::chrono::milliseconds timeout) {
  return ask_status(rt, sup, supervisor_request::DeleteChild{id}, timeout);
}
Result<Pid> start_child(Runtime& rt, Pid sup, ChildSpec spec, std::chrono::milliseconds timeout) {
  return ask<Pid>(rt, sup, supervisor_request::StartChild{std::move(spec)}, timeout);
}
std::optional<SupervisorStats> stats(Runtime& rt, Pid sup) {
  auto state = detail::impl_of(rt).supervisor_state(sup);
  if (!state) return std::nullopt;
  return state->snapshot(detail::mono_ns());
}
std::vector<SupervisorStats> all_stats(Runtime& rt) {
  std::vector<SupervisorStats> out;
  for (auto& s : detail::impl_of(rt).supervisor_states()) out.push_back(s->snapshot(detail::mono_ns()));
  return out;
}
}  // namespace supervisor

}  // namespace canopy
