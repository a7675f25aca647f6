#pragma once
// The runtime's implementation: process lifecycle, message delivery, signals,
// names. The public canopy::Runtime forwards here. Thread-safe unless a
// method says otherwise.
#include <atomic>
#include <deque>
#include <memory>
#include <string>
#include <map>
#include <unordered_map>

#include "canopy/core/runtime.hpp"
#include "canopy/core/table_types.hpp"
#include "canopy/telemetry/detail/mutex.hpp"
#include "runtime/process.hpp"
#include "runtime/process_table.hpp"
#include "instrumentation/runtime_telemetry.hpp"
#include "runtime/scheduler.hpp"
#include "runtime/timer_service.hpp"

namespace spdlog {
class logger;
}

namespace canopy::detail {

class RegistryState;
class SupervisorState;
class ReplySlot;

// The runtime's directory of tables and their expiry sweeper. tables/ defines
// it (tables/table_directory.hpp); runtime/ only makes it, destroys it and
// gives it a sweep step on every timer tick (defined in tables/ too).
class TableDirectory;
struct TableDirectoryDeleter {
  void operator()(TableDirectory* d) const;
};
std::unique_ptr<TableDirectory, TableDirectoryDeleter> make_table_directory();
void sweep_due_tables(TableDirectory& d);

// The runtime's modules and upgrades; code/ defines it.
class CodeServer;
struct CodeServerDeleter {
  void operator()(CodeServer* c) const;
};
std::unique_ptr<CodeServer, CodeServerDeleter> make_code_server(Runtime& rt);

// Crash reports and dumps; dump/ defines them (dump/dumps.hpp). runtime/
// makes the object, starts and stops it, and hands every crash of its one
// crash path to record_crash (defined in dump/ too).
class Dumps;
struct DumpsDeleter {
  void operator()(Dumps* d) const;
};
std::unique_ptr<Dumps, DumpsDeleter> make_dumps(Runtime& rt);
void start_dumps(Dumps& d);
void stop_dumps(Dumps& d);
void record_crash(Runtime& rt, Process& p, bool in_terminate, const ExitReason& reason);

// The process the calling thread is running a hook for, if any.
Process* current_process();

class Runtime {
 public:
  Runtime(canopy::Runtime& facade, RuntimeOptions options);
  ~Runtime();
  // Starts the threads (schedulers, timer, poller). Called once, by the
  // facade, after it holds this implementation: from then on its threads may
  // reach the runtime through the facade (impl_of), as the poller does.
  void start();
  void shutdown();

  Result<Pid> spawn(std::unique_ptr<Actor> actor, SpawnOptions options, Process* parent, MonitorRef* monitor_ref);
  // Sends from `from` (nullable: outside the runtime) to `to`.
  Status send(Process* from, Pid to, std::unique_ptr<Message> message);
  // Delivers a signal; when `to` is dead, answers it as a dead process would.
  void signal(Process* from, Pid to, std::unique_ptr<Message> signal);
  Status exit_signal(Process* from, Pid to, ExitReason reason);
  CallResult call_blocking(Pid to, std::unique_ptr<Message> request, std::chrono::milliseconds timeout);
  void call_async(Process& caller, Pid to, std::unique_ptr<Message> request, std::chrono::milliseconds timeout,
                  std::function<void(CallResult)> then);
  // Registers `then` to run in `caller` when the slot given to `attach` is
  // completed, or with Errc::timeout after `timeout`, whichever comes first.
  void await_async(Process& caller, std::chrono::milliseconds timeout,
                   const std::function<void(std::shared_ptr<ReplySlot>)>& attach, std::function<void(CallResult)> then);
  // Spawns with `parent` (any live process) as the parent, from any thread.
  Result<Pid> spawn_under(Pid parent, std::unique_ptr<Actor> actor, SpawnOptions options);
  void send_after(Pid to, std::chrono::milliseconds delay, std::unique_ptr<Message> message);

