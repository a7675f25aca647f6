#include "runtime/scheduler.hpp"

#include <signal.h>
#include <unistd.h>

#include "canopy/core/detail/heap_ledger.hpp"

#include "runtime/cycle_clock.hpp"
#include "runtime/runtime_impl.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CANOPY_PAUSE() _mm_pause()
#else
#define CANOPY_PAUSE() std::this_thread::yield()
#endif

namespace canopy::detail {

namespace {
thread_local Scheduler* tl_scheduler = nullptr;
thread_local const SchedulerPool* tl_pool = nullptr;

// After this many consecutive `next` picks, the local queue gets a turn, so
// two processes messaging each other cannot starve the rest.
constexpr uint32_t kMaxNextStreak = 32;
// Every this many picks, the injection queue goes first (as Go's 61).
constexpr uint32_t kInjectedEvery = 61;
constexpr int kSpinRounds = 64;
// A slice running longer than this lets idle schedulers take the work that
// waits behind it, including its `next` process.
constexpr uint64_t kLongSliceNs = 200'000;
}  // namespace

Scheduler::Scheduler(SchedulerPool& pool, unsigned id)
    : pool_(pool), id_(id), start_ns_(mono_ns()), rng_(id * 2654435761u + 1) {
  running_.queue_len = &queue_len_;
}

SchedulerStats Scheduler::stats() const {
  SchedulerStats s;
  s.id = id_;
  s.wall_ns = mono_ns() - start_ns_;
  uint64_t busy = busy_cycles_.load(std::memory_order_relaxed);
  const uint64_t since = slice_start_.load(std::memory_order_relaxed);
  const uint64_t now = cycles();
  if (since != 0 && now > since) busy += now - since;
  s.busy_ns = cycles_to_ns(busy);
  if (s.busy_ns > s.wall_ns) s.busy_ns = s.wall_ns;
  s.idle_ns = s.wall_ns - s.busy_ns;
  s.run_queue_length = queue_len_.load(std::memory_order_relaxed) + (next_.load(std::memory_order_relaxed) ? 1 : 0);
  s.slices = slices_.load(std::memory_order_relaxed);
  s.exhausted_slices = exhausted_.load(std::memory_order_relaxed);
  s.steal_attempts = steal_attempts_.load(std::memory_order_relaxed);
  s.steals = steals_.load(std::memory_order_relaxed);
  s.parks = parks_.load(std::memory_order_relaxed);
  return s;
}

void Scheduler::push_next(Process* p) {
  Process* displaced = next_.exchange(p, std::memory_order_acq_rel);
  if (displaced != nullptr) push_back(displaced);
}

void Scheduler::push_back(Process* p) {
  {
    // The run queue is the runtime's memory, not the current process's heap.
    heap::ScopedSlot runtime_owned(0);
    SpinLockGuard lock(&queue_lock_);
    queue_.push_back(p);
    // seq_cst with the idle count below (and the parker's mirror image): a
    // parking scheduler sees this work, or this push sees it parked.
    queue_len_.store(static_cast<uint32_t>(queue_.size()), std::memory_order_seq_cst);
  }
  // There is more runnable work than this thread can do right now.
  if (pool_.idle_count_.load(std::memory_order_seq_cst) > 0) pool_.wake_one();
}

bool Scheduler::in_long_slice() const {
  const uint64_t since = slice_start_.load(std::memory_order_relaxed);
  return since != 0 && cycles_to_ns(cycles() - since) > kLongSliceNs;
}

bool Scheduler::has_stealable_work() const {
  return queue_len_.load(std::memory_order_seq_cst) > 0 ||
         (next_.load(std::memory_order_relaxed) != nullptr && in_long_slice());
}

Process* Scheduler::next_task() {
  Process* p = nullptr;
  if (++tick_ % kInjectedEvery == 0 && pool_.take_injected(p)) return p;
  if (next_streak_ < kMaxNextStreak || queue_len_.load(std::memory_order_relaxed) == 0) {
    p = next_.exchange(nullptr, std::memory_order_acq_rel);
    if (p != nullptr) {
      ++next_streak_;
      return p;
    }
  }
  next_streak_ = 0;
  if (queue_len_.load(std::memory_order_relaxed) > 0) {
    SpinLockGuard lock(&queue_lock_);
    if (!queue_.empty()) {
      p = queue_.front();
      queue_.pop_front();
      queue_len_.store(static_cast<uint32_t>(queue_.size()), std::memory_order_relaxed);
      return p;
    }
  }
  if ((p = next_.exchange(nullptr, std::memory_order_acq_rel)) != nullptr) return p;
  if (pool_.take_injected(p)) return p;
  return steal_from_others();
}

Process* Scheduler::steal_into(Scheduler& thief) {
  std::vector<Process*> taken;
  {
    SpinLockGuard lock(&queue_lock_);
    const size_t n = (queue_.size() + 1) / 2;
    for (size_t i = 0; i < n; ++i) {
      taken.push_back(queue_.front());
      queue_.pop_front();
    }
    queue_len_.store(static_cast<uint32_t>(queue_.size()), std::memory_order_relaxed);
  }
  if (taken.empty()) {
    // The victim's `next` is stolen only when its owner is stuck in a long
    // slice; otherwise it is about to run it hot in cache.
    if (!in_long_slice()) return nullptr;
    return next_.exchange(nullptr, std::memory_order_acq_rel);
  }
  thief.steals_.fetch_add(taken.size(), std::memory_order_relaxed);
  if (taken.size() > 1) {
    SpinLockGuard lock(&thief.queue_lock_);
    thief.queue_.insert(thief.queue_.end(), taken.begin() + 1, taken.end());
    thief.queue_len_.store(static_cast<uint32_t>(thief.queue_.size()), std::memory_order_relaxed);
  }
  return taken.front();
}

Process* Scheduler::steal_from_others() {
  const size_t n = pool_.schedulers_.size();
  if (n < 2) return nullptr;
  steal_attempts_.fetch_add(1, std::memory_order_relaxed);
  rng_ = rng_ * 1664525u + 1013904223u;
  const size_t start = rng_ % n;
  for (size_t i = 0; i < n; ++i) {
    Scheduler& victim = *pool_.schedulers_[(start + i) % n];
    if (&victim == this || !victim.has_stealable_work()) continue;
    if (Process* p = victim.steal_into(*this)) return p;
  }
  return nullptr;
}

void Scheduler::park() {
  // Nothing to run: the heap bytes this thread batched go to their processes.
  heap::flush();
  // Spin a little first: work often arrives within microseconds, and a
  // futex round trip costs more than that.
  for (int i = 0; i < kSpinRounds; ++i) {
    if (pool_.any_work() || pool_.stopping_.load(std::memory_order_relaxed)) return;
    for (int j = 0; j < 32; ++j) CANOPY_PAUSE();
  }
  {
    MutexLock lock(&pool_.idle_mu_);
    wake_.store(0, std::memory_order_relaxed);
    pool_.idle_.push_back(this);
    pool_.idle_count_.fetch_add(1, std::memory_order_seq_cst);
  }
  // Work queued before we registered as idle would have woken nobody: look again.
  if (pool_.any_work() || pool_.stopping_.load(std::memory_order_seq_cst)) {
    MutexLock lock(&pool_.idle_mu_);
    for (auto it = pool_.idle_.begin(); it != pool_.idle_.end(); ++it) {
      if (*it == this) {
        pool_.idle_.erase(it);
        pool_.idle_count_.fetch_sub(1, std::memory_order_relaxed);
        return;
      }
    }
    // A waker already took us off the idle list and will set wake_.
  }
  parks_.fetch_add(1, std::memory_order_relaxed);
  while (wake_.load(std::memory_order_acquire) == 0) wake_.wait(0, std::memory_order_acquire);
}

void Scheduler::run() {
  tl_scheduler = this;
  tl_pool = &pool_;
  Runtime& rt = pool_.rt_;
  running_.tid.store(static_cast<int32_t>(::gettid()), std::memory_order_relaxed);
  if (rt.options().dump.on_fatal_signal) {
    constexpr size_t kAltStack = 64 * 1024;
    alt_stack_.reset(new char[kAltStack]);
    stack_t ss{};
    ss.ss_sp = alt_stack_.get();
    ss.ss_size = kAltStack;
    ::sigaltstack(&ss, nullptr);
  }
  // One timestamp serves as the end of a slice and the start of the next, so
  // a slice costs no clock reads beyond the one per message.
  uint64_t now = cycles();
  while (!pool_.stopping_.load(std::memory_order_acquire)) {
    Process* p = next_task();
    if (p == nullptr) {
      observed_.store(kQuiescent, std::memory_order_seq_cst);
      observed_cache_ = kQuiescent;
      park();
      now = cycles();
      continue;
    }
    const uint64_t epoch = rt.reclamation_epoch();
    if (epoch != observed_cache_) {
      observed_.store(epoch, std::memory_order_seq_cst);
      observed_cache_ = epoch;
    }
    const uint64_t start = now;
    slice_start_.store(start, std::memory_order_relaxed);
    bool exhausted = false;
    running_.behaviour.store(p->behaviour_id, std::memory_order_relaxed);
    running_.pid.store(p->pid.raw(), std::memory_order_relaxed);
    now = rt.run_slice(*this, p, start, exhausted);
    running_.pid.store(0, std::memory_order_relaxed);
    slice_start_.store(0, std::memory_order_relaxed);
    busy_cycles_.store(busy_cycles_.load(std::memory_order_relaxed) + (now - start), std::memory_order_relaxed);
    slices_.store(slices_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (exhausted) exhausted_.store(exhausted_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  observed_.store(kQuiescent, std::memory_order_seq_cst);
  if (alt_stack_) {
    stack_t off{};
    off.ss_flags = SS_DISABLE;
    ::sigaltstack(&off, nullptr);
  }
  tl_scheduler = nullptr;
  tl_pool = nullptr;
}

SchedulerPool::SchedulerPool(Runtime& rt, unsigned count, uint32_t reductions_per_slice)
    : rt_(rt), reductions_per_slice_(reductions_per_slice == 0 ? 1 : reductions_per_slice) {
  if (count == 0) count = std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < count; ++i) schedulers_.push_back(std::make_unique<Scheduler>(*this, i));
}

SchedulerPool::~SchedulerPool() { stop(); }

std::vector<const RunningSlot*> SchedulerPool::running_slots() const {
  std::vector<const RunningSlot*> out;
  for (const auto& s : schedulers_) out.push_back(&s->running());
  return out;
}

void SchedulerPool::start() {
  for (auto& s : schedulers_) {
    Scheduler* raw = s.get();
    s->thread_ = std::thread([raw] { raw->run(); });
  }
}

void SchedulerPool::stop() {
  stopping_.store(true, std::memory_order_seq_cst);
  for (auto& s : schedulers_) {
    s->wake_.store(1, std::memory_order_release);
    s->wake_.notify_one();
  }
  for (auto& s : schedulers_) {
    if (s->thread_.joinable()) s->thread_.join();
  }
}

bool SchedulerPool::take_injected(Process*& p) {
  if (injected_size_.load(std::memory_order_relaxed) == 0) return false;
  SpinLockGuard lock(&injected_lock_);
  if (injected_.empty()) return false;
  p = injected_.front();
  injected_.pop_front();
  injected_size_.store(injected_.size(), std::memory_order_relaxed);
  return true;
}

std::vector<const SchedulerBehaviourCells*> SchedulerPool::behaviour_cells() const {
  std::vector<const SchedulerBehaviourCells*> out;
  for (const auto& s : schedulers_) out.push_back(&s->behaviour_cells());
  return out;
}

void SchedulerPool::inject(Process* p) {
  heap::ScopedSlot runtime_owned(0);
  SpinLockGuard lock(&injected_lock_);
  injected_.push_back(p);
  injected_size_.store(injected_.size(), std::memory_order_seq_cst);
}

Scheduler* SchedulerPool::current() const { return tl_pool == this ? tl_scheduler : nullptr; }

bool on_scheduler_thread() { return tl_scheduler != nullptr; }

void SchedulerPool::schedule(Process* p) {
  if (Scheduler* s = current()) {
    s->push_next(p);
    return;
  }
  inject(p);
  if (idle_count_.load(std::memory_order_seq_cst) > 0) wake_one();
}

void SchedulerPool::wake_one() {
  Scheduler* s = nullptr;
  {
    MutexLock lock(&idle_mu_);
    if (idle_.empty()) return;
    s = idle_.back();
    idle_.pop_back();
    idle_count_.fetch_sub(1, std::memory_order_relaxed);
  }
  s->wake_.store(1, std::memory_order_release);
  s->wake_.notify_one();
}

bool SchedulerPool::any_work() const {
  if (injected_size_.load(std::memory_order_seq_cst) > 0) return true;
  for (const auto& s : schedulers_) {
    if (s->has_stealable_work()) return true;
  }
  return false;
}

void SchedulerPool::watchdog() {
  if (idle_count_.load(std::memory_order_relaxed) == 0) return;
  for (const auto& s : schedulers_) {
    if (s->has_stealable_work()) {
      wake_one();
      return;
    }
  }
}

std::vector<SchedulerStats> SchedulerPool::stats() const {
  std::vector<SchedulerStats> out;
  for (const auto& s : schedulers_) out.push_back(s->stats());
  return out;
}

uint64_t SchedulerPool::min_observed() const {
  uint64_t m = Scheduler::kQuiescent;
  for (const auto& s : schedulers_) m = std::min(m, s->observed_.load(std::memory_order_seq_cst));
  return m;
}

uint64_t SchedulerPool::sent_from_schedulers() const {
  uint64_t n = 0;
  for (const auto& s : schedulers_) n += s->sent();
  return n;
}

}  // namespace canopy::detail
