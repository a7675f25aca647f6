#include "canopy/telemetry/poller.hpp"
#include "canopy/telemetry/detail/logger.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace canopy::telemetry {

Poller::Poller(std::chrono::milliseconds interval, std::shared_ptr<spdlog::logger> logger)
    : interval_(interval.count() > 0 ? interval : std::chrono::milliseconds(1'000)),
      logger_(logger ? std::move(logger) : canopy::detail::logger("canopy.telemetry")) {}

Poller::~Poller() { stop(); }

bool Poller::add(const std::string& name, std::function<void()> measure) {
  detail::MutexLock lock(&mu_);
  for (auto& m : measurements_) {
    if (m->name == name) return false;
  }
  measurements_.push_back(std::make_shared<Measurement>(Measurement{name, std::move(measure), false}));
  return true;
}

bool Poller::remove(const std::string& name) {
  detail::MutexLock lock(&mu_);
  auto it = std::find_if(measurements_.begin(), measurements_.end(), [&](auto& m) { return m->name == name; });
  if (it == measurements_.end()) return false;
  measurements_.erase(it);
  return true;
}

void Poller::start() {
  detail::MutexLock lock(&mu_);
  if (running_) return;
  running_ = true;
  thread_ = std::thread([this] { run(); });
}

void Poller::stop() {
  {
    detail::MutexLock lock(&mu_);
    if (!running_) return;
    running_ = false;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Poller::poll_now() {
  detail::MutexLock round(&poll_mu_);
  std::vector<std::shared_ptr<Measurement>> ms;
  {
    detail::MutexLock lock(&mu_);
    ms = measurements_;
  }
  const auto start = std::chrono::steady_clock::now();
  uint64_t failed = 0;
  for (auto& m : ms) {
    std::string what;
    try {
      m->fn();
      if (m->failing) logger_->info("poller measurement '{}' works again", m->name);
      m->failing = false;
      continue;
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
      what = "unknown exception";
    }
    ++failed;
    if (!m->failing) logger_->error("poller measurement '{}' threw: {}; it runs again next tick", m->name, what);
    m->failing = true;
  }
  const auto took = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start);
  detail::MutexLock lock(&mu_);
  ++polls_;
  failures_ += failed;
  last_poll_ns_ = static_cast<uint64_t>(took.count());
}

void Poller::run() {
  detail::MutexLock lock(&mu_);
  while (running_) {
    if (wait_tick_locked(interval_)) {
      if (!running_) break;
      continue;  // a new interval: wait again with it
    }
    lock.unlock();
    poll_now();
    lock.lock();
  }
}

bool Poller::wait_tick_locked(std::chrono::milliseconds interval) {
  const auto deadline = std::chrono::steady_clock::now() + interval;
  while (running_ && interval_ == interval) {
    if (cv_.wait_until(mu_, deadline) == std::cv_status::timeout) return !running_ || interval_ != interval;
  }
  return true;
}

std::chrono::milliseconds Poller::interval() const {
  detail::MutexLock lock(&mu_);
  return interval_;
}

void Poller::set_interval(std::chrono::milliseconds interval) {
  {
    detail::MutexLock lock(&mu_);
    interval_ = interval.count() > 0 ? interval : std::chrono::milliseconds(1'000);
  }
  cv_.notify_all();
}

uint64_t Poller::polls() const {
  detail::MutexLock lock(&mu_);
  return polls_;
}
uint64_t Poller::failures() const {
  detail::MutexLock lock(&mu_);
  return failures_;
}
uint64_t Poller::last_poll_ns() const {
  detail::MutexLock lock(&mu_);
  return last_poll_ns_;
}

}  // namespace canopy::telemetry