  // Owner process only.
  void link(Process& self, Pid other);
  void unlink(Process& self, Pid other);
  MonitorRef monitor(Process& self, Pid other);
  void demonitor(Process& self, MonitorRef ref);
  void request_exit(Process& self, ExitReason reason);

  Status register_name(const std::string& name, Pid pid);
  Status unregister(const std::string& name);
  Pid whereis(const std::string& name) const;
  std::shared_ptr<RegistryState> registry(const std::string& name, RegistryKeys keys);
  // Records (under the process's meta lock) that `pid` holds `key` in `reg`.
  Status attach_registry_key(Pid pid, const std::shared_ptr<RegistryState>& reg, const std::string& key,
                             const std::function<Status()>& insert);
  void detach_registry_key(Pid pid, const RegistryState* reg, const std::string& key);

  Status when_exits(Pid pid, std::function<void(Pid, const ExitReason&)> hook);
  Status trace(Pid pid, bool on);
  std::vector<TraceLine> trace_lines(Pid pid, size_t max) const EXCLUDES(trace_mu_);

  // Supervisors publish their state here for stats, readiness and audits.
  void register_supervisor(Pid pid, std::shared_ptr<SupervisorState> state);
  void unregister_supervisor(Pid pid);
  std::shared_ptr<SupervisorState> supervisor_state(Pid pid) const;
  std::vector<std::shared_ptr<SupervisorState>> supervisor_states() const;
  // Supervisors report here: counted, and emitted as [canopy, supervisor, ...].
  void count_boot_failure(const std::string& supervisor, const std::string& child, const std::string& reason);
  void count_restart(const std::string& supervisor, const std::string& child, const std::string& reason);
  void count_intensity_exceeded(const std::string& supervisor);
  std::map<std::string, uint64_t> boot_failures() const;

  Result<Pid> start_application(const std::string& name, SupervisorSpec root);
  Status stop_application(const std::string& name, std::chrono::milliseconds timeout);
  canopy::Runtime::Readiness readiness() const;
  std::vector<std::pair<std::string, Pid>> applications() const EXCLUDES(supervisors_mu_) {
    MutexLock lock(&supervisors_mu_);
    return applications_;
  }
  std::vector<ProcessInfo> audit_orphans(const OrphanAudit& audit);
  std::shared_ptr<spdlog::logger> log_ptr() const { return logger_; }
  RuntimeTelemetry& telemetry() { return telemetry_; }
  // One poller round: emits the vm, scheduler, process, supervisor events.
  void poll() EXCLUDES(poll_mu_);
  friend class PollRound;  // poll()'s steps (instrumentation/runtime_poll.cc)
  friend struct Process;   // takes its behaviour id at construction

  std::optional<ProcessInfo> process_info(Pid pid) const;
  std::vector<ProcessInfo> processes() const;
  TopProcesses top_processes(ProcessRank rank, size_t limit,
                             const std::function<bool(std::string_view, std::string_view)>& filter) const;
  std::vector<Pid> pids() const;
  size_t process_count() const { return live_.load(std::memory_order_relaxed); }
  bool alive(Pid pid) const { return static_cast<bool>(table_.acquire(pid)); }
  std::vector<SchedulerStats> scheduler_stats() const { return schedulers_.stats(); }
  RuntimeStats stats() const;
  RuntimeStats stats_without_scan() const;  // all but mailbox_messages
  const RuntimeOptions& options() const { return options_; }
  void set_default_mailbox(const MailboxOptions& m) EXCLUDES(default_mailbox_mu_) {
    MutexLock lock(&default_mailbox_mu_);
    default_mailbox_ = m;
  }
  MailboxOptions default_mailbox() const EXCLUDES(default_mailbox_mu_) {
    MutexLock lock(&default_mailbox_mu_);
    return default_mailbox_;
  }
  spdlog::logger& log() const { return *logger_; }
  uint32_t now_ms() const { return timers_.now_ms(); }

  // Owner thread only (the scheduler running `p`): runs one time slice that
  // began at `start` (cycles()); returns when it ended. `exhausted` is set
  // when the slice used up its reduction budget.
  uint64_t run_slice(Scheduler& s, Process* p, uint64_t start, bool& exhausted);

