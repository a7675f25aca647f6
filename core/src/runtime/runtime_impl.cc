// Room runtime/: the actor runtime proper. It owns pids and the process
// table, mailboxes, the schedulers and their run queues, the timer thread,
// process lifecycle (spawn, exit signals, links, monitors, trap_exit, the one
// crash path), message delivery and calls, registered names and the Registry.
// Everything else in core/ builds on it. It may use telemetry/ (through
// instrumentation/'s RuntimeTelemetry, to emit events), spdlog and the
// standard library; it never includes supervision/, tables/ or stages/ —
// those hook into it through its public hooks (exit hooks, supervisor
// directory, the table directory it keeps and ticks without knowing it).
//
// This file: the detail::Runtime behind canopy::Runtime.
#include "runtime/runtime_impl.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "canopy/telemetry/detail/logger.hpp"
#include "runtime/cycle_clock.hpp"

namespace canopy::detail {

namespace {
thread_local Process* tl_current = nullptr;
// Set on runtime-owned threads outside the schedulers (the timer thread):
// a send from them must never wait for room in a `block` mailbox.
thread_local bool tl_never_block = false;

// Makes `p` the current process of this thread for a scope (hooks may nest:
// a spawn runs the child's init inside the parent's handler).
class CurrentProcess {
 public:
  // `on_scheduler`: the caller knows it runs on a scheduler thread (run_slice),
  // which spares the destructor asking.
  explicit CurrentProcess(Process* p, bool on_scheduler = false)
      : on_scheduler_(on_scheduler),
        previous_(tl_current),
        previous_slot_(heap::tl_ledger.slot),
        previous_generation_(heap::tl_ledger.slot_generation) {
    tl_current = p;
    heap::tl_ledger.slot = p->heap_slot;
    heap::tl_ledger.slot_generation = p->heap_generation;
  }
  ~CurrentProcess() {
    // A process run on another thread (a spawn's init on a user thread):
    // no scheduler parks there to hand its batched heap bytes over.
    if (!on_scheduler_ && !on_scheduler_thread()) heap::flush();
    tl_current = previous_;
    heap::tl_ledger.slot = previous_slot_;
    heap::tl_ledger.slot_generation = previous_generation_;
  }
  CurrentProcess(const CurrentProcess&) = delete;
  CurrentProcess& operator=(const CurrentProcess&) = delete;

