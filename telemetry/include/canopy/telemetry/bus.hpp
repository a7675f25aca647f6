#pragma once
// The event bus, the counterpart of Erlang's :telemetry.
//
//   const Event& spawned = bus.event({"canopy", "process", "spawn"});  // once
//   bus.execute(spawned, {{"count", 1}}, {{"behaviour", "Worker"}});   // hot path
//
// execute() on an event nobody listens to is one atomic load. Handlers run
// synchronously on the emitting thread; a handler that throws is detached,
// logged once with its id and the event, and counted — the emitter never
// sees the exception. Attach and detach may be slow; they never block
// execute(). Thread-safe.
#include <any>
#include <atomic>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "canopy/telemetry/detail/mutex.hpp"
#include "canopy/telemetry/event.hpp"

namespace spdlog {
class logger;
}

namespace canopy::telemetry {

class Bus;

using Handler = std::function<void(const EventName& event, const Measurements& measurements, const Metadata& metadata,
                                   const std::any& config)>;

// A resolved event name. Lives as long as its Bus; compare by address.
class Event {
 public:
  const EventName& name() const { return name_; }
  const std::string& text() const { return text_; }
  // True when at least one handler is attached (one atomic load).
  bool active() const { return handlers_.load(std::memory_order_acquire) != nullptr; }

 private:
  friend class Bus;
  struct Attached {
    std::string id;
    Handler fn;
    std::any config;
  };
  using HandlerList = std::vector<std::shared_ptr<const Attached>>;
  explicit Event(EventName name);
  EventName name_;
  std::string text_;
  // Immutable list, replaced whole by attach/detach; null when empty.
  std::atomic<const HandlerList*> handlers_{nullptr};
};

class Bus {
 public:
  explicit Bus(std::shared_ptr<spdlog::logger> logger = nullptr);
  ~Bus();
  Bus(const Bus&) = delete;
  Bus& operator=(const Bus&) = delete;

  // The handle for `name`, created on first use; the same name gives the same handle.
  const Event& event(const EventName& name) EXCLUDES(mu_);

  // Attaches `handler` to every event in `events` under `handler_id`.
  // Returns false (and attaches nothing) when the id is already in use.
  bool attach(const std::string& handler_id, const std::vector<EventName>& events, Handler handler,
              std::any config = {}) EXCLUDES(mu_);
  // Returns false when no handler has that id.
  bool detach(const std::string& handler_id) EXCLUDES(mu_);
  std::vector<std::string> handler_ids() const EXCLUDES(mu_);

  void execute(const Event& event, const Measurements& measurements, const Metadata& metadata = {}) {
    const Event::HandlerList* list = event.handlers_.load(std::memory_order_acquire);
    if (list == nullptr) return;
    dispatch(event, *list, measurements, metadata);
  }
  void execute(const EventName& name, const Measurements& measurements, const Metadata& metadata = {}) {
    execute(event(name), measurements, metadata);
  }

  // Emits prefix+[start] (monotonic_time, system_time), runs fn, then
  // prefix+[stop] (duration, monotonic_time) — or prefix+[exception]
  // (duration; metadata kind and reason) and rethrows. Times in nanoseconds.
  template <typename Fn>
  auto span(const EventName& prefix, const Metadata& metadata, Fn&& fn) -> decltype(fn());

  // Handlers detached because they threw.
  uint64_t handler_failures() const { return failures_.load(std::memory_order_relaxed); }

 private:
  void dispatch(const Event& event, const Event::HandlerList& list, const Measurements& m, const Metadata& md);
  void handler_failed(const Event& event, const std::string& id, const std::string& what) EXCLUDES(mu_);
  void republish_locked(Event& event) REQUIRES(mu_);
  struct SpanEvents {
    const Event* start;
    const Event* stop;
    const Event* exception;
  };
  SpanEvents span_events(const EventName& prefix) EXCLUDES(mu_);
  static uint64_t monotonic_ns();
  static uint64_t system_ns();

  std::shared_ptr<spdlog::logger> logger_;
  mutable detail::Mutex mu_;
  std::unordered_map<std::string, std::unique_ptr<Event>> events_ GUARDED_BY(mu_);     // by text
  std::vector<std::pair<std::string, std::vector<Event*>>> attached_ GUARDED_BY(mu_);  // id -> events
  std::unordered_map<Event*, std::vector<std::shared_ptr<const Event::Attached>>> lists_ GUARDED_BY(mu_);
  // Replaced handler lists, kept until the bus goes: an emitter may still be
  // walking one (attach/detach are rare, so this stays small).
  std::deque<std::unique_ptr<const Event::HandlerList>> retired_ GUARDED_BY(mu_);
  std::atomic<uint64_t> failures_{0};
};

template <typename Fn>
auto Bus::span(const EventName& prefix, const Metadata& metadata, Fn&& fn) -> decltype(fn()) {
  const SpanEvents ev = span_events(prefix);
  const uint64_t start = monotonic_ns();
  execute(*ev.start,
          {{"monotonic_time", static_cast<double>(start)}, {"system_time", static_cast<double>(system_ns())}},
          metadata);
  try {
    if constexpr (std::is_void_v<decltype(fn())>) {
      fn();
      const uint64_t end = monotonic_ns();
      execute(*ev.stop, {{"duration", static_cast<double>(end - start)}, {"monotonic_time", static_cast<double>(end)}},
              metadata);
    } else {
      auto result = fn();
      const uint64_t end = monotonic_ns();
      execute(*ev.stop, {{"duration", static_cast<double>(end - start)}, {"monotonic_time", static_cast<double>(end)}},
              metadata);
      return result;
    }
  } catch (const std::exception& e) {
    const uint64_t end = monotonic_ns();
    Metadata md = metadata;
    md.set("kind", "error");
    md.set("reason", e.what());
    execute(*ev.exception,
            {{"duration", static_cast<double>(end - start)}, {"monotonic_time", static_cast<double>(end)}}, md);
    throw;
  } catch (...) {
    const uint64_t end = monotonic_ns();
    Metadata md = metadata;
    md.set("kind", "throw");
    md.set("reason", "unknown exception");
    execute(*ev.exception,
            {{"duration", static_cast<double>(end - start)}, {"monotonic_time", static_cast<double>(end)}}, md);
    throw;
  }
}

}  // namespace canopy::telemetry