  // Code upgrades (code/): hold a process at a message boundary. Thread-safe.
  // request_suspend asks and returns true once `p` is parked (call again
  // until then); while parked no scheduler runs it, sends only queue, and
  // its behaviour may be touched by the caller. resume() lets it run again.
  bool request_suspend(Process& p);
  bool suspended(const Process& p) const;
  void resume(Process& p);
  // Marks `pid` as running that module version (code/, at spawn).
  void tag_code(Pid pid, std::shared_ptr<const CodeTag> tag);
  CodeServer& code() { return *code_; }
  // A counted reference to every live process.
  std::vector<ProcessRef> live_processes() const;

  // tables/ keeps this runtime's tables here.
  TableDirectory& tables() { return *tables_; }
  // dump/ keeps the crash reports and writes dumps here.
  Dumps& dumps() { return *dumps_; }
  // Calls fn(const Process&) for each live process in turn, holding a
  // reference to one process at a time (never a lock across the walk).
  template <typename Fn>
  void for_each_process(Fn&& fn) const {
    const uint32_t hw = table_.high_water();
    for (uint32_t i = 0; i < hw; ++i) {
      if (ProcessRef ref = table_.acquire_index(i)) fn(static_cast<const Process&>(*ref.get()));
    }
  }
  // The parent of a live process, or an invalid Pid.
  Pid parent_of(Pid pid) const {
    ProcessRef ref = table_.acquire(pid);
    return ref ? ref->parent : Pid();
  }
  const BehaviourIds& behaviour_ids() const { return behaviour_ids_; }
  std::vector<const RunningSlot*> running_slots() const { return schedulers_.running_slots(); }
  uint64_t start_ns() const { return start_ns_; }
  canopy::Runtime& facade() const { return *facade_; }

  void count_drop(DropReason reason, Process* target);
  uint64_t reclamation_epoch() const { return table_.epoch(); }

