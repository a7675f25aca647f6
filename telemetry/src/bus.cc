#include "canopy/telemetry/bus.hpp"
#include "canopy/telemetry/detail/logger.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>

namespace canopy::telemetry {

std::string to_string(const EventName& name) {
  std::string s;
  for (const auto& atom : name) {
    if (!s.empty()) s += '.';
    s += atom;
  }
  return s;
}

std::string MetaValue::to_string() const {
  if (!is_number_) return std::string(text_);
  if (std::floor(number_) == number_ && std::fabs(number_) < 1e15) return std::to_string(static_cast<int64_t>(number_));
  return std::to_string(number_);
}

Event::Event(EventName name) : name_(std::move(name)), text_(canopy::telemetry::to_string(name_)) {}

Bus::Bus(std::shared_ptr<spdlog::logger> logger)
    : logger_(logger ? std::move(logger) : canopy::detail::logger("canopy.telemetry")) {}

Bus::~Bus() {
  for (auto& [text, e] : events_) delete e->handlers_.exchange(nullptr);
}

const Event& Bus::event(const EventName& name) {
  const std::string text = to_string(name);
  detail::MutexLock lock(&mu_);
  auto& slot = events_[text];
  if (!slot) slot.reset(new Event(name));
  return *slot;
}

bool Bus::attach(const std::string& handler_id, const std::vector<EventName>& events, Handler handler,
                 std::any config) {
  auto attached =
      std::make_shared<const Event::Attached>(Event::Attached{handler_id, std::move(handler), std::move(config)});
  std::vector<Event*> resolved;
  for (const auto& name : events) resolved.push_back(const_cast<Event*>(&event(name)));
  detail::MutexLock lock(&mu_);
  for (auto& [id, evs] : attached_) {
    if (id == handler_id) return false;
  }
  for (Event* e : resolved) {
    lists_[e].push_back(attached);
    republish_locked(*e);
  }
  attached_.emplace_back(handler_id, std::move(resolved));
  return true;
}

bool Bus::detach(const std::string& handler_id) {
  detail::MutexLock lock(&mu_);
  auto it = std::find_if(attached_.begin(), attached_.end(), [&](auto& a) { return a.first == handler_id; });
  if (it == attached_.end()) return false;
  for (Event* e : it->second) {
    auto& list = lists_[e];
    list.erase(std::remove_if(list.begin(), list.end(), [&](auto& h) { return h->id == handler_id; }), list.end());
    republish_locked(*e);
  }
  attached_.erase(it);
  return true;
}

std::vector<std::string> Bus::handler_ids() const {
  detail::MutexLock lock(&mu_);
  std::vector<std::string> ids;
  for (auto& [id, evs] : attached_) ids.push_back(id);
  return ids;
}

void Bus::republish_locked(Event& e) {
  const auto& list = lists_[&e];
  const Event::HandlerList* next = list.empty() ? nullptr : new Event::HandlerList(list);
  const Event::HandlerList* old = e.handlers_.exchange(next, std::memory_order_acq_rel);
  if (old != nullptr) retired_.emplace_back(old);
}

void Bus::dispatch(const Event& event, const Event::HandlerList& list, const Measurements& m, const Metadata& md) {
  for (const auto& h : list) {
    try {
      h->fn(event.name(), m, md, h->config);
    } catch (const std::exception& e) {
      handler_failed(event, h->id, e.what());
    } catch (...) {
      handler_failed(event, h->id, "unknown exception");
    }
  }
}

void Bus::handler_failed(const Event& event, const std::string& id, const std::string& what) {
  // Only the first failure detaches and logs; a concurrent one finds it gone.
  if (!detach(id)) return;
  failures_.fetch_add(1, std::memory_order_relaxed);
  logger_->error("telemetry handler '{}' threw on event {}: {}; it has been detached", id, event.text(), what);
}

Bus::SpanEvents Bus::span_events(const EventName& prefix) {
  EventName start = prefix, stop = prefix, exception = prefix;
  start.push_back("start");
  stop.push_back("stop");
  exception.push_back("exception");
  return SpanEvents{&event(start), &event(stop), &event(exception)};
}

uint64_t Bus::monotonic_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

uint64_t Bus::system_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

}  // namespace canopy::telemetry
