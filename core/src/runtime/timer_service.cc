#include "runtime/timer_service.hpp"

#include <algorithm>

#include "runtime/cycle_clock.hpp"

namespace canopy::detail {

namespace {
constexpr uint64_t kTickNs = 1'000'000;
}

TimerService::TimerService(std::function<void(Pid, std::unique_ptr<Message>)> deliver, std::function<void()> tick)
    : deliver_(std::move(deliver)), tick_(std::move(tick)), start_ns_(mono_ns()) {}

TimerService::~TimerService() { stop(); }

void TimerService::start() {
  thread_ = std::thread([this] { run(); });
}

void TimerService::stop() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  MutexLock lock(&mu_);
  heap_.clear();
}

void TimerService::send_after(Pid to, uint64_t delay_ms, std::unique_ptr<Message> message) {
  {
    MutexLock lock(&mu_);
    if (stopping_) return;
    heap_.push_back(Entry{mono_ns() + delay_ms * 1'000'000, seq_++, to, std::move(message)});
    std::push_heap(heap_.begin(), heap_.end(), later);
  }
  cv_.notify_one();
}

void TimerService::run() {
  MutexLock lock(&mu_);
  uint64_t next_tick = start_ns_ + kTickNs;
  while (!stopping_) {
    uint64_t now = mono_ns();
    if (now >= next_tick) {
      now_ms_.store(static_cast<uint32_t>((now - start_ns_) / 1'000'000), std::memory_order_relaxed);
      next_tick = now + kTickNs;
      lock.unlock();
      tick_();
      lock.lock();
    }
    std::vector<Entry> due;
    while (!heap_.empty() && heap_.front().due_ns <= now) {
      std::pop_heap(heap_.begin(), heap_.end(), later);
      due.push_back(std::move(heap_.back()));
      heap_.pop_back();
    }
    if (!due.empty()) {
      lock.unlock();
      for (auto& e : due) deliver_(e.to, std::move(e.message));
      lock.lock();
      continue;
    }
    uint64_t wake_at = next_tick;
    if (!heap_.empty()) wake_at = std::min(wake_at, heap_.front().due_ns);
    cv_.wait_for(mu_, std::chrono::nanoseconds(wake_at > now ? wake_at - now : 0));
  }
}

}  // namespace canopy::detail
