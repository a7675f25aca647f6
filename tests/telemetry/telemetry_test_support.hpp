#pragma once
// Helpers shared by the canopy telemetry tests (the event bus, metric
// definitions, the poller, and the runtime's measurements).
//
// Rules the tests follow:
//  * only the public headers: canopy/telemetry/*.hpp and canopy/core/*.hpp;
//  * never a fixed sleep as synchronisation: wait for an observable condition
//    with `eventually` (a bounded 1 ms polling loop). The only sleeps are
//    measurement windows (scheduler utilization) whose length is never asserted;
//  * every loop is bounded in time or count, so a failing test cannot hang;
//  * Catch2 assertions only on the test thread: handlers and helper threads
//    record into atomics and Recorders, the test thread asserts afterwards;
//  * no assertion on wall-clock speed: bounds are generous (a loaded 2-core
//    machine, sanitizer builds).
#include <catch2/catch.hpp>

#include <spdlog/logger.h>
#include <spdlog/sinks/ringbuffer_sink.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "canopy/telemetry/bus.hpp"
#include "canopy/telemetry/collect.hpp"
#include "canopy/telemetry/event.hpp"
#include "canopy/telemetry/metrics.hpp"
#include "canopy/telemetry/poller.hpp"

#include "canopy_test/wait.hpp"

namespace telemetry_test {

using canopy_test::eventually;
using canopy_test::kPatience;
using canopy_test::Recorder;

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Work sizes are divided by this under sanitizers.
inline constexpr int kSlowdown = canopy_test::sanitizer_slowdown(8, 2);
inline constexpr int scaled(int n) { return n / kSlowdown > 0 ? n / kSlowdown : 1; }

// What a handler saw, copied out of the borrowed measurements and metadata.
struct Seen {
  std::string event;
  std::vector<std::pair<std::string, double>> measurements;
  std::vector<std::pair<std::string, std::string>> metadata;

  std::optional<double> m(const std::string& key) const {
    for (auto& [k, v] : measurements) {
      if (k == key) return v;
    }
    return std::nullopt;
  }
  std::optional<std::string> md(const std::string& key) const {
    for (auto& [k, v] : metadata) {
      if (k == key) return v;
    }
    return std::nullopt;
  }
};

inline Seen copy_event(const canopy::telemetry::EventName& event, const canopy::telemetry::Measurements& m,
                       const canopy::telemetry::Metadata& md) {
  Seen s;
  s.event = canopy::telemetry::to_string(event);
  for (auto& [k, v] : m) s.measurements.emplace_back(std::string(k), v);
  for (auto& [k, v] : md) s.metadata.emplace_back(std::string(k), v.to_string());
  return s;
}

// A handler that records every event it gets.
inline canopy::telemetry::Handler recording(std::shared_ptr<Recorder<Seen>> into) {
  return [into](const canopy::telemetry::EventName& e, const canopy::telemetry::Measurements& m,
                const canopy::telemetry::Metadata& md, const std::any&) { into->push(copy_event(e, m, md)); };
}

// A logger whose lines the test can read.
struct CapturedLog {
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(256);
  std::shared_ptr<spdlog::logger> logger;
  explicit CapturedLog(const std::string& name = "telemetry-test")
      : logger(std::make_shared<spdlog::logger>(name, sink)) {
    logger->set_level(spdlog::level::trace);
    logger->set_pattern("%l %v");
  }
  std::vector<std::string> lines() const {
    logger->flush();
    return sink->last_formatted();
  }
  size_t count_containing(const std::string& text) const {
    size_t n = 0;
    for (auto& l : lines()) n += l.find(text) != std::string::npos ? 1 : 0;
    return n;
  }
};

// --- reading collected families ------------------------------------------------

inline const canopy::telemetry::Family* family(const std::vector<canopy::telemetry::Family>& fams,
                                               const std::string& name) {
  for (auto& f : fams) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

inline bool has_labels(const canopy::telemetry::Sample& s, const canopy::telemetry::Labels& want) {
  for (auto& w : want) {
    if (std::find(s.labels.begin(), s.labels.end(), w) == s.labels.end()) return false;
  }
  return true;
}

// The sample of family `name` whose labels include `labels`, if any.
inline std::optional<canopy::telemetry::Sample> sample(const std::vector<canopy::telemetry::Family>& fams,
                                                       const std::string& name,
                                                       const canopy::telemetry::Labels& labels = {}) {
  const canopy::telemetry::Family* f = family(fams, name);
  if (f == nullptr) return std::nullopt;
  for (auto& s : f->samples) {
    if (has_labels(s, labels)) return s;
  }
  return std::nullopt;
}

// The value of that sample, or nullopt when there is none.
inline std::optional<double> value(const std::vector<canopy::telemetry::Family>& fams, const std::string& name,
                                   const canopy::telemetry::Labels& labels = {}) {
  auto s = sample(fams, name, labels);
  if (!s) return std::nullopt;
  return s->value;
}

template <typename C>
inline std::optional<double> value_of(const C& collectable, const std::string& name,
                                      const canopy::telemetry::Labels& labels = {}) {
  return value(collectable.collect(), name, labels);
}

}  // namespace telemetry_test
