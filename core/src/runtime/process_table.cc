#include "runtime/process_table.hpp"

namespace canopy::detail {

ProcessRef& ProcessRef::operator=(ProcessRef&& o) noexcept {
  if (this != &o) {
    reset();
    table_ = o.table_;
    index_ = o.index_;
    process_ = o.process_;
    o.process_ = nullptr;
  }
  return *this;
}

void ProcessRef::reset() {
  if (process_ != nullptr) {
    process_ = nullptr;
    table_->release(index_);
  }
}

ProcessTable::ProcessTable(uint32_t max_processes, Reclaim reclaim)
    : max_(max_processes == 0 ? 1 : max_processes),
      reclaim_(reclaim),
      chunks_(new std::atomic<Slot*>[(max_ + kChunkSize - 1) / kChunkSize]) {
  for (uint32_t i = 0; i < (max_ + kChunkSize - 1) / kChunkSize; ++i) chunks_[i].store(nullptr);
}

ProcessTable::~ProcessTable() {
  for (uint32_t i = 0; i < (max_ + kChunkSize - 1) / kChunkSize; ++i) delete[] chunks_[i].load();
}

ProcessTable::Slot* ProcessTable::slot(uint32_t index) const {
  if (index >= max_) return nullptr;
  Slot* chunk = chunks_[index >> kChunkBits].load(std::memory_order_acquire);
  return chunk == nullptr ? nullptr : &chunk[index & (kChunkSize - 1)];
}

std::optional<Pid> ProcessTable::reserve() {
  uint32_t index;
  {
    MutexLock lock(&free_mu_);
    if (free_.empty() && fresh_.load(std::memory_order_relaxed) >= max_ && min_observed_) {
      // Full: retired processes may be waiting in limbo for their grace period.
      lock.unlock();
      collect(min_observed_());
      lock.lock();
    }
    if (!free_.empty()) {
      index = free_.back();
      free_.pop_back();
    } else {
      index = fresh_.load(std::memory_order_relaxed);
      if (index >= max_) return std::nullopt;
      auto& chunk = chunks_[index >> kChunkBits];
      if (chunk.load(std::memory_order_relaxed) == nullptr)
        chunk.store(new Slot[kChunkSize], std::memory_order_release);
      fresh_.store(index + 1, std::memory_order_release);
    }
  }
  occupied_.fetch_add(1, std::memory_order_relaxed);
  uint32_t generation = static_cast<uint32_t>(slot(index)->word.load(std::memory_order_acquire) >> 32);
  if (generation == 0) generation = 1;
  return Pid::from_parts(index, generation);
}

void ProcessTable::unreserve(Pid pid) {
  occupied_.fetch_sub(1, std::memory_order_relaxed);
  MutexLock lock(&free_mu_);
  free_.push_back(pid.index());
}

void ProcessTable::publish(Pid pid, Process* p) {
  Slot* s = slot(pid.index());
  s->process.store(p, std::memory_order_relaxed);
  s->word.store((static_cast<uint64_t>(pid.generation()) << 32) | kAlive | 1, std::memory_order_release);
}

ProcessRef ProcessTable::acquire(Pid pid) const {
  Slot* s = slot(pid.index());
  if (s == nullptr || !pid.valid()) return {};
  uint64_t w = s->word.load(std::memory_order_acquire);
  const uint64_t want = static_cast<uint64_t>(pid.generation()) << 32;
  while ((w & ~(kAlive | kRefMask)) == want && (w & kAlive) != 0) {
    if (s->word.compare_exchange_weak(w, w + 1, std::memory_order_acquire, std::memory_order_acquire)) {
      return ProcessRef(this, pid.index(), s->process.load(std::memory_order_relaxed));
    }
  }
  return {};
}

ProcessRef ProcessTable::acquire_index(uint32_t index) const {
  Slot* s = slot(index);
  if (s == nullptr) return {};
  const uint64_t w = s->word.load(std::memory_order_acquire);
  if ((w & kAlive) == 0) return {};
  return acquire(Pid::from_parts(index, static_cast<uint32_t>(w >> 32)));
}

void ProcessTable::close(Pid pid) { slot(pid.index())->word.fetch_and(~kAlive, std::memory_order_acq_rel); }

void ProcessTable::retire(Pid pid) {
  Slot* s = slot(pid.index());
  s->word.fetch_and(~kAlive, std::memory_order_acq_rel);
  release(pid.index());
}

Process* ProcessTable::lookup_unreferenced(Pid pid) const {
  Slot* s = slot(pid.index());
  if (s == nullptr || !pid.valid()) return nullptr;
  const uint64_t w = s->word.load(std::memory_order_seq_cst);
  if ((w >> 32) != pid.generation() || (w & kAlive) == 0) return nullptr;
  return s->process.load(std::memory_order_acquire);
}

void ProcessTable::release(uint32_t index) const {
  Slot* s = slot(index);
  const uint64_t before = s->word.fetch_sub(1, std::memory_order_acq_rel);
  if ((before & kRefMask) != 1 || (before & kAlive) != 0) return;
  // Last reference to a retired process: a scheduler may still hold it
  // unreferenced, so it waits in limbo for the next grace period.
  MutexLock lock(&limbo_mu_);
  limbo_.push_back(Retired{index, epoch_.fetch_add(1, std::memory_order_seq_cst)});
}

size_t ProcessTable::limbo_size() const {
  MutexLock lock(&limbo_mu_);
  return limbo_.size();
}

size_t ProcessTable::collect(uint64_t min_observed) {
  std::vector<uint32_t> ready;
  {
    MutexLock lock(&limbo_mu_);
    while (!limbo_.empty() && limbo_.front().epoch < min_observed) {
      ready.push_back(limbo_.front().index);
      limbo_.pop_front();
    }
  }
  for (uint32_t index : ready) free_slot(index);
  return ready.size();
}

void ProcessTable::free_slot(uint32_t index) {
  Slot* s = slot(index);
  Process* p = s->process.exchange(nullptr, std::memory_order_acquire);
  reclaim_(p);
  // Open the slot to the next generation (never 0, which means "no process").
  const uint64_t w = s->word.load(std::memory_order_acquire);
  uint32_t next = static_cast<uint32_t>(w >> 32) + 1;
  if (next == 0) next = 1;
  s->word.store(static_cast<uint64_t>(next) << 32, std::memory_order_release);
  {
    MutexLock lock(&free_mu_);
    free_.push_back(index);
  }
  occupied_.fetch_sub(1, std::memory_order_release);
}

}  // namespace canopy::detail