 private:
  // spawn(), step by step: refuse what cannot be spawned; build and publish
  // the process with its links and monitor; register its name and run its
  // init(); on failure unwire it again and return why; else announce it and
  // let it run (it may have messages already).
  Status check_spawn(const Actor* actor, const SpawnOptions& options, const Process* parent,
                     const MonitorRef* monitor_ref) const;
  Process* make_process(Pid pid, std::unique_ptr<Actor> actor, const SpawnOptions& options, Process* parent,
                        MonitorRef* monitor_ref);
  Status start_process(Process& p, const SpawnOptions& options);
  Error fail_spawn(Process& p, const SpawnOptions& options, Process* parent, MonitorRef* monitor_ref,
                   const Status& status);
  void announce_spawn(Process& p);
  ProcessInfo snapshot(const Process& p) const;
  // What top_processes ranks `p` by (oldest_message: milliseconds).
  double rank_value(const Process& p, ProcessRank rank, uint32_t now_ms) const;
  void dispatch(Process& p, std::unique_ptr<Message> m);
  void handle_signal(Process& p, std::unique_ptr<Message>& m);
  void deliver_to_behaviour(Process& p, Message& m);
  // The behaviour hooks the runtime runs, as a crash names them (a call's
  // continuation counts as a handler: it runs while handling the reply).
  enum class Hook : uint8_t { init, handler, terminate };
  // The one crash path ("let it crash"). Owner thread only: runs `fn`, one
  // of `p`'s hooks; an exception escaping it becomes an error exit reason
  // (its what(), or "unknown exception") handed to crash(). False if it threw.
  template <typename F>
  bool run_hook(Process& p, Hook hook, F&& fn);
  // `p` crashed in `hook`: it exits with `reason` (init: without terminate();
  // terminate: with the reason it was already exiting with), and, except for
  // init, whose spawner gets the error instead, a crash report is logged
  // (pid, name, behaviour, last message type, reason) and kept by dump/'s
  // record_crash, which counts it and asks the supervisor chain.
  void crash(Process& p, Hook hook, ExitReason reason);
  void finish_exit(Process& p);
  // A signal that found no live process, or was left in a mailbox at exit.
  void answer_undelivered(Pid dead, std::unique_ptr<Message> m, const ExitReason& reason, bool counted);
  void make_runnable(Process& p);
  // What a flush pushed, for after_flush.
  struct Flushed {
    Process* to = nullptr;  // nullptr: nothing
    uint32_t count = 0;
    Mailbox::PushResult pushed;
  };
  // Pushes the messages a handler sent and batched (see SendBatch), and
  // makes their receiver runnable.
  Flushed flush_batch(SendBatch& batch) REQUIRES(batch.mu);
  // The watermark report and the sender's punishment for a flush; outside
  // batch.mu on a scheduler thread (a report may run user code that sends).
  void after_flush(const Flushed& done);
  // The scheduler thread's own flush, before any send the batch must precede.
  void flush_batch_of(Scheduler& s);
  // Timer thread: pushes batches left waiting behind a blocked handler.
  void flush_stalled_batches();
  // `p`'s mailbox just crossed its high watermark.
  void report_mailbox_high(Process& p);
  void park_suspended(Process& p);
  static void reclaim(Process* p);
  static std::string registered_name(Process& p);
  void trace_line(Process& p, const char* direction, const Message& m, Pid peer) EXCLUDES(trace_mu_);
  void emit(const SystemEvent& event);
  // One system-monitor report about `p`: a log line naming the process
  // (`line(who)` gives its text; a warning unless `warning` is false), the
  // SystemEvent for RuntimeOptions::on_system_event, and the telemetry event
  // `ev` with its one measurement, tagged pid and process (the registered
  // name, else the pid), plus message_type when the SystemEvent has one.
  template <typename Line>
  void report(Process& p, bool warning, Line&& line, const SystemEvent& event, const telemetry::Event& ev,
              const char* measurement, double value);
  void report_long_schedule(Process& p, uint32_t ms, const std::type_info& type);
  void report_mailbox_cleared(Process& p);
  void check_heap(Process& p);
  // Whether p's heap is on the other side of large_heap from its flag.
  bool heap_crossing(const Process& p) const {
    const uint64_t heap = p.running_heap_bytes();
    return p.large_heap ? heap < large_heap_bytes_ / 4 * 3 : heap > large_heap_bytes_;
  }
  uint64_t next_ref() { return ref_counter_.fetch_add(1, std::memory_order_relaxed); }

  // Constant after construction.
  canopy::Runtime* const facade_;
  const RuntimeOptions options_;
  std::shared_ptr<spdlog::logger> logger_;
  const uint64_t start_ns_;
  const uint32_t long_schedule_ms_;  // UINT32_MAX when disabled
  const bool behaviour_metrics_;     // count and time messages per behaviour
  const uint64_t large_heap_bytes_;  // 0 when disabled

  // Declared before the table and the schedulers: built first, gone last.
  RuntimeTelemetry telemetry_;
  Mutex poll_mu_;
  std::vector<SchedulerStats> last_poll_stats_ GUARDED_BY(poll_mu_);
  std::unordered_map<uint64_t, TableCounters> last_table_counters_ GUARDED_BY(poll_mu_);  // by table id
  // The most that processes' heaps and mailboxes held since the allocator
  // last gave freed memory back (runtime_poll.cc: trim_after_drain).
  uint64_t held_peak_bytes_ GUARDED_BY(poll_mu_) = 0;
  // When the last poll round walked the processes (for the per-process rates).
  uint64_t last_walk_ns_ GUARDED_BY(poll_mu_) = 0;

