#pragma once
// Supervisors, as in OTP: a supervisor is a process that starts its children
// in order, traps their exits, restarts them by strategy and restart type,
// stops them in reverse order, and gives up (exit `shutdown`, so its own
// supervisor decides) when restarts exceed `intensity` within `period`.
//
//   SupervisorSpec spec{.name = "root", .children = {
//       ChildSpec::worker<DbPool>("db_pool", "postgres://..."),
//       ChildSpec::supervisor("web", web_spec)}};
//   Result<Pid> root = start_supervisor(runtime, spec);
//
// Calls on a supervisor (which_children, terminate_child, ...) block the
// calling thread and so are for threads outside the runtime; inside an actor,
// send the request types below with Actor::call.
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "canopy/core/actor.hpp"
#include "canopy/core/options.hpp"
#include "canopy/core/pid.hpp"
#include "canopy/core/result.hpp"

namespace canopy {

class Runtime;

enum class Strategy : uint8_t { one_for_one, one_for_all, rest_for_one, simple_one_for_one };
enum class Restart : uint8_t { permanent, transient, temporary };
enum class ChildType : uint8_t { worker, supervisor };
const char* to_string(Strategy s);
const char* to_string(Restart r);
const char* to_string(ChildType t);

// How a child is stopped: killed at once, asked with `shutdown` and killed
// after a timeout, or asked and waited for without limit (for supervisors).
struct Shutdown {
  enum class Kind : uint8_t { brutal_kill, timeout, infinity };
  Kind kind = Kind::timeout;
  std::chrono::milliseconds timeout{5'000};
  static Shutdown brutal_kill() { return {Kind::brutal_kill, std::chrono::milliseconds(0)}; }
  static Shutdown after(std::chrono::milliseconds t) { return {Kind::timeout, t}; }
  static Shutdown infinity() { return {Kind::infinity, std::chrono::milliseconds(0)}; }
};

struct SupervisorFlags {
  Strategy strategy = Strategy::one_for_one;
  // At most `intensity` restarts within `period`; one more and the supervisor gives up.
  uint32_t intensity = 3;
  std::chrono::milliseconds period{5'000};
  // simple_one_for_one only: 0 = unlimited.
  uint32_t max_children = 0;
  // Optional children that fail to boot are retried after backoff_initial,
  // doubling up to backoff_max.
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{30'000};
};

struct SupervisorSpec;

struct ChildSpec {
  std::string id;
  // Makes a fresh behaviour for each (re)start; the supervisor spawns it linked.
  std::function<std::unique_ptr<Actor>()> start;
  Restart restart = Restart::permanent;
  Shutdown shutdown = Shutdown::after(std::chrono::milliseconds(5'000));
  ChildType type = ChildType::worker;
  // A boot failure is logged and retried with backoff instead of failing the tree.
  bool optional = false;
  SpawnOptions spawn;  // mailbox bounds, a registered name

  template <typename A, typename... Args>
  static ChildSpec worker(std::string id, Args... args) {
    ChildSpec c;
    c.id = std::move(id);
    c.start = [args...]() -> std::unique_ptr<Actor> { return std::make_unique<A>(args...); };
    return c;
  }
  static ChildSpec supervisor(std::string id, SupervisorSpec spec);
};

struct SupervisorSpec {
  std::string name;  // shown in errors, logs and stats; registered if `register_name`
  SupervisorFlags flags;
  // For simple_one_for_one: exactly one template spec, children come from start_child.
  std::vector<ChildSpec> children;
  bool register_name = false;
};

enum class ChildState : uint8_t {
  running,
  restarting,  // waiting for a backoff retry (optional children that failed to start)
  stopped,     // terminated by terminate_child, or a transient/temporary child that ended
};
const char* to_string(ChildState s);

struct ChildInfo {
  std::string id;
  Pid pid;  // invalid unless running
  ChildType type = ChildType::worker;
  Restart restart = Restart::permanent;
  ChildState state = ChildState::stopped;
  bool optional = false;
  uint64_t restarts = 0;
  std::string last_exit_reason;  // empty if it never exited
  std::string last_start_error;  // empty if the last start succeeded
};

struct ChildCounts {
  uint32_t specs = 0;
  uint32_t active = 0;
  uint32_t supervisors = 0;
  uint32_t workers = 0;
};

// What a supervisor publishes for telemetry and readiness; read without a call.
struct SupervisorStats {
  std::string name;
  Pid pid;
  Strategy strategy = Strategy::one_for_one;
  uint64_t restarts_total = 0;
  uint64_t intensity_exceeded = 0;
  // intensity minus the restarts within the current period.
  uint32_t restart_budget_remaining = 0;
  std::vector<ChildInfo> children;
};

// Starts a supervisor. Inside a process it is linked to the caller (as
// supervisor:start_link). A child that fails to start fails the whole start,
// with the chain in the message: "supervisor 'root' → child 'db' → init failed: ...".
Result<Pid> start_supervisor(Runtime& rt, SupervisorSpec spec);

// Requests a supervisor answers (for Actor::call from inside the runtime).
namespace supervisor_request {
struct WhichChildren {};
struct CountChildren {};
struct TerminateChild {
  std::string id;
};  // or a pid's text for simple_one_for_one
struct RestartChild {
  std::string id;
};
struct DeleteChild {
  std::string id;
};
struct StartChild {
  ChildSpec spec;
};  // simple_one_for_one: `spec.id` may be empty (template used)
}  // namespace supervisor_request
using SupervisorRequest = std::variant<supervisor_request::WhichChildren, supervisor_request::CountChildren,
                                       supervisor_request::TerminateChild, supervisor_request::RestartChild,
                                       supervisor_request::DeleteChild, supervisor_request::StartChild>;
using SupervisorReply = std::variant<std::monostate, std::vector<ChildInfo>, ChildCounts, Pid, Error>;

// Blocking helpers for threads outside the runtime.
namespace supervisor {
Result<std::vector<ChildInfo>> which_children(Runtime& rt, Pid sup,
                                              std::chrono::milliseconds timeout = std::chrono::seconds(5));
Result<ChildCounts> count_children(Runtime& rt, Pid sup, std::chrono::milliseconds timeout = std::chrono::seconds(5));
// Stops the child (by its shutdown spec) and keeps its spec; replies once it is gone.
Status terminate_child(Runtime& rt, Pid sup, const std::string& id,
                       std::chrono::milliseconds timeout = std::chrono::seconds(30));
Result<Pid> restart_child(Runtime& rt, Pid sup, const std::string& id,
                          std::chrono::milliseconds timeout = std::chrono::seconds(5));
Status delete_child(Runtime& rt, Pid sup, const std::string& id,
                    std::chrono::milliseconds timeout = std::chrono::seconds(5));
// Dynamic supervisors: a new child from the template (or from `spec`, for others).
Result<Pid> start_child(Runtime& rt, Pid sup, ChildSpec spec,
                        std::chrono::milliseconds timeout = std::chrono::seconds(5));
// The published stats of one supervisor, or nullopt if `sup` is not one.
std::optional<SupervisorStats> stats(Runtime& rt, Pid sup);
// Every live supervisor's stats.
std::vector<SupervisorStats> all_stats(Runtime& rt);
}  // namespace supervisor

}  // namespace canopy
