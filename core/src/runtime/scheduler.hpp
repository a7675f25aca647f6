#pragma once
// Schedulers: one thread each, a local run queue, a `next` slot for the
// process just sent to (so a message and its receiver stay on the core that
// has them in cache, as Go's runnext), work stealing from the others, and a
// shared injection queue for threads outside the runtime. A scheduler with no
// work spins briefly, then parks on a futex until woken.
// Threading rule: thread-safe unless a method says "owner thread only".
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <thread>
#include <vector>

#include "canopy/core/info.hpp"
#include "canopy/telemetry/detail/mutex.hpp"
#include "instrumentation/behaviour_stats.hpp"
#include "runtime/spin_lock.hpp"

namespace canopy {
class Message;
}

namespace canopy::detail {

class Runtime;
struct Process;
class SchedulerPool;

// Messages a handler sent to one receiver, not yet in its mailbox. In a run
// of sends to the same unbounded mailbox, the second and later messages go
// in as one chain when the handler returns (or before any other send, or
// every kMaxSendBatch), so a producer on another core takes the receiver's
// tail line once per run instead of once per message. The scheduler thread
// fills it; the timer thread pushes a run left waiting behind a handler
// that blocks (Runtime::flush_stalled_batches).
struct SendBatch {
  // Owner thread only.
  bool open = false;            // the owner is inside a handler
  Process* previous = nullptr;  // the receiver of that handler's last send

  // Shared with the timer thread.
  SpinLock mu;                        // uncontended but for the timer thread's try_lock
  std::atomic<uint32_t> since_ms{0};  // coarse ms + 1 of the first message; 0: empty
  Process* to GUARDED_BY(mu) = nullptr;
  Message* first GUARDED_BY(mu) = nullptr;
  Message* last GUARDED_BY(mu) = nullptr;
  uint32_t count GUARDED_BY(mu) = 0;
  uint64_t packed GUARDED_BY(mu) = 0;  // the messages' Mailbox counts, summed
};

// True on a scheduler thread of any runtime (they flush their heap-ledger
// batches when they park; other threads must flush themselves).
bool on_scheduler_thread();

// What a scheduler runs now, in fixed memory that a fatal-signal handler may
// read (dump/fatal_signal.cc): plain atomics, written by the scheduler
// thread around each slice, never freed while the pool lives.
struct RunningSlot {
  std::atomic<uint64_t> pid{0};        // Pid::raw() of the process in its slice; 0 when none
  std::atomic<uint32_t> behaviour{0};  // that process's behaviour id (BehaviourIds)
  std::atomic<int32_t> tid{0};         // the scheduler thread's OS thread id, once it runs
  const std::atomic<uint32_t>* queue_len = nullptr;
};

class Scheduler {
 public:
  Scheduler(SchedulerPool& pool, unsigned id);
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  unsigned id() const { return id_; }
  SchedulerStats stats() const;

  // Owner thread only: run `p` next (the previous `next` goes to the queue).
  void push_next(Process* p);
  // Owner thread only: append to the local queue (a process out of budget).
  void push_back(Process* p);

  // Owner thread writes, the poller reads: per-behaviour counts and timings.
  SchedulerBehaviourCells& behaviour_cells() { return behaviour_cells_; }
  const SchedulerBehaviourCells& behaviour_cells() const { return behaviour_cells_; }

  const RunningSlot& running() const { return running_; }

  SendBatch& batch() { return batch_; }

  // Owner thread only: messages sent by processes on this scheduler.
  void count_sent() { sent_.store(sent_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed); }
  uint64_t sent() const { return sent_.load(std::memory_order_relaxed); }

 private:
  friend class SchedulerPool;
  void run();
  Process* next_task();
  Process* steal_from_others();
  // Takes half of this queue (the oldest first): one to run now, the rest
  // into the thief's queue.
  Process* steal_into(Scheduler& thief);
  bool has_stealable_work() const;
  bool in_long_slice() const;
  void park();

  // Constant after construction.
  SchedulerPool& pool_;
  const unsigned id_;
  const uint64_t start_ns_;