  ProcessTable table_;
  BehaviourIds behaviour_ids_;
  SchedulerPool schedulers_;
  // Before the timer, whose thread sweeps it: the timer stops (in shutdown(),
  // once every process, so every table, is gone) before this is destroyed.
  const std::unique_ptr<TableDirectory, TableDirectoryDeleter> tables_;
  TimerService timers_;
  // Loaded modules. Processes hold their version's library themselves, so
  // its code outlives this if any process does.
  const std::unique_ptr<CodeServer, CodeServerDeleter> code_;
  // Crash reports and the dump thread: stopped in shutdown() before any
  // process is asked to stop (a pending dump still sees them).
  const std::unique_ptr<Dumps, DumpsDeleter> dumps_;

  mutable Mutex default_mailbox_mu_;
  MailboxOptions default_mailbox_ GUARDED_BY(default_mailbox_mu_);

  // The last kTraceRing trace lines of every traced process (trace_line()
  // adds at most 100 a second per process, so the lock is cold).
  static constexpr size_t kTraceRing = 1'000;
  mutable Mutex trace_mu_;
  std::deque<TraceLine> trace_ring_ GUARDED_BY(trace_mu_);

  std::atomic<bool> shutting_down_{false};
  std::atomic<bool> stopped_{false};
  std::atomic<uint64_t> live_{0};
  std::atomic<uint64_t> spawned_{0};
  std::atomic<uint64_t> exited_{0};
  std::atomic<uint64_t> crashed_{0};
  std::atomic<uint64_t> sent_external_{0};
  std::atomic<uint64_t> high_crossings_{0};
  std::atomic<uint64_t> long_schedules_{0};
  std::atomic<uint64_t> large_heaps_{0};
  std::atomic<uint64_t> dropped_[static_cast<size_t>(DropReason::count_)] = {};
  std::atomic<uint64_t> ref_counter_{1};

  mutable SharedMutex names_mu_;
  std::unordered_map<std::string, Pid> names_ GUARDED_BY(names_mu_);

  mutable Mutex supervisors_mu_;
  std::unordered_map<Pid, std::shared_ptr<SupervisorState>> supervisors_ GUARDED_BY(supervisors_mu_);
  std::map<std::string, uint64_t> boot_failures_ GUARDED_BY(supervisors_mu_);
  std::vector<std::pair<std::string, Pid>> applications_ GUARDED_BY(supervisors_mu_);
  std::atomic<uint64_t> restarts_{0};

  Mutex registries_mu_;
  std::unordered_map<std::string, std::shared_ptr<RegistryState>> registries_ GUARDED_BY(registries_mu_);
};

// The implementation behind a canopy::Runtime, for the rooms of core/src
// that build on the runtime (supervision/, tables/); users cannot name it.
struct RuntimeAccess {
  static Runtime& impl(canopy::Runtime& rt) { return *rt.impl_; }
};
inline Runtime& impl_of(canopy::Runtime& rt) { return RuntimeAccess::impl(rt); }

// The registry's state; its entries are removed by the runtime on exit.
class RegistryState {
 public:
  RegistryState(Runtime& rt, std::string name, RegistryKeys kind) : rt(rt), name(std::move(name)), kind(kind) {}
  Runtime& rt;
  const std::string name;
  const RegistryKeys kind;
  mutable Mutex mu;
  std::unordered_multimap<std::string, Registry::Entry> entries GUARDED_BY(mu);
};

// The server side of one call: completes the caller's wait (outside the
// runtime) or sends it a ReplySignal (inside). Thread-safe.
class ReplySlot {
 public:
  struct Waiter {
    Mutex mu;
    CondVar cv;
    std::optional<CallResult> result GUARDED_BY(mu);
  };
  explicit ReplySlot(std::shared_ptr<Waiter> waiter) : waiter_(std::move(waiter)) {}
  ReplySlot(Runtime& rt, Pid caller, uint64_t ref) : rt_(&rt), caller_(caller), ref_(ref) {}
  ~ReplySlot();
  bool complete(CallResult result);
  Pid caller() const { return caller_; }

 private:
  std::atomic<bool> done_{false};
  std::shared_ptr<Waiter> waiter_;
  Runtime* rt_ = nullptr;
  Pid caller_;
  uint64_t ref_ = 0;
};

}  // namespace canopy::detail