 private:
  bool on_scheduler_;
  Process* previous_;
  uint32_t previous_slot_;
  uint32_t previous_generation_;
};

// Single-writer counters: a plain load+store, no locked instruction.
inline void bump(std::atomic<uint64_t>& c, uint64_t n = 1) {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

template <typename T>
void erase_value(std::vector<T>& v, const T& x) {
  v.erase(std::remove(v.begin(), v.end(), x), v.end());
}

// Receiver backlog beyond which a send costs the sender extra reductions:
// one more per 512 waiting, up to kMaxPunishment, so producers slow down
// until the consumer keeps up (and its mailbox stays warm in cache).
constexpr uint32_t kPunishBacklog = 1024;
constexpr uint32_t kMaxPunishment = 63;
uint32_t punishment(uint32_t backlog) { return std::min<uint32_t>(backlog >> 9, kMaxPunishment); }
// A slice's overspending carried to the next ones, at most this many
// slices' worth, repaid at one reduction per kNsPerReduction of wall time.
constexpr int64_t kMaxDebtSlices = 16;
constexpr uint64_t kNsPerReduction = 20;
// A handler's run of sends to one mailbox goes in this many at a time at
// most, so a long handler's receiver is not kept waiting for all of it.
constexpr uint32_t kMaxSendBatch = 256;
// A batch older than this when the timer thread looks is pushed by it.
constexpr uint32_t kStalledBatchMs = 2;

ExitReason propagated(const ExitReason& r) { return r.kind() == ExitKind::kill ? ExitReason::killed() : r; }

std::string describe(const Process& p, const std::string& name) {
  std::string s = "process " + p.pid.to_string();
  if (!name.empty()) s += " ('" + name + "')";
  s += " running " + type_name(p.behaviour_type);
  return s;
}

// The dynamic type of the behaviour (a named step: typeid(*actor) on the
// unique_ptr would call operator* inside typeid, which clang warns about).
const std::type_info& dynamic_type(const Actor& actor) { return typeid(actor); }
}  // namespace

Process* current_process() { return tl_current; }

Process::Process(Runtime& rt, Pid pid, Pid parent, const MailboxOptions& mailbox_options, std::unique_ptr<Actor> actor)
    : runtime(rt),
      pid(pid),
      parent(parent),
      spawn_mono_ns(mono_ns()),
      spawned_at(std::chrono::system_clock::now()),
      behaviour_type(dynamic_type(*actor)),
      behaviour_id(rt.behaviour_ids_.id_of(behaviour_type)),
      behaviour(std::move(actor)),
      mailbox(mailbox_options),
      heap_slot(heap::acquire_slot()),
      heap_generation(heap::generation_of(heap_slot)),
      heap_word(heap::slot_word(heap_slot)) {}

Process::~Process() = default;

// --- ReplySlot ----------------------------------------------------------------

ReplySlot::~ReplySlot() {
  if (!done_.load(std::memory_order_acquire)) {
    complete(Error(Errc::callee_exited, "the callee exited or dropped the request without replying"));
  }
}

bool ReplySlot::complete(CallResult result) {
  if (done_.exchange(true, std::memory_order_acq_rel)) return false;
  if (waiter_) {
    {
      MutexLock lock(&waiter_->mu);
      waiter_->result.emplace(std::move(result));
    }
    waiter_->cv.notify_all();
  } else {
    rt_->signal(nullptr, caller_, make_signal(ReplySignal{ref_, std::move(result)}));
  }
  return true;
}

// --- lifecycle ------------------------------------------------------------------

Runtime::Runtime(canopy::Runtime& facade, RuntimeOptions options)
    : facade_(&facade),
      options_(std::move(options)),
      logger_(options_.logger ? options_.logger : detail::logger("canopy.core")),
      start_ns_(mono_ns()),
      long_schedule_ms_(options_.system_monitor.long_schedule.count() > 0
                            ? static_cast<uint32_t>(options_.system_monitor.long_schedule.count())
                            : UINT32_MAX),
      behaviour_metrics_(options_.telemetry.enabled && options_.telemetry.behaviour_metrics),
      large_heap_bytes_(options_.system_monitor.large_heap_bytes),
      telemetry_(options_.telemetry, logger_),
      table_(options_.max_processes, &Runtime::reclaim),
      schedulers_(*this, options_.schedulers, options_.reductions_per_slice),
      tables_(make_table_directory()),
      timers_(
          [this](Pid to, std::unique_ptr<Message> m) {
            tl_never_block = true;
            if (m->kind() == MessageKind::signal) {
              signal(nullptr, to, std::move(m));
            } else {
              (void)send(nullptr, to, std::move(m));
            }
          },
          [this] {
            tl_never_block = true;
            schedulers_.watchdog();
            flush_stalled_batches();
            table_.collect(schedulers_.min_observed());
            sweep_due_tables(*tables_);
          }),
      code_(make_code_server(*this)),
      dumps_(make_dumps(*this)) {
  (void)ns_per_cycle();  // calibrate before any scheduler measures
  default_mailbox_ = options_.default_mailbox;
  table_.set_quiescence([this] { return schedulers_.min_observed(); });
}

void Runtime::start() {
  start_dumps(*dumps_);
  schedulers_.start();
  timers_.start();
  if (options_.telemetry.enabled) {
    telemetry_.poller().add("canopy.runtime", [this] { poll(); });
    telemetry_.poller().start();
  }
}

Runtime::~Runtime() { shutdown(); }

void Runtime::shutdown() {
  if (stopped_.exchange(true)) return;
  stop_dumps(*dumps_);
  telemetry_.poller().stop();
  shutting_down_.store(true, std::memory_order_seq_cst);
  if (tl_current != nullptr && &tl_current->runtime == this) {
    logger_->critical("Runtime::shutdown() called from inside process {}; it would wait for itself",
                      tl_current->pid.to_string());
  }
  const uint64_t started = mono_ns();
  uint64_t last_sweep = 0;
  bool reported = false;
  // Ask every process to stop; repeat now and then for any spawned while the
  // first sweep ran. Wait until every slot is reclaimed.
  while (table_.occupied() > 0) {
    const uint64_t now = mono_ns();
    if (last_sweep == 0 || now - last_sweep > 100'000'000) {
      last_sweep = now;
      const uint32_t hw = table_.high_water();
      for (uint32_t i = 0; i < hw; ++i) {
        if (ProcessRef ref = table_.acquire_index(i)) {
          signal(nullptr, ref->pid, make_signal(StopSignal{ExitReason::shutdown()}));
        }
      }
    }
    if (!reported && now - started > static_cast<uint64_t>(options_.shutdown_report_after.count()) * 1'000'000) {
      reported = true;
      logger_->error(
          "shutdown: {} processes still running after {} ms (a handler that never returns cannot be "
          "preempted)",
          table_.occupied(), options_.shutdown_report_after.count());
    }
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  timers_.stop();
  schedulers_.stop();
}

// --- the crash path ----------------------------------------------------------------

template <typename F>
bool Runtime::run_hook(Process& p, Hook hook, F&& fn) {
  try {
    std::forward<F>(fn)();
    return true;
  } catch (const std::exception& e) {
    crash(p, hook, ExitReason::error(e.what()));
  } catch (...) {
    crash(p, hook, ExitReason::error("unknown exception"));
  }
  return false;
}

// --- spawn ----------------------------------------------------------------------

Result<Pid> Runtime::spawn(std::unique_ptr<Actor> actor, SpawnOptions options, Process* parent,
                           MonitorRef* monitor_ref) {
  if (Status st = check_spawn(actor.get(), options, parent, monitor_ref); !st.ok()) return st.error();
  const std::optional<Pid> pid = table_.reserve();
  if (!pid) {
    return Error(Errc::process_limit, "spawn: process limit of " + std::to_string(table_.capacity()) +
                                          " reached (RuntimeOptions::max_processes)");
  }
  Process* p = make_process(*pid, std::move(actor), options, parent, monitor_ref);
  if (Status st = start_process(*p, options); !st.ok()) return fail_spawn(*p, options, parent, monitor_ref, st);
  announce_spawn(*p);
  return *pid;
}

Status Runtime::check_spawn(const Actor* actor, const SpawnOptions& options, const Process* parent,
                            const MonitorRef* monitor_ref) const {
  if (actor == nullptr) return Error(Errc::invalid_argument, "spawn: no behaviour given (null Actor)");
  if (shutting_down_.load(std::memory_order_acquire)) {
    return Error(Errc::shutting_down, "spawn: the runtime is shutting down");
  }
  if ((options.link || monitor_ref != nullptr) && parent == nullptr) {
    return Error(Errc::not_in_process,
                 "spawn_link/spawn_monitor need a calling process; this thread is not running one");
  }
  return {};
}

Process* Runtime::make_process(Pid pid, std::unique_ptr<Actor> actor, const SpawnOptions& options, Process* parent,
                               MonitorRef* monitor_ref) {
  // The process's own structures are the runtime's, not its parent's heap.
  heap::ScopedSlot runtime_owned(0);
  auto* p = new Process(*this, pid, parent ? parent->pid : Pid(),
                        options.mailbox ? *options.mailbox : default_mailbox(), std::move(actor));
  p->behaviour->runtime_ = facade_;
  p->behaviour->process_ = p;
  p->behaviour->self_ = pid;
  p->trap_exit.store(options.trap_exit, std::memory_order_relaxed);
  // `p` is not published yet, so its meta_lock is uncontended (one atomic
  // exchange); it is taken so the analysis can check the accesses.
  if (options.link) {
    {
      SpinLockGuard lock(&p->meta_lock);
      p->meta_locked().links.push_back(parent->pid);
    }
    SpinLockGuard lock(&parent->meta_lock);
    parent->meta_locked().links.push_back(pid);
  }
  if (monitor_ref != nullptr) {
    *monitor_ref = next_ref();
    {
      SpinLockGuard lock(&p->meta_lock);
      p->meta_locked().monitored_by.emplace_back(*monitor_ref, parent->pid);
    }
    SpinLockGuard lock(&parent->meta_lock);
    parent->meta_locked().monitoring.emplace_back(*monitor_ref, pid);
  }
  live_.fetch_add(1, std::memory_order_relaxed);
  spawned_.fetch_add(1, std::memory_order_relaxed);
  table_.publish(pid, p);
  return p;
}

Status Runtime::start_process(Process& p, const SpawnOptions& options) {
  if (!options.name.empty()) {
    if (Status st = register_name(options.name, p.pid); !st.ok()) return st;
  }
  CurrentProcess scope(&p);
  Status status;
  if (!run_hook(p, Hook::init, [&] { status = p.behaviour->init(); })) {
    return Error(Errc::init_failed, p.exit_reason.text());
  }
  if (status.ok() && p.exiting) return Error(Errc::init_failed, "init stopped: " + p.exit_reason.to_string());
  return status;
}

Error Runtime::fail_spawn(Process& p, const SpawnOptions& options, Process* parent, MonitorRef* monitor_ref,
                          const Status& status) {
  // The spawner gets the error instead of an exit signal: quietly drop the
  // links made by make_process, then exit without calling terminate().
  if (options.link || monitor_ref != nullptr) {
    const MonitorRef ref = monitor_ref != nullptr ? *monitor_ref : 0;
    auto same_ref = [&](auto& e) { return e.first == ref; };
    {
      SpinLockGuard lock(&p.meta_lock);
      erase_value(p.meta_locked().links, parent->pid);
      std::erase_if(p.meta_locked().monitored_by, same_ref);
    }
    SpinLockGuard lock(&parent->meta_lock);
    erase_value(parent->meta_locked().links, p.pid);
    std::erase_if(parent->meta_locked().monitoring, same_ref);
  }
  const std::string behaviour = type_name(p.behaviour_type);
  const std::string why = status.error().message();
  p.exiting = true;
  p.skip_terminate = true;
  p.exit_reason = ExitReason::error("init failed: " + why);
  finish_exit(p);  // `p` may be gone after this
  if (status.code() == Errc::already_registered) return status.error();
  return Error(Errc::init_failed, "init of " + behaviour + " failed: " + why, why);
}

void Runtime::announce_spawn(Process& p) {
  if (const auto& ev = *telemetry_.events().spawn; ev.active()) {
    const std::string behaviour = type_name(p.behaviour_type);
    telemetry_.bus().execute(ev, {{"count", 1}}, {{"pid", p.pid.to_string()}, {"behaviour", behaviour}});
  }
  uint8_t expected = kRunning;
  p.status.store(static_cast<uint8_t>(ProcessStatus::waiting), std::memory_order_relaxed);
  if (!p.sched_state.compare_exchange_strong(expected, kWaiting, std::memory_order_acq_rel)) {
    // Messages arrived during init.
    p.sched_state.store(kScheduled, std::memory_order_release);
    p.status.store(static_cast<uint8_t>(ProcessStatus::runnable), std::memory_order_relaxed);
    schedulers_.schedule(&p);
  }
}

// --- delivery -----------------------------------------------------------------------

void Runtime::count_drop(DropReason reason, Process* target) {
  dropped_[static_cast<size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
  if (target != nullptr) target->dropped.fetch_add(1, std::memory_order_relaxed);
  if (const auto& ev = *telemetry_.events().drop; ev.active()) {
    telemetry_.bus().execute(ev, {{"count", 1}}, {{"reason", to_string(reason)}});
  }
}

void Runtime::make_runnable(Process& p) {
  uint8_t state = p.sched_state.load(std::memory_order_acquire);
  for (;;) {
    if (state == kWaiting) {
      if (p.sched_state.compare_exchange_weak(state, kScheduled, std::memory_order_acq_rel)) {
        p.status.store(static_cast<uint8_t>(ProcessStatus::runnable), std::memory_order_relaxed);
        schedulers_.schedule(&p);
        return;
      }
    } else if (state == kRunning) {
      if (p.sched_state.compare_exchange_weak(state, kRunningDirty, std::memory_order_acq_rel)) return;
    } else {
      return;  // already queued, already told, or gone
    }
  }
}

Status Runtime::send(Process* from, Pid to, std::unique_ptr<Message> m) {
  if (!m) return Error(Errc::invalid_argument, "send: null message");
  if (from != nullptr) {
    m->sender_ = from->pid;
    if (from->traced.load(std::memory_order_relaxed) && from == tl_current) trace_line(*from, "out", *m, to);
  }
  // A scheduler thread is inside a slice here and may skip the reference
  // count (ProcessTable's quiescent-state reclamation); others take one.
  Scheduler* s = schedulers_.current();
  ProcessRef ref;
  Process* p = nullptr;
  if (s != nullptr) {
    p = table_.lookup_unreferenced(to);
  } else if ((ref = table_.acquire(to))) {
    p = ref.get();
  }
  if (p == nullptr) {
    if (m->kind() == MessageKind::signal) {
      answer_undelivered(to, std::move(m), ExitReason::noproc(), true);
    } else {
      count_drop(DropReason::dead_process, nullptr);
    }
    return Error(Errc::dead_process, "no process " + to.to_string() + " (it exited or never existed)");
  }
  if (s != nullptr && s->batch().open) {
    SendBatch& batch = s->batch();
    // A run of sends from the running handler to one other unbounded
    // mailbox waits in the batch from its second message on (a handler that
    // sends once, as in a ring, pays nothing); anything else goes after what
    // is batched, so every pair's order (messages and signals alike) holds.
    Process* const previous = batch.previous;
    batch.previous = p;
    if (p == previous && from == tl_current && from != nullptr && p != from && m->kind() != MessageKind::signal &&
        !p->mailbox.bounded()) {
      // Reports (user callbacks that may send) wait until the lock is free.
      Flushed done;
      {
        SpinLockGuard guard(&batch.mu);
        Message* raw = m.release();
        raw->stamp_ms_ = timers_.now_ms();
        raw->next.store(nullptr, std::memory_order_relaxed);
        if (batch.first == nullptr) {
          batch.to = p;
          batch.first = raw;
          // 0 means empty, so the coarse clock's wrap (49.7 days) maps to 1.
          batch.since_ms.store(std::max<uint32_t>(raw->stamp_ms_ + 1, 1), std::memory_order_relaxed);
        } else {
          batch.last->next.store(raw, std::memory_order_relaxed);
        }
        batch.last = raw;
        ++batch.count;
        batch.packed += Mailbox::count_of(raw);
        if (batch.count == kMaxSendBatch) done = flush_batch(batch);
      }
      after_flush(done);
      s->count_sent();
      from->extra_reductions += 1;
      return {};
    }
    flush_batch_of(*s);
  }
  const bool may_block = s == nullptr && tl_current == nullptr && !tl_never_block;
  Mailbox::PushResult r = p->mailbox.push(m.get(), timers_.now_ms(), may_block);
  switch (r.outcome) {
    case Mailbox::Outcome::accepted:
      m.release();
      break;
    case Mailbox::Outcome::dropped_newest:
      count_drop(DropReason::drop_newest, p);
      return Error(Errc::dropped, "mailbox of " + to.to_string() + " is full (capacity " +
                                      std::to_string(p->mailbox.capacity()) + ", policy drop_newest)");
    case Mailbox::Outcome::rejected:
      count_drop(DropReason::rejected, p);
      return Error(Errc::mailbox_full, "mailbox of " + to.to_string() + " is full (capacity " +
                                           std::to_string(p->mailbox.capacity()) + ")");
    case Mailbox::Outcome::closed:
      if (m->kind() == MessageKind::signal) {
        answer_undelivered(to, std::move(m), ExitReason::noproc(), true);
      } else {
        count_drop(DropReason::dead_process, p);
      }
      return Error(Errc::dead_process, "process " + to.to_string() + " exited");
  }
  if (r.evicted != nullptr) {
    count_drop(DropReason::drop_oldest, p);
    delete r.evicted;  // a call in it answers its caller with callee_exited
  }
  if (r.crossed_high) report_mailbox_high(*p);
  if (s != nullptr) {
    s->count_sent();
  } else {
    sent_external_.fetch_add(1, std::memory_order_relaxed);
  }
  if (from != nullptr && from == tl_current) {
    // As on the BEAM, a send costs the sender reductions, and more when the
    // receiver is behind, so a flooding producer yields to its consumer.
    from->extra_reductions += 1 + (r.length_before > kPunishBacklog ? punishment(r.length_before) : 0);
  }
  make_runnable(*p);
  return {};
}

Runtime::Flushed Runtime::flush_batch(SendBatch& batch) {
  Process& p = *batch.to;
  const Flushed done{&p, batch.count, p.mailbox.push_chain(batch.first, batch.last, batch.count, batch.packed)};
  batch.to = nullptr;
  batch.first = batch.last = nullptr;
  batch.count = 0;
  batch.packed = 0;
  batch.since_ms.store(0, std::memory_order_relaxed);
  make_runnable(p);
  return done;
}

void Runtime::after_flush(const Flushed& done) {
  if (done.to == nullptr) return;
  if (done.pushed.crossed_high) report_mailbox_high(*done.to);
  // The sender pays for the receiver's backlog, as for a single send; the
  // timer thread's flush has no sender to charge.
  if (done.pushed.length_before > kPunishBacklog && tl_current != nullptr && &tl_current->runtime == this) {
    tl_current->extra_reductions += done.count * punishment(done.pushed.length_before);
  }
}

void Runtime::flush_batch_of(Scheduler& s) {
  SendBatch& batch = s.batch();
  if (batch.since_ms.load(std::memory_order_relaxed) == 0) return;
  Flushed done;
  {
    SpinLockGuard guard(&batch.mu);
    if (batch.first != nullptr) done = flush_batch(batch);
  }
  after_flush(done);
}

void Runtime::flush_stalled_batches() {
  // A handler that blocks (sleeps, waits on a lock or a socket) after a run
  // of sends must not hold the run back: after kStalledBatchMs the timer
  // thread pushes it. It holds the lock throughout: once the owner may go
  // on, its slice may end and the receiver be reclaimed.
  const uint32_t now = timers_.now_ms();
  for (size_t i = 0; i < schedulers_.size(); ++i) {
    SendBatch& batch = schedulers_.at(i).batch();
    const uint32_t since = batch.since_ms.load(std::memory_order_relaxed);
    if (since == 0 || now + 1 - since < kStalledBatchMs || !batch.mu.try_lock()) continue;
    if (batch.first != nullptr) after_flush(flush_batch(batch));
    batch.mu.unlock();
  }
}

void Runtime::report_mailbox_high(Process& p) {
  high_crossings_.fetch_add(1, std::memory_order_relaxed);
  const uint32_t length = p.mailbox.length();
  report(
      p, true,
      [&](const std::string& who) {
        return fmt::format("long_message_queue: mailbox of {} crossed its high watermark: {} messages waiting", who,
                           length);
      },
      SystemEvent{SystemEventKind::long_message_queue, p.pid, length, nullptr}, *telemetry_.events().mailbox_high,
      "length", length);
}

void Runtime::signal(Process* from, Pid to, std::unique_ptr<Message> sig) {
  if (const auto* e = sig->as<ExitSignal>(); e != nullptr && e->reason.kind() != ExitKind::normal) {
    // An exit signal that will take the target down: let a long handler know.
    const bool untrappable = !e->from_link && e->reason.kind() == ExitKind::kill;
    if (ProcessRef target = table_.acquire(to)) {
      if (untrappable || !target->trap_exit.load(std::memory_order_relaxed)) {
        target->kill_pending.store(true, std::memory_order_relaxed);
      }
    }
  }
  (void)send(from, to, std::move(sig));
}

Status Runtime::exit_signal(Process* from, Pid to, ExitReason reason) {
  if (!alive(to)) return Error(Errc::dead_process, "exit: no process " + to.to_string());
  signal(from, to, make_signal(ExitSignal{from ? from->pid : Pid(), std::move(reason), false}));
  return {};
}

void Runtime::answer_undelivered(Pid dead, std::unique_ptr<Message> m, const ExitReason& reason, bool counted) {
  switch (m->kind()) {
    case MessageKind::signal:
      if (auto* link = m->as<LinkSignal>()) {
        signal(nullptr, link->from, make_signal(ExitSignal{dead, reason, true}));
      } else if (auto* mon = m->as<MonitorSignal>()) {
        signal(nullptr, mon->from, make_signal(DownMessage{mon->ref, dead, reason}));
      }
      return;
    case MessageKind::call:
      static_cast<CallEnvelope&>(*m).from().reply_error(
          Error(Errc::callee_exited,
                "process " + dead.to_string() + " exited (" + reason.to_string() + ") before handling the call"));
      [[fallthrough]];
    default:
      if (!counted) count_drop(DropReason::process_exited, nullptr);
  }
}

// --- running processes -------------------------------------------------------------

void Runtime::park_suspended(Process& p) {
  p.status.store(static_cast<uint8_t>(ProcessStatus::suspended), std::memory_order_relaxed);
  // Release: the upgrader that sees kSuspended sees everything the last
  // handler wrote. The scheduler does not touch `p` after this.
  p.sched_state.store(kSuspended, std::memory_order_release);
}

bool Runtime::request_suspend(Process& p) {
  p.suspend_requested.store(true, std::memory_order_seq_cst);
  uint8_t state = p.sched_state.load(std::memory_order_acquire);
  if (state == kSuspended) return true;
  // Idle: nobody will run it to see the flag, so park it here. Otherwise
  // (queued, running) its scheduler parks it at the next message boundary;
  // the caller asks again until it is parked.
  if (state == kWaiting && p.sched_state.compare_exchange_strong(state, kSuspended, std::memory_order_acq_rel)) {
    p.status.store(static_cast<uint8_t>(ProcessStatus::suspended), std::memory_order_relaxed);
    return true;
  }
  return false;
}

bool Runtime::suspended(const Process& p) const {
  return p.sched_state.load(std::memory_order_acquire) == kSuspended;
}

void Runtime::resume(Process& p) {
  p.suspend_requested.store(false, std::memory_order_seq_cst);
  uint8_t expected = kSuspended;
  if (!p.sched_state.compare_exchange_strong(expected, kScheduled, std::memory_order_acq_rel)) return;
  // Messages may have waited meanwhile: run it once, it parks again if idle.
  p.status.store(static_cast<uint8_t>(ProcessStatus::runnable), std::memory_order_relaxed);
  schedulers_.schedule(&p);
}

void Runtime::tag_code(Pid pid, std::shared_ptr<const CodeTag> tag) {
  ProcessRef ref = table_.acquire(pid);
  if (!ref) return;
  SpinLockGuard lock(&ref->meta_lock);
  ref->code = std::move(tag);
}

std::vector<ProcessRef> Runtime::live_processes() const {
  std::vector<ProcessRef> out;
  const uint32_t hw = table_.high_water();
  for (uint32_t i = 0; i < hw; ++i) {
    if (ProcessRef ref = table_.acquire_index(i)) out.push_back(std::move(ref));
  }
  return out;
}

uint64_t Runtime::run_slice(Scheduler& s, Process* p, uint64_t start, bool& exhausted) {
  CurrentProcess scope(p, true);
  if (p->suspend_requested.load(std::memory_order_acquire)) {
    park_suspended(*p);
    return start;
  }
  p->sched_state.store(kRunning, std::memory_order_release);
  p->status.store(static_cast<uint8_t>(ProcessStatus::running), std::memory_order_relaxed);
  const int64_t per_slice = schedulers_.reductions_per_slice();
  int64_t budget = per_slice;
  if (p->reduction_debt > 0) [[unlikely]] {
    const uint64_t elapsed = uint64_t{static_cast<uint32_t>(start >> 10) - p->debt_since} << 10;
    const auto repaid = static_cast<int64_t>(cycles_to_ns(elapsed) / kNsPerReduction);
    const int64_t unpaid = p->reduction_debt - repaid;
    if (unpaid >= per_slice) {
      // Not even one message's worth is repaid: sit this turn out. A turn
      // sat out repays nothing by itself; only wall time does, or a debtor
      // cycling through an otherwise idle run queue would be forgiven a
      // slice per pass in microseconds.
      p->reduction_debt = static_cast<int32_t>(unpaid);
      p->debt_since = static_cast<uint32_t>(start >> 10);
      p->sched_state.store(kScheduled, std::memory_order_release);
      p->status.store(static_cast<uint8_t>(ProcessStatus::runnable), std::memory_order_relaxed);
      s.push_back(p);
      return cycles();
    }
    if (unpaid > 0) budget -= unpaid;
    p->reduction_debt = 0;
  }
  uint64_t used = 0;
  // long_schedule is judged on the coarse clock (an atomic load per message,
  // 1 ms resolution); the precise clock is read once per slice, for CPU time.
  uint32_t ms = timers_.now_ms();
  for (;;) {
    // A suspend request stops the slice at the next message boundary.
    while (budget > 0 && !p->exiting && !p->suspend_requested.load(std::memory_order_relaxed)) {
      Message* raw = p->mailbox.pop(ms);
      if (raw == nullptr) break;
      p->extra_reductions = 0;
      const std::type_info& type = raw->type();
      BehaviourCells* cells = nullptr;  // set when this message is timed
      if (behaviour_metrics_) {
        BehaviourCells& c = s.behaviour_cells().at(p->behaviour_id);
        c.messages.store(c.messages.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        if (s.behaviour_cells().sample()) {
          cells = &c;
          c.wait.add(uint64_t{ms - std::min(ms, raw->stamp_ms_)} * 1'000'000);
        }
      }
      const uint64_t handler_start = cells != nullptr ? cycles() : 0;
      s.batch().open = true;
      s.batch().previous = nullptr;
      dispatch(*p, std::unique_ptr<Message>(raw));
      // Before the cost is read: a flush may add the receiver's punishment.
      flush_batch_of(s);
      s.batch().open = false;
      if (cells != nullptr) cells->processing.add(cycles_to_ns(cycles() - handler_start));
      const uint32_t ms2 = timers_.now_ms();
      if (ms2 - ms > long_schedule_ms_) {
        // The coarse clock jumps when the timer thread was starved of CPU:
        // believe it only if the slice itself has lasted that long.
        const uint64_t slice_ms = cycles_to_ns(cycles() - start) / 1'000'000;
        if (slice_ms > long_schedule_ms_) report_long_schedule(*p, std::min<uint64_t>(ms2 - ms, slice_ms), type);
      }
      ms = ms2;
      const uint64_t cost = 1 + static_cast<uint64_t>(p->extra_reductions);
      budget -= static_cast<int64_t>(cost);
      used += cost;
    }
    const uint64_t t = cycles();
    // Accounting happens before the state change that may hand `p` to another scheduler.
    bump(p->reductions, used);
    used = 0;
    bump(p->cpu_cycles, t - start);
    start = t;
    // The inline test keeps the common case (no crossing) to a few loads:
    // check_heap out of line after every slice was ~50 instructions a message
    // in a ring (callgrind).
    const bool cleared = p->mailbox.take_cleared();
    const bool heap_crossed = large_heap_bytes_ != 0 && heap_crossing(*p);
    if (cleared || heap_crossed) {
      // The runtime's reports, not the process's heap.
      heap::ScopedSlot runtime_owned(0);
      if (cleared) report_mailbox_cleared(*p);
      if (heap_crossed) check_heap(*p);
    }
    if (p->exiting) {
      finish_exit(*p);  // `p` may be gone after this
      return t;
    }
    if (p->suspend_requested.load(std::memory_order_acquire)) {
      park_suspended(*p);
      return t;
    }
    if (budget <= 0) {
      p->reduction_debt = static_cast<int32_t>(std::min(-budget, kMaxDebtSlices * per_slice));
      p->debt_since = static_cast<uint32_t>(t >> 10);
      exhausted = true;
      p->sched_state.store(kScheduled, std::memory_order_release);
      p->status.store(static_cast<uint8_t>(ProcessStatus::runnable), std::memory_order_relaxed);
      s.push_back(p);
      return t;
    }
    p->status.store(static_cast<uint8_t>(ProcessStatus::waiting), std::memory_order_relaxed);
    uint8_t expected = kRunning;
    if (p->sched_state.compare_exchange_strong(expected, kWaiting, std::memory_order_acq_rel)) return t;
    // A message arrived while we looked: keep going in this slice.
    p->sched_state.store(kRunning, std::memory_order_relaxed);
    p->status.store(static_cast<uint8_t>(ProcessStatus::running), std::memory_order_relaxed);
  }
}

// --- system monitor -----------------------------------------------------------------

std::string Runtime::registered_name(Process& p) {
  SpinLockGuard lock(&p.meta_lock);
  return p.meta ? p.meta->name : std::string();
}

void Runtime::emit(const SystemEvent& event) {
  if (!options_.on_system_event) return;
  try {
    options_.on_system_event(event);
  } catch (const std::exception& e) {
    logger_->error("system event handler threw on {}: {}", to_string(event.kind), e.what());
  } catch (...) {
    logger_->error("system event handler threw on {}", to_string(event.kind));
  }
}

template <typename Line>
void Runtime::report(Process& p, bool warning, Line&& line, const SystemEvent& event, const telemetry::Event& ev,
                     const char* measurement, double value) {
  const std::string name = registered_name(p);
  logger_->log(warning ? spdlog::level::warn : spdlog::level::info, std::forward<Line>(line)(describe(p, name)));
  emit(event);
  if (!ev.active()) return;
  const std::string pid = p.pid.to_string();
  const std::string message_type = event.message_type ? type_name(*event.message_type) : std::string();
  telemetry::Metadata metadata{{"pid", pid}, {"process", name.empty() ? pid : name}};
  if (event.message_type) metadata.set("message_type", message_type);
  telemetry_.bus().execute(ev, {{measurement, value}}, metadata);
}

void Runtime::report_long_schedule(Process& p, uint32_t ms, const std::type_info& type) {
  long_schedules_.fetch_add(1, std::memory_order_relaxed);
  report(
      p, true,
      [&](const std::string& who) {
        return fmt::format("long_schedule: {} spent {} ms handling one message of type {}", who, ms, type_name(type));
      },
      SystemEvent{SystemEventKind::long_schedule, p.pid, uint64_t{ms} * 1'000'000, &type},
      *telemetry_.events().long_schedule, "duration", static_cast<double>(ms) * 1e6);
}

void Runtime::report_mailbox_cleared(Process& p) {
  const uint32_t length = p.mailbox.length();
  report(
      p, false,
      [&](const std::string& who) {
        return fmt::format("long_message_queue cleared: mailbox of {} is back to {} messages", who, length);
      },
      SystemEvent{SystemEventKind::long_message_queue_cleared, p.pid, length, nullptr},
      *telemetry_.events().mailbox_low, "length", length);
}

void Runtime::check_heap(Process& p) {
  const uint64_t heap = p.running_heap_bytes();
  if (!p.large_heap && heap > large_heap_bytes_) {
    p.large_heap = true;
    large_heaps_.fetch_add(1, std::memory_order_relaxed);
    report(
        p, true,
        [&](const std::string& who) {
          return fmt::format("large_heap: {} holds {} bytes (limit {})", who, heap, large_heap_bytes_);
        },
        SystemEvent{SystemEventKind::large_heap, p.pid, heap, nullptr}, *telemetry_.events().large_heap, "heap_bytes",
        static_cast<double>(heap));
  } else if (p.large_heap && heap < large_heap_bytes_ / 4 * 3) {
    p.large_heap = false;
    emit(SystemEvent{SystemEventKind::large_heap_cleared, p.pid, heap, nullptr});
  }
}

void Runtime::dispatch(Process& p, std::unique_ptr<Message> m) {
  // Stored only when it changes: a stream of one type leaves the line clean.
  if (p.current_type.load(std::memory_order_relaxed) != &m->type()) p.current_type.store(&m->type(), std::memory_order_relaxed);
  if (p.traced.load(std::memory_order_relaxed)) trace_line(p, "in", *m, m->sender());
  bump(p.messages_handled);
  if (m->kind() == MessageKind::signal) {
    handle_signal(p, m);
  } else {
    deliver_to_behaviour(p, *m);
  }
  if (p.exiting && m && m->kind() == MessageKind::call) {
    static_cast<CallEnvelope&>(*m).from().reply_error(
        Error(Errc::callee_exited,
              "process " + p.pid.to_string() + " exited (" + p.exit_reason.to_string() + ") while handling the call"));
  }
}

void Runtime::deliver_to_behaviour(Process& p, Message& m) {
  run_hook(p, Hook::handler, [&] { p.behaviour->handle(m); });
}

void Runtime::crash(Process& p, Hook hook, ExitReason reason) {
  if (hook != Hook::init) {
    const std::type_info* last = p.current_type.load(std::memory_order_relaxed);
    logger_->error("crash report: {} crashed {} a message of type {}: {}", describe(p, registered_name(p)),
                   hook == Hook::terminate ? "in terminate() after" : "handling",
                   last ? type_name(*last) : std::string("(none)"), reason.to_string());
    record_crash(*this, p, hook == Hook::terminate, reason);  // kept, counted (dump/)
  }
  if (hook == Hook::terminate) return;  // already exiting: its links get the reason it exited with
  p.exiting = true;
  if (hook == Hook::init) p.skip_terminate = true;  // spawn() hands the reason to the spawner
  p.exit_reason = std::move(reason);
}

void Runtime::handle_signal(Process& p, std::unique_ptr<Message>& m) {
  if (auto* e = m->as<ExitSignal>()) {
    if (e->from_link) {
      SpinLockGuard lock(&p.meta_lock);
      auto& links = p.meta_locked().links;
      auto it = std::find(links.begin(), links.end(), e->from);
      if (it == links.end()) return;  // unlinked meanwhile
      links.erase(it);
    }
    if (!e->from_link && e->reason.kind() == ExitKind::kill) {
      p.exiting = true;
      p.skip_terminate = true;
      p.exit_reason = ExitReason::killed();
      return;
    }
    if (p.trap_exit.load(std::memory_order_relaxed)) {
      TypedMessage<ExitMessage> trapped(MessageKind::user, ExitMessage{e->from, e->reason});
      deliver_to_behaviour(p, trapped);
      return;
    }
    if (e->reason.is_normal() && !(e->from == p.pid && !e->from_link)) return;
    p.exiting = true;
    p.exit_reason = e->reason;
  } else if (auto* l = m->as<LinkSignal>()) {
    SpinLockGuard lock(&p.meta_lock);
    auto& links = p.meta_locked().links;
    if (std::find(links.begin(), links.end(), l->from) == links.end()) links.push_back(l->from);
  } else if (auto* u = m->as<UnlinkSignal>()) {
    SpinLockGuard lock(&p.meta_lock);
    erase_value(p.meta_locked().links, u->from);
  } else if (auto* mon = m->as<MonitorSignal>()) {
    SpinLockGuard lock(&p.meta_lock);
    p.meta_locked().monitored_by.emplace_back(mon->ref, mon->from);
  } else if (auto* d = m->as<DemonitorSignal>()) {
    SpinLockGuard lock(&p.meta_lock);
    auto& v = p.meta_locked().monitored_by;
    v.erase(std::remove_if(v.begin(), v.end(), [&](auto& e) { return e.first == d->ref; }), v.end());
  } else if (auto* down = m->as<DownMessage>()) {
    {
      SpinLockGuard lock(&p.meta_lock);
      auto& v = p.meta_locked().monitoring;
      auto it = std::find_if(v.begin(), v.end(), [&](auto& e) { return e.first == down->ref; });
      // Demonitored meanwhile: the DOWN that crossed the demonitor is dropped (as demonitor/2 with flush).
      if (it == v.end()) return;
      v.erase(it);
    }
    deliver_to_behaviour(p, *m);
  } else if (auto* r = m->as<ReplySignal>()) {
    if (!p.pending_calls) return;
    auto it = p.pending_calls->find(r->ref);
    if (it == p.pending_calls->end()) return;  // timed out already
    auto then = std::move(it->second);
    p.pending_calls->erase(it);
    run_hook(p, Hook::handler, [&] { then(std::move(r->result)); });
  } else if (auto* t = m->as<CallTimeoutSignal>()) {
    if (!p.pending_calls) return;
    auto it = p.pending_calls->find(t->ref);
    if (it == p.pending_calls->end()) return;  // answered already
    auto then = std::move(it->second);
    p.pending_calls->erase(it);
    run_hook(p, Hook::handler, [&] { then(CallResult(Error(Errc::timeout, "call timed out"))); });
  } else if (auto* st = m->as<StopSignal>()) {
    p.exiting = true;
    p.exit_reason = st->reason;
  }
}

void Runtime::finish_exit(Process& p) {
  const ExitReason reason = p.exit_reason;
  p.sched_state.store(kExited, std::memory_order_release);
  p.status.store(static_cast<uint8_t>(ProcessStatus::exiting), std::memory_order_relaxed);
  table_.close(p.pid);
  p.mailbox.close();
  if (!p.skip_terminate && p.behaviour) {
    CurrentProcess scope(&p);
    run_hook(p, Hook::terminate, [&] { p.behaviour->terminate(reason); });
  }
  std::unique_ptr<ProcessMeta> meta;
  {
    SpinLockGuard lock(&p.meta_lock);
    p.meta_closed = true;
    meta = std::move(p.meta);
  }
  if (meta) {
    if (!meta->name.empty()) {
      WriterMutexLock lock(&names_mu_);
      auto it = names_.find(meta->name);
      if (it != names_.end() && it->second == p.pid) names_.erase(it);
    }
    for (auto& [weak, key] : meta->registry_keys) {
      if (auto reg = weak.lock()) {
        MutexLock lock(&reg->mu);
        auto [b, e] = reg->entries.equal_range(key);
        for (auto it = b; it != e; ++it) {
          if (it->second.pid == p.pid) {
            reg->entries.erase(it);
            break;
          }
        }
      }
    }
    for (auto& hook : meta->exit_hooks) {
      try {
        hook(p.pid, reason);
      } catch (const std::exception& e) {
        logger_->error("process {}: an exit hook threw: {}", p.pid.to_string(), e.what());
      } catch (...) {
        logger_->error("process {}: an exit hook threw", p.pid.to_string());
      }
    }
    const ExitReason to_links = propagated(reason);
    for (Pid l : meta->links) signal(&p, l, make_signal(ExitSignal{p.pid, to_links, true}));
    for (auto& [ref, watcher] : meta->monitored_by) signal(&p, watcher, make_signal(DownMessage{ref, p.pid, reason}));
    for (auto& [ref, target] : meta->monitoring) signal(&p, target, make_signal(DemonitorSignal{p.pid, ref}));
  }
  p.pending_calls.reset();
  while (Message* m = p.mailbox.pop(timers_.now_ms())) {
    if (m->kind() != MessageKind::signal) count_drop(DropReason::process_exited, &p);
    answer_undelivered(p.pid, std::unique_ptr<Message>(m), reason, true);
  }
  {
    CurrentProcess scope(&p);
    p.behaviour.reset();
  }
  // What it still holds (payloads queued elsewhere) stops counting to it.
  heap::release_slot(p.heap_slot);
  if (const auto& ev = *telemetry_.events().exit; ev.active()) {
    const std::string behaviour = type_name(p.behaviour_type);
    telemetry_.bus().execute(ev, {{"count", 1}, {"lifetime", static_cast<double>(mono_ns() - p.spawn_mono_ns)}},
                             {{"pid", p.pid.to_string()}, {"reason", reason.kind_name()}, {"behaviour", behaviour}});
  }
  live_.fetch_sub(1, std::memory_order_relaxed);
  exited_.fetch_add(1, std::memory_order_relaxed);
  if (reason.kind() == ExitKind::error) crashed_.fetch_add(1, std::memory_order_relaxed);
  table_.retire(p.pid);
}

void Runtime::reclaim(Process* p) {
  // Messages that raced in after the owner drained the mailbox.
  Runtime& rt = p->runtime;
  while (Message* m = p->mailbox.pop(rt.timers_.now_ms())) {
    if (m->kind() != MessageKind::signal) rt.count_drop(DropReason::dead_process, p);
    rt.answer_undelivered(p->pid, std::unique_ptr<Message>(m), p->exit_reason, true);
  }
  delete p;
}

// --- owner-side operations --------------------------------------------------------

void Runtime::link(Process& self, Pid other) {
  if (other == self.pid) return;
  {
    SpinLockGuard lock(&self.meta_lock);
    auto& links = self.meta_locked().links;
    if (std::find(links.begin(), links.end(), other) != links.end()) return;
    links.push_back(other);
  }
  signal(&self, other, make_signal(LinkSignal{self.pid}));
}

void Runtime::unlink(Process& self, Pid other) {
  {
    SpinLockGuard lock(&self.meta_lock);
    erase_value(self.meta_locked().links, other);
  }
  signal(&self, other, make_signal(UnlinkSignal{self.pid}));
}

MonitorRef Runtime::monitor(Process& self, Pid other) {
  const MonitorRef ref = next_ref();
  {
    SpinLockGuard lock(&self.meta_lock);
    self.meta_locked().monitoring.emplace_back(ref, other);
  }
  signal(&self, other, make_signal(MonitorSignal{self.pid, ref}));
  return ref;
}

void Runtime::demonitor(Process& self, MonitorRef ref) {
  Pid target;
  {
    SpinLockGuard lock(&self.meta_lock);
    auto& v = self.meta_locked().monitoring;
    auto it = std::find_if(v.begin(), v.end(), [&](auto& e) { return e.first == ref; });
    if (it == v.end()) return;
    target = it->second;
    v.erase(it);
  }
  signal(&self, target, make_signal(DemonitorSignal{self.pid, ref}));
}

void Runtime::request_exit(Process& self, ExitReason reason) {
  self.exiting = true;
  self.exit_reason = std::move(reason);
}

// --- calls and timers --------------------------------------------------------------

CallResult Runtime::call_blocking(Pid to, std::unique_ptr<Message> request, std::chrono::milliseconds timeout) {
  if (tl_current != nullptr && &tl_current->runtime == this) {
    return Error(Errc::not_in_process,
                 "Runtime::call would block a scheduler thread; inside a process use Actor::call with a continuation");
  }
  auto waiter = std::make_shared<ReplySlot::Waiter>();
  auto slot = std::make_shared<ReplySlot>(waiter);
  Status sent = send(nullptr, to, std::make_unique<CallEnvelope>(std::move(request), From(slot)));
  slot.reset();
  if (!sent.ok()) return sent.error();
  MutexLock lock(&waiter->mu);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!waiter->result.has_value()) {
    if (waiter->cv.wait_until(waiter->mu, deadline) == std::cv_status::timeout && !waiter->result.has_value()) {
      return Error(Errc::timeout,
                   "call to " + to.to_string() + " got no reply within " + std::to_string(timeout.count()) + " ms");
    }
  }
  return std::move(*waiter->result);
}

void Runtime::await_async(Process& caller, std::chrono::milliseconds timeout,
                          const std::function<void(std::shared_ptr<ReplySlot>)>& attach,
                          std::function<void(CallResult)> then) {
  const uint64_t ref = next_ref();
  if (!caller.pending_calls) {
    caller.pending_calls = std::make_unique<std::unordered_map<uint64_t, std::function<void(CallResult)>>>();
  }
  (*caller.pending_calls)[ref] = std::move(then);
  // The answer (or the timeout) arrives as a signal, after this handler returns.
  timers_.send_after(caller.pid, timeout.count() < 0 ? 0 : static_cast<uint64_t>(timeout.count()),
                     make_signal(CallTimeoutSignal{ref}));
  attach(std::make_shared<ReplySlot>(*this, caller.pid, ref));
}

void Runtime::call_async(Process& caller, Pid to, std::unique_ptr<Message> request, std::chrono::milliseconds timeout,
                         std::function<void(CallResult)> then) {
  await_async(
      caller, timeout,
      [&](std::shared_ptr<ReplySlot> slot) {
        Status sent = send(&caller, to, std::make_unique<CallEnvelope>(std::move(request), From(slot)));
        if (!sent.ok()) slot->complete(sent.error());
      },
      std::move(then));
}

Result<Pid> Runtime::spawn_under(Pid parent, std::unique_ptr<Actor> actor, SpawnOptions options) {
  ProcessRef ref = table_.acquire(parent);
  if (!ref) return Error(Errc::dead_process, "spawn: parent " + parent.to_string() + " is not alive");
  return spawn(std::move(actor), std::move(options), ref.get(), nullptr);
}

void Runtime::send_after(Pid to, std::chrono::milliseconds delay, std::unique_ptr<Message> message) {
  if (Process* self = tl_current; self != nullptr && &self->runtime == this) message->sender_ = self->pid;
  timers_.send_after(to, delay.count() < 0 ? 0 : static_cast<uint64_t>(delay.count()), std::move(message));
}

Status Runtime::trace(Pid pid, bool on) {
  ProcessRef ref = table_.acquire(pid);
  if (!ref) return Error(Errc::dead_process, "trace: no process " + pid.to_string());
  ref->traced.store(on, std::memory_order_relaxed);
  logger_->info("trace {} for process {}", on ? "on" : "off", pid.to_string());
  return {};
}

void Runtime::trace_line(Process& p, const char* direction, const Message& m, Pid peer) {
  // At most kTraceLinesPerSecond lines per process per second; the rest are
  // counted and summarised when the next second starts.
  constexpr uint32_t kTraceLinesPerSecond = 100;
  const uint32_t now = timers_.now_ms();
  if (now - p.trace_window_ms >= 1000) {
    if (p.trace_lines > kTraceLinesPerSecond) {
      logger_->info("trace {}: {} more lines suppressed", p.pid.to_string(), p.trace_lines - kTraceLinesPerSecond);
    }
    p.trace_window_ms = now;
    p.trace_lines = 0;
  }
  if (++p.trace_lines > kTraceLinesPerSecond) return;
  std::string text = fmt::format("{} {} {} {} ({} bytes)", direction, type_name(m.type()),
                                 direction[0] == 'i' ? "from" : "to",
                                 peer.valid() ? peer.to_string() : std::string("outside"), m.bytes());
  logger_->info("trace {}: {}", p.pid.to_string(), text);
  MutexLock lock(&trace_mu_);
  if (trace_ring_.size() >= kTraceRing) trace_ring_.pop_front();
  trace_ring_.push_back(TraceLine{p.pid, std::chrono::system_clock::now(), std::move(text)});
}

std::vector<TraceLine> Runtime::trace_lines(Pid pid, size_t max) const {
  std::vector<TraceLine> out;
  MutexLock lock(&trace_mu_);
  for (auto it = trace_ring_.rbegin(); it != trace_ring_.rend() && out.size() < max; ++it) {
    if (it->pid == pid) out.push_back(*it);
  }
  std::reverse(out.begin(), out.end());
  return out;
}

Status Runtime::when_exits(Pid pid, std::function<void(Pid, const ExitReason&)> hook) {
  ProcessRef ref = table_.acquire(pid);
  if (!ref) return Error(Errc::dead_process, "when_exits: no process " + pid.to_string());
  SpinLockGuard lock(&ref->meta_lock);
  if (ref->meta_closed) return Error(Errc::dead_process, "when_exits: process " + pid.to_string() + " is exiting");
  ref->meta_locked().exit_hooks.push_back(std::move(hook));
  return {};
}

// --- names and registries ---------------------------------------------------------------

Status Runtime::register_name(const std::string& name, Pid pid) {
  if (name.empty()) return Error(Errc::invalid_argument, "register_name: empty name");
  ProcessRef ref = table_.acquire(pid);
  if (!ref) return Error(Errc::dead_process, "register_name '" + name + "': no process " + pid.to_string());
  SpinLockGuard meta_lock(&ref->meta_lock);
  if (ref->meta_closed)
    return Error(Errc::dead_process, "register_name '" + name + "': process " + pid.to_string() + " is exiting");
  ProcessMeta& meta = ref->meta_locked();
  if (!meta.name.empty()) {
    return Error(Errc::already_registered, "register_name '" + name + "': process " + pid.to_string() +
                                               " is already registered as '" + meta.name + "'");
  }
  WriterMutexLock lock(&names_mu_);
  auto [it, inserted] = names_.emplace(name, pid);
  if (!inserted) {
    return Error(Errc::already_registered,
                 "register_name: '" + name + "' is already registered to " + it->second.to_string());
  }
  meta.name = name;
  return {};
}

Status Runtime::unregister(const std::string& name) {
  Pid pid;
  {
    WriterMutexLock lock(&names_mu_);
    auto it = names_.find(name);
    if (it == names_.end())
      return Error(Errc::not_registered, "unregister: no process is registered as '" + name + "'");
    pid = it->second;
    names_.erase(it);
  }
  if (ProcessRef ref = table_.acquire(pid)) {
    SpinLockGuard lock(&ref->meta_lock);
    if (ref->meta && ref->meta->name == name) ref->meta->name.clear();
  }
  return {};
}

Pid Runtime::whereis(const std::string& name) const {
  ReaderMutexLock lock(&names_mu_);
  auto it = names_.find(name);
  return it == names_.end() ? Pid() : it->second;
}

std::shared_ptr<RegistryState> Runtime::registry(const std::string& name, RegistryKeys keys) {
  MutexLock lock(&registries_mu_);
  auto& slot = registries_[name];
  if (!slot) slot = std::make_shared<RegistryState>(*this, name, keys);
  return slot;
}

Status Runtime::attach_registry_key(Pid pid, const std::shared_ptr<RegistryState>& reg, const std::string& key,
                                    const std::function<Status()>& insert) {
  ProcessRef ref = table_.acquire(pid);
  if (!ref) return Error(Errc::dead_process, "registry '" + reg->name + "': no process " + pid.to_string());
  SpinLockGuard lock(&ref->meta_lock);
  if (ref->meta_closed)
    return Error(Errc::dead_process, "registry '" + reg->name + "': process " + pid.to_string() + " is exiting");
  Status st = insert();
  if (st.ok()) ref->meta_locked().registry_keys.emplace_back(reg, key);
  return st;
}

void Runtime::detach_registry_key(Pid pid, const RegistryState* reg, const std::string& key) {
  ProcessRef ref = table_.acquire(pid);
  if (!ref) return;
  SpinLockGuard lock(&ref->meta_lock);
  if (!ref->meta) return;
  auto& v = ref->meta->registry_keys;
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (it->second == key && it->first.lock().get() == reg) {
      v.erase(it);
      return;
    }
  }
}

// --- introspection ------------------------------------------------------------------------

ProcessInfo Runtime::snapshot(const Process& p) const {
  ProcessInfo i;
  i.pid = p.pid;
  i.behaviour = type_name(p.behaviour_type);
  i.status = static_cast<ProcessStatus>(p.status.load(std::memory_order_relaxed));
  i.parent = p.parent;
  i.mailbox_length = p.mailbox.length();
  i.mailbox_bytes = p.mailbox.bytes();
  i.mailbox_capacity = p.mailbox.capacity();
  if (i.mailbox_length > 0) {
    const uint32_t now = timers_.now_ms();
    const uint32_t stamp = p.mailbox.oldest_stamp();
    i.mailbox_oldest_age_seconds = now > stamp ? (now - stamp) / 1000.0 : 0.0;
  }
  i.mailbox_overloaded = p.mailbox.overloaded();
  i.messages_dropped = p.dropped.load(std::memory_order_relaxed);
  i.heap_bytes = p.heap_bytes();
  i.reductions = p.reductions.load(std::memory_order_relaxed);
  i.messages_handled = p.messages_handled.load(std::memory_order_relaxed);
  i.cpu_ns = cycles_to_ns(p.cpu_cycles.load(std::memory_order_relaxed));
  i.reductions_per_second = static_cast<double>(p.reductions_per_s.load(std::memory_order_relaxed));
  i.cpu_utilization = static_cast<double>(p.cpu_ns_per_s.load(std::memory_order_relaxed)) / 1e9;
  i.trap_exit = p.trap_exit.load(std::memory_order_relaxed);
  i.traced = p.traced.load(std::memory_order_relaxed);
  i.age_seconds = static_cast<double>(mono_ns() - p.spawn_mono_ns) / 1e9;
  i.spawned_at = p.spawned_at;
  if (const std::type_info* t = p.current_type.load(std::memory_order_relaxed)) i.current_message_type = type_name(*t);
  SpinLockGuard lock(&p.meta_lock);
  if (p.code) {
    i.module = p.code->module;
    i.module_version = p.code->version;
  }
  if (p.meta) {
    i.registered_name = p.meta->name;
    i.links = p.meta->links;
    for (auto& [ref, w] : p.meta->monitored_by) i.monitored_by.push_back(w);
    for (auto& [ref, t] : p.meta->monitoring) i.monitors.push_back(t);
    for (auto& [reg, key] : p.meta->registry_keys) {
      auto r = reg.lock();
      i.registry_keys.push_back((r ? r->name : std::string("?")) + "/" + key);
    }
  }
  return i;
}

std::optional<ProcessInfo> Runtime::process_info(Pid pid) const {
  ProcessRef ref = table_.acquire(pid);
  if (!ref) return std::nullopt;
  return snapshot(*ref.get());
}

std::vector<ProcessInfo> Runtime::processes() const {
  std::vector<ProcessInfo> out;
  const uint32_t hw = table_.high_water();
  for (uint32_t i = 0; i < hw; ++i) {
    if (ProcessRef ref = table_.acquire_index(i)) out.push_back(snapshot(*ref.get()));
  }
  return out;
}

double Runtime::rank_value(const Process& p, ProcessRank rank, uint32_t now_ms) const {
  switch (rank) {
    case ProcessRank::mailbox:
      return static_cast<double>(p.mailbox.length());
    case ProcessRank::heap:
      return static_cast<double>(p.heap_bytes());
    case ProcessRank::reductions:
      return static_cast<double>(p.reductions.load(std::memory_order_relaxed));
    case ProcessRank::cpu:
      return static_cast<double>(p.cpu_cycles.load(std::memory_order_relaxed));
    case ProcessRank::reductions_rate:
      return static_cast<double>(p.reductions_per_s.load(std::memory_order_relaxed));
    case ProcessRank::cpu_rate:
      return static_cast<double>(p.cpu_ns_per_s.load(std::memory_order_relaxed));
    case ProcessRank::oldest_message: {
      if (p.mailbox.length() == 0) return 0;
      const uint32_t stamp = p.mailbox.oldest_stamp();
      return now_ms > stamp ? static_cast<double>(now_ms - stamp) : 0.0;
    }
  }
  return 0;
}

TopProcesses Runtime::top_processes(ProcessRank rank, size_t limit,
                                    const std::function<bool(std::string_view, std::string_view)>& filter) const {
  struct Ranked {
    double value;
    Pid pid;
  };
  std::vector<Ranked> ranked;
  ranked.reserve(live_.load(std::memory_order_relaxed));
  // Demangled once per behaviour type, not once per process.
  std::unordered_map<const std::type_info*, std::string> behaviours;
  const uint32_t now = timers_.now_ms();
  const uint32_t hw = table_.high_water();
  for (uint32_t i = 0; i < hw; ++i) {
    ProcessRef ref = table_.acquire_index(i);
    if (!ref) continue;
    const Process& p = *ref.get();
    if (filter) {
      auto [it, added] = behaviours.try_emplace(&p.behaviour_type);
      if (added) it->second = type_name(p.behaviour_type);
      bool accepted = false;
      {
        // Under the lock instead of copying the name: the filter is a
        // comparison, and this runs once per process.
        SpinLockGuard lock(&p.meta_lock);
        accepted = filter(p.meta ? std::string_view(p.meta->name) : std::string_view(), it->second);
      }
      if (!accepted) continue;
    }
    ranked.push_back({rank_value(p, rank, now), p.pid});
  }
  TopProcesses out;
  out.matched = ranked.size();
  const size_t n = std::min(limit, ranked.size());
  // Largest first; ties in pid order, so equal values list stably.
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(n), ranked.end(),
                    [](const Ranked& a, const Ranked& b) {
                      return a.value != b.value ? a.value > b.value : a.pid.index() < b.pid.index();
                    });
  out.processes.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    // A process that exited since the scan is left out.
    if (ProcessRef ref = table_.acquire(ranked[i].pid)) out.processes.push_back(snapshot(*ref.get()));
  }
  return out;
}

std::vector<Pid> Runtime::pids() const {
  std::vector<Pid> out;
  const uint32_t hw = table_.high_water();
  for (uint32_t i = 0; i < hw; ++i) {
    if (ProcessRef ref = table_.acquire_index(i)) out.push_back(ref->pid);
  }
  return out;
}

RuntimeStats Runtime::stats() const {
  RuntimeStats s = stats_without_scan();
  const uint32_t hw = table_.high_water();
  for (uint32_t i = 0; i < hw; ++i) {
    if (ProcessRef ref = table_.acquire_index(i)) s.mailbox_messages += ref->mailbox.length();
  }
  return s;
}

RuntimeStats Runtime::stats_without_scan() const {
  RuntimeStats s;
  s.processes = live_.load(std::memory_order_relaxed);
  s.process_limit = table_.capacity();
  s.spawned = spawned_.load(std::memory_order_relaxed);
  s.exited = exited_.load(std::memory_order_relaxed);
  s.crashed = crashed_.load(std::memory_order_relaxed);
  s.messages_sent = sent_external_.load(std::memory_order_relaxed) + schedulers_.sent_from_schedulers();
  for (size_t r = 0; r < static_cast<size_t>(DropReason::count_); ++r)
    s.dropped[r] = dropped_[r].load(std::memory_order_relaxed);
  s.mailbox_high_watermark_crossings = high_crossings_.load(std::memory_order_relaxed);
  s.long_schedules = long_schedules_.load(std::memory_order_relaxed);
  s.supervisor_restarts = restarts_.load(std::memory_order_relaxed);
  s.large_heap_crossings = large_heaps_.load(std::memory_order_relaxed);
  s.uptime_seconds = static_cast<double>(mono_ns() - start_ns_) / 1e9;
  return s;
}

}  // namespace canopy::detail