  std::atomic<Process*> next_{nullptr};
  mutable SpinLock queue_lock_;
  std::deque<Process*> queue_ GUARDED_BY(queue_lock_);
  std::atomic<uint32_t> queue_len_{0};

  // Its own cache line: written per message by the owner, away from the
  // fields other schedulers read.
  alignas(64) SchedulerBehaviourCells behaviour_cells_;

  alignas(64) SendBatch batch_;

  // Owner thread only.
  uint32_t tick_ = 0;
  uint32_t next_streak_ = 0;
  uint32_t rng_ = 0;

  // Written by the owner, read anywhere.
  std::atomic<uint64_t> busy_cycles_{0};
  std::atomic<uint64_t> slice_start_{0};  // cycles() when a slice began, 0 outside slices
  std::atomic<uint64_t> slices_{0};
  std::atomic<uint64_t> exhausted_{0};
  std::atomic<uint64_t> steal_attempts_{0};
  std::atomic<uint64_t> steals_{0};
  std::atomic<uint64_t> parks_{0};
  std::atomic<uint64_t> sent_{0};

  // The reclamation epoch this thread saw when its current slice began, or
  // kQuiescent while it runs no slice (see ProcessTable).
  static constexpr uint64_t kQuiescent = UINT64_MAX;
  std::atomic<uint64_t> observed_{kQuiescent};
  uint64_t observed_cache_ = kQuiescent;  // owner thread only

  // Its own line: written around every slice, read only by a dump.
  alignas(64) RunningSlot running_;
  // An alternate signal stack for this thread (a fatal-signal dump after a
  // stack overflow), installed when the runtime dumps on fatal signals.
  std::unique_ptr<char[]> alt_stack_;

  // Parking: a waker stores 1 and notifies. Its own line: other
  // schedulers write it.
  alignas(64) std::atomic<uint32_t> wake_{0};
  std::thread thread_;
};

class SchedulerPool {
 public:
  SchedulerPool(Runtime& rt, unsigned count, uint32_t reductions_per_slice);
  ~SchedulerPool();
  void start();
  // Stops and joins every thread. Processes still queued are left alone.
  void stop();

  // Queue a process that just became runnable (waiting -> scheduled).
  void schedule(Process* p);
  // Called every timer tick: wakes an idle scheduler when work waits behind
  // a long-running slice (nobody else would notice it).
  void watchdog();
  // The scheduler the calling thread runs, if it belongs to this pool.
  Scheduler* current() const;

  Runtime& runtime() { return rt_; }
  uint32_t reductions_per_slice() const { return reductions_per_slice_; }
  std::vector<SchedulerStats> stats() const;
  uint64_t sent_from_schedulers() const;
  // The oldest reclamation epoch a scheduler may still be using.
  uint64_t min_observed() const;
  size_t size() const { return schedulers_.size(); }
  Scheduler& at(size_t i) { return *schedulers_[i]; }
  // Every scheduler's running slot (they live as long as the pool).
  std::vector<const RunningSlot*> running_slots() const;
  // Every scheduler's behaviour cells (they live as long as the pool).
  std::vector<const SchedulerBehaviourCells*> behaviour_cells() const;

 private:
  friend class Scheduler;
  void wake_one() EXCLUDES(idle_mu_);
  bool any_work() const;

  Runtime& rt_;
  const uint32_t reductions_per_slice_;
  std::vector<std::unique_ptr<Scheduler>> schedulers_;
  // Runnable processes from threads outside the pool (timers, the HTTP
  // server, user threads). A plain locked deque: this path is not hot, and
  // ThreadSanitizer cannot check moodycamel's fence-based queue under g++.
  mutable SpinLock injected_lock_;
  std::deque<Process*> injected_ GUARDED_BY(injected_lock_);
  std::atomic<size_t> injected_size_{0};
  bool take_injected(Process*& p) EXCLUDES(injected_lock_);
  void inject(Process* p) EXCLUDES(injected_lock_);
  std::atomic<bool> stopping_{false};

  Mutex idle_mu_;
  std::vector<Scheduler*> idle_ GUARDED_BY(idle_mu_);
  std::atomic<uint32_t> idle_count_{0};
};

}  // namespace canopy::detail
