#pragma once
// The Runtime: one explicit object that owns the process table, the
// schedulers and the timer thread. No global state: several runtimes may live
// in one program (tests do). Thread-safe: every method may be called from any
// thread, inside or outside a process, unless it says otherwise.
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "canopy/core/actor.hpp"
#include "canopy/core/call.hpp"
#include "canopy/core/code.hpp"
#include "canopy/core/info.hpp"
#include "canopy/core/options.hpp"
#include "canopy/core/registry.hpp"
#include "canopy/core/result.hpp"
#include "canopy/core/supervisor.hpp"
#include "canopy/telemetry/bus.hpp"
#include "canopy/telemetry/collect.hpp"
#include "canopy/telemetry/metrics.hpp"
#include "canopy/telemetry/poller.hpp"

namespace canopy {

namespace detail {
class Runtime;
struct RuntimeAccess;  // core/src only: reaches the implementation
}  // namespace detail

// The orphan audit: processes nobody would notice dying or leaking.
struct OrphanAudit {
  // Only processes at least this old count (young ones may still be wired up).
  std::chrono::milliseconds min_age{std::chrono::seconds(60)};
  enum class Policy : uint8_t { report, terminate } policy = Policy::report;
};

class Runtime {
 public:
  explicit Runtime(RuntimeOptions options = {});
  // Calls shutdown().
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Terminates every process (each gets exit reason `shutdown` and its
  // terminate() runs), then joins every thread. Idempotent. Must not be
  // called from inside a process.
  void shutdown();

  // --- processes ---------------------------------------------------------
  // Spawns a process running `A(args...)`. Inside a process the caller
  // becomes the parent. init() runs before this returns; its failure is
  // returned as Errc::init_failed.
  template <typename A, typename... Args>
  Result<Pid> spawn(Args&&... args) {
    return spawn(std::make_unique<A>(std::forward<Args>(args)...), SpawnOptions{});
  }
  template <typename A, typename... Args>
  Result<Pid> spawn_opts(SpawnOptions options, Args&&... args) {
    return spawn(std::make_unique<A>(std::forward<Args>(args)...), std::move(options));
  }
  Result<Pid> spawn(std::unique_ptr<Actor> actor, SpawnOptions options = {});
  // Spawn linked to the calling process (Errc::not_in_process from outside).
  template <typename A, typename... Args>
  Result<Pid> spawn_link(Args&&... args) {
    SpawnOptions o;
    o.link = true;
    return spawn(std::make_unique<A>(std::forward<Args>(args)...), std::move(o));
  }
  // Spawn and monitor from the calling process (Errc::not_in_process from outside).
  Result<std::pair<Pid, MonitorRef>> spawn_monitor(std::unique_ptr<Actor> actor, SpawnOptions options = {});

  // The calling process, or an invalid Pid on a thread outside the runtime.
  Pid self() const;

  // --- messages ------------------------------------------------------------
  // Sends to `to`. Never throws. Errors: dead_process (also counted as a drop
  // with reason dead_process), mailbox_full, dropped (bounded mailboxes).
  template <typename T>
  Status send(Pid to, T&& value) {
    return send_message(to, make_message(std::forward<T>(value)));
  }
  Status send_message(Pid to, std::unique_ptr<Message> message);
  // Sends to a registered name.
  template <typename T>
  Status send(const std::string& name, T&& value) {
    return send_message(whereis(name), make_message(std::forward<T>(value)));
  }
  // A GenServer cast.
  template <typename T>
  Status cast(Pid to, T&& value) {
    return send_message(to, make_message(std::forward<T>(value), MessageKind::cast));
  }
  // Sends an exit signal to `pid` from the calling process (or from nowhere).
  // `kill` cannot be trapped; `normal` is ignored unless `pid` traps exits.
  Status exit(Pid pid, ExitReason reason);

  // A blocking GenServer call for threads outside the runtime: waits for the
  // reply at most `timeout`. Errors: timeout, dead_process, callee_exited
  // (with the callee's exit reason), bad_request. Inside a process it refuses
  // with not_in_process (use Actor::call, which never blocks a scheduler).
  template <typename Reply, typename Request>
  Result<Reply> call(Pid to, Request&& request, std::chrono::milliseconds timeout) {
    return typed_reply<Reply>(call_message(to, make_message(std::forward<Request>(request)), timeout));
  }
  CallResult call_message(Pid to, std::unique_ptr<Message> request, std::chrono::milliseconds timeout);

  // Logs every message `pid` receives and sends (at most 100 lines a second).
  Status trace(Pid pid, bool on);
  // The last `max` trace lines of `pid`, oldest first (the runtime keeps the
  // last 1,000 lines of all traced processes together).
  std::vector<TraceLine> trace_lines(Pid pid, size_t max = 50) const;

  // Runs `hook(pid, reason)` when `pid` exits, on the thread that finishes
  // it (keep it short). For resources a process owns, such as tables.
  Status when_exits(Pid pid, std::function<void(Pid, const ExitReason&)> hook);

  // --- names -----------------------------------------------------------------
  Status register_name(const std::string& name, Pid pid);
  Status unregister(const std::string& name);
  // The pid registered as `name`, or an invalid Pid.
  Pid whereis(const std::string& name) const;
  // A named key registry; the same name returns the same registry.
  Registry registry(const std::string& name, RegistryKeys keys = RegistryKeys::unique);

  // --- applications ----------------------------------------------------------
  // Starts an application: a root supervisor and its tree. A failure comes
  // back (and is logged once at error level) naming the whole chain:
  // "application 'shop' failed to start: supervisor 'root' → child 'db_pool' → init failed: ...".
  Result<Pid> start_application(const std::string& name, SupervisorSpec root);
  // Stops the application's tree (children in reverse order) and waits for it.
  Status stop_application(const std::string& name, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  struct Readiness {
    bool ready = false;
    std::string reason;  // why not, naming the application, supervisor and child
  };
  // Ready when at least one application is running, its root tree booted and
  // every non-optional child in every tree is running (what /readyz serves).
  Readiness readiness() const;
  // Running applications: (name, root supervisor).
  std::vector<std::pair<std::string, Pid>> applications() const;
  // Boot failures per child id, since start.
  std::map<std::string, uint64_t> boot_failures() const;

  // --- detectors ----------------------------------------------------------------
  // Processes not under any supervisor, not linked, not monitored, not
  // registered (name or registry key) and older than `min_age`; with policy
  // `terminate` they are also killed (and each is logged).
  std::vector<ProcessInfo> audit_orphans(const OrphanAudit& audit = {});

  // --- code (modules and hot upgrade; canopy/core/module.hpp is the ABI) -------
  // Loads a module library: its first version, or a new one that new spawns
  // get. Errors (cannot open, no entry point, ABI mismatch, bad description,
  // version already loaded) come back as values naming the path.
  Result<ModuleVersionInfo> load_module(const std::string& path);
  // Spawns `behaviour` of the current version of `module`; `arg` goes to its
  // create(). Talk to it with ModuleCall (reply std::string) and ModuleCast.
  Result<Pid> spawn_module(const std::string& module, const std::string& behaviour, std::string arg = {},
                           SpawnOptions options = {});
  // The same as an Actor, for a supervisor's ChildSpec::start: each call
  // takes the version current then, so a restart after an upgrade runs the
  // new code. If the module or behaviour is unknown, the actor's init fails
  // saying so.
  std::unique_ptr<Actor> module_actor(const std::string& module, const std::string& behaviour, std::string arg = {});
  // Moves every process of `module` to the version at `path`: each is
  // suspended at a message boundary (its mailbox keeps filling, in order),
  // its state saved and migrated by the new version's code_change; only if
  // all succeed do they resume on the new code, else all resume on the old
  // code with their old state and the new version is unloaded. A rollback
  // is a result (outcome rolled_back, failed_pid, reason); an error is for
  // an upgrade that could not start (bad library, wrong name, version already
  // loaded, module not loaded, called from inside a process).
  Result<UpgradeResult> upgrade(const std::string& module, const std::string& path, UpgradeOptions options = {});
  // Every loaded version, with its live process count.
  std::vector<ModuleVersionInfo> modules() const;

  // --- introspection -----------------------------------------------------------
  std::optional<ProcessInfo> process_info(Pid pid) const;
  std::vector<ProcessInfo> processes() const;
  // The `limit` processes ranked highest by `rank` among those `filter`
  // accepts (every process when it is empty), largest first. One pass reads
  // one number per process and a partial sort picks the winners; only they
  // are snapshotted, so it stays fast with a million processes. `filter`
  // sees the registered name ("" when none) and the behaviour's type name.
  TopProcesses top_processes(ProcessRank rank, size_t limit,
                             const std::function<bool(std::string_view name, std::string_view behaviour)>& filter =
                                 {}) const;
  std::vector<Pid> pids() const;
  size_t process_count() const;
  bool alive(Pid pid) const;
  std::vector<SchedulerStats> scheduler_stats() const;
  RuntimeStats stats() const;
  const RuntimeOptions& options() const;
  // The mailbox options of spawns that give none (watermarks, bounds); takes
  // effect for processes spawned after the call (config reload).
  void set_default_mailbox(const MailboxOptions& mailbox);
  MailboxOptions default_mailbox() const;

  // --- telemetry ---------------------------------------------------------------
  // The runtime's event bus: attach handlers to [canopy, ...] events here.
  telemetry::Bus& telemetry_bus();
  // The metric definitions in force (the built-in set unless disabled); add your own.
  telemetry::Metrics& metrics();
  // The poller that measures the runtime; add your own measurements.
  telemetry::Poller& poller();
  // Runs one poller round now, on this thread (tests, scripts).
  void poll_now();
  // Every metric family, as an exporter serves it.
  std::vector<telemetry::Family> collect() const;
  // The same families streamed into `sink` (what a scrape uses: no
  // per-series objects are built).
  void collect_into(telemetry::FamilySink& sink) const;

 private:
  // The layers of core/src that build on the runtime reach it through
  // detail::RuntimeAccess; it is no part of the public API.
  friend struct detail::RuntimeAccess;
  std::unique_ptr<detail::Runtime> impl_;
};

}  // namespace canopy
