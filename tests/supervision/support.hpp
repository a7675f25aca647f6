#pragma once
// Helpers shared by the supervision tests (the generic ones are copied from
// tests/core/test_support.hpp; the two directories do not include each other).
//
// Rules the tests follow:
//  * never a fixed sleep as synchronisation: wait for an observable condition
//    with `eventually` (a bounded 1 ms polling loop), or make a blocking call
//    to a supervisor, which is answered only after every message it received
//    before has been handled;
//  * every loop is bounded in time or count, and a handler parked on a Gate
//    gives up after kParkBound, so a failing test can never hang the suite;
//  * no timing assertions: the machine is a loaded 2-core box;
//  * Catch2 assertions only on the test thread: actors record into atomics
//    and Recorders, the test thread asserts afterwards;
//  * state that actors reference is held by shared_ptr or declared before the
//    Runtime, so the Runtime (and every behaviour) is destroyed first.
#include <catch2/catch.hpp>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/sinks/sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "canopy/core/core.hpp"

#include "canopy_test/core.hpp"

namespace sup_test {

using canopy_test::contains;
using canopy_test::eventually;
using canopy_test::Gate;
using canopy_test::kParkBound;
using canopy_test::kPatience;
using canopy_test::OpenOnExit;
using canopy_test::Recorder;

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Restart intensity/period for tests that are not about intensity: crashes
// made on purpose must never make a supervisor give up.
inline constexpr uint32_t kLenientIntensity = 100;
inline constexpr std::chrono::milliseconds kLongPeriod{60'000};

// Work sizes are divided by this under sanitizers.
inline constexpr int kSlowdown = canopy_test::sanitizer_slowdown(8, 2);
inline constexpr int scaled(int n) { return n / kSlowdown > 0 ? n / kSlowdown : 1; }

// Spins the calling thread for `d` of wall time (a busy handler).
inline void spin_for(std::chrono::microseconds d) {
  const auto until = Clock::now() + d;
  while (Clock::now() < until) {
  }
}

// --- logging ------------------------------------------------------------------

// An spdlog sink that keeps every line (level and text) for the test to read.
class CaptureSink final : public spdlog::sinks::sink {
 public:
  struct Line {
    spdlog::level::level_enum level;
    std::string text;
  };
  void log(const spdlog::details::log_msg& msg) override {
    std::lock_guard lock(mu_);
    lines_.push_back(Line{msg.level, std::string(msg.payload.data(), msg.payload.size())});
  }
  void flush() override {}
  void set_pattern(const std::string&) override {}
  void set_formatter(std::unique_ptr<spdlog::formatter>) override {}

  std::vector<Line> lines() const {
    std::lock_guard lock(mu_);
    return lines_;
  }
  // Lines at `level` whose text contains `needle`.
  size_t count(spdlog::level::level_enum level, const std::string& needle) const {
    std::lock_guard lock(mu_);
    return static_cast<size_t>(std::count_if(lines_.begin(), lines_.end(), [&](const Line& l) {
      return l.level == level && l.text.find(needle) != std::string::npos;
    }));
  }
  // Lines at any level whose text contains `needle`.
  size_t count_any(const std::string& needle) const {
    std::lock_guard lock(mu_);
    return static_cast<size_t>(std::count_if(lines_.begin(), lines_.end(),
                                             [&](const Line& l) { return l.text.find(needle) != std::string::npos; }));
  }

 private:
  mutable std::mutex mu_;
  std::vector<Line> lines_;
};

// The runtime's logger for a test: silent, unless CANOPY_TEST_LOG is set
// (then stderr), so crash reports of crashes made on purpose stay quiet.
inline std::shared_ptr<spdlog::logger> test_logger() {
  if (std::getenv("CANOPY_TEST_LOG") != nullptr) {
    return std::make_shared<spdlog::logger>("canopy.test", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  }
  return std::make_shared<spdlog::logger>("canopy.test", std::make_shared<spdlog::sinks::null_sink_mt>());
}

inline std::shared_ptr<spdlog::logger> capturing_logger(std::shared_ptr<CaptureSink> sink) {
  auto logger = std::make_shared<spdlog::logger>("canopy.test", std::move(sink));
  logger->set_level(spdlog::level::trace);
  return logger;
}

// Runtime options for a test: two schedulers (the machine has two cores) and
// the test logger.
inline canopy::RuntimeOptions options(unsigned schedulers = 2) {
  canopy::RuntimeOptions o;
  o.schedulers = schedulers;
  o.logger = test_logger();
  return o;
}

// --- the test worker ------------------------------------------------------------

// What workers did, shared by all workers of a test (held by shared_ptr, so it
// outlives every process).
struct Journal {
  // "start <name>" from init(), "stop <name>" from terminate(), in the order
  // they happened.
  Recorder<std::string> events;
  // (name, reason) for every terminate() call.
  Recorder<std::pair<std::string, canopy::ExitReason>> stops;
  // (name, exit reason) of every ExitMessage a trapping worker received.
  Recorder<std::pair<std::string, canopy::ExitReason>> trapped;
  // Set to park one worker in terminate(): it opens `terminate_entered` and
  // waits for `terminate_release`.
  std::string park_in_terminate;
  std::shared_ptr<Gate> terminate_entered = std::make_shared<Gate>();
  std::shared_ptr<Gate> terminate_release = std::make_shared<Gate>();

  size_t count(const std::string& event) const {
    auto e = events.snapshot();
    return static_cast<size_t>(std::count(e.begin(), e.end(), event));
  }
  // The events after the first `skip`.
  std::vector<std::string> events_from(size_t skip) const {
    auto e = events.snapshot();
    if (skip >= e.size()) return {};
    return std::vector<std::string>(e.begin() + static_cast<std::ptrdiff_t>(skip), e.end());
  }
  std::vector<canopy::ExitReason> stop_reasons(const std::string& name) const {
    std::vector<canopy::ExitReason> out;
    for (auto& [n, r] : stops.snapshot()) {
      if (n == name) out.push_back(r);
    }
    return out;
  }
  std::vector<canopy::ExitReason> trapped_reasons(const std::string& name) const {
    std::vector<canopy::ExitReason> out;
    for (auto& [n, r] : trapped.snapshot()) {
      if (n == name) out.push_back(r);
    }
    return out;
  }
};

// How a worker behaves towards exit signals and at start.
struct WorkerTraits {
  // Trap exits (set in init).
  bool trap_exits = false;
  // With trap_exits: true = ignore every exit signal (a stubborn child that
  // must be killed); false = stop with the signal's reason when it comes from
  // the parent (a cooperative child that cleans up and leaves).
  bool ignore_exit_signals = false;
  // When set and false, init fails with `init_error` (a database that is down).
  std::shared_ptr<std::atomic<bool>> available;
  std::string init_error = "connection refused";
};

// Commands a worker understands.
struct Crash {
  std::string what = "boom";
};
struct StopWith {
  canopy::ExitReason reason = canopy::ExitReason::normal();
};
// Parks the handler: opens `entered`, waits (bounded) for `release`.
struct Block {
  std::shared_ptr<Gate> entered = std::make_shared<Gate>();
  std::shared_ptr<Gate> release = std::make_shared<Gate>();
};

class Worker final : public canopy::Actor {
 public:
  Worker(std::shared_ptr<Journal> journal, std::string name, WorkerTraits traits = {})
      : j_(std::move(journal)), name_(std::move(name)), traits_(std::move(traits)) {}

  canopy::Status init() override {
    if (traits_.available && !traits_.available->load()) {
      return canopy::Error(canopy::Errc::init_failed, traits_.init_error);
    }
    if (traits_.trap_exits) trap_exit(true);
    j_->events.push("start " + name_);
    return {};
  }

  void handle(canopy::Message& m) override {
    if (auto* c = m.as<Crash>()) {
      throw std::runtime_error(c->what);
    } else if (auto* s = m.as<StopWith>()) {
      stop(s->reason);
    } else if (auto* b = m.as<Block>()) {
      b->entered->open();
      (void)b->release->wait();
    } else if (auto* e = m.as<canopy::ExitMessage>()) {
      j_->trapped.push({name_, e->reason});
      if (!traits_.ignore_exit_signals && e->from == parent()) stop(e->reason);
    }
  }

  void terminate(const canopy::ExitReason& reason) override {
    j_->events.push("stop " + name_);
    j_->stops.push({name_, reason});
    if (!j_->park_in_terminate.empty() && j_->park_in_terminate == name_) {
      j_->terminate_entered->open();
      (void)j_->terminate_release->wait();
    }
  }

 private:
  std::shared_ptr<Journal> j_;
  std::string name_;
  WorkerTraits traits_;
};

// A worker child spec named `id`, journaling under the same name.
inline canopy::ChildSpec worker(const std::string& id, const std::shared_ptr<Journal>& journal,
                                WorkerTraits traits = {}) {
  return canopy::ChildSpec::worker<Worker>(id, journal, id, std::move(traits));
}

// Supervisor flags for tests that are not about intensity.
inline canopy::SupervisorFlags lenient(canopy::Strategy strategy = canopy::Strategy::one_for_one) {
  canopy::SupervisorFlags f;
  f.strategy = strategy;
  f.intensity = kLenientIntensity;
  f.period = kLongPeriod;
  return f;
}

// --- asking supervisors ------------------------------------------------------------

// which_children, REQUIRE'd to succeed.
inline std::vector<canopy::ChildInfo> children_of(canopy::Runtime& rt, canopy::Pid sup) {
  auto r = canopy::supervisor::which_children(rt, sup);
  REQUIRE_OK(r);
  return r.value();
}

// The child `id` in `children`, if listed.
inline std::optional<canopy::ChildInfo> find_child(const std::vector<canopy::ChildInfo>& children,
                                                   const std::string& id) {
  for (const auto& c : children) {
    if (c.id == id) return c;
  }
  return std::nullopt;
}

// The child `id` of `sup` (REQUIRE'd to be listed).
inline canopy::ChildInfo child_of(canopy::Runtime& rt, canopy::Pid sup, const std::string& id) {
  auto c = find_child(children_of(rt, sup), id);
  INFO("supervisor " << sup.to_string() << " child '" << id << "'");
  REQUIRE(c.has_value());
  return *c;
}

// The pid of the running child `id` of `sup`.
inline canopy::Pid running_pid(canopy::Runtime& rt, canopy::Pid sup, const std::string& id) {
  auto c = child_of(rt, sup, id);
  INFO("child '" << id << "' is " << canopy::to_string(c.state));
  REQUIRE(c.state == canopy::ChildState::running);
  REQUIRE(c.pid.valid());
  return c.pid;
}

// id -> pid of every child of `sup`, from which_children.
inline std::map<std::string, canopy::Pid> pid_map(canopy::Runtime& rt, canopy::Pid sup) {
  std::map<std::string, canopy::Pid> out;
  for (const auto& c : children_of(rt, sup)) out[c.id] = c.pid;
  return out;
}

// The published stats of `sup` (REQUIRE'd: `sup` must be a live supervisor).
inline canopy::SupervisorStats stats_of(canopy::Runtime& rt, canopy::Pid sup) {
  auto s = canopy::supervisor::stats(rt, sup);
  INFO("supervisor " << sup.to_string());
  REQUIRE(s.has_value());
  return *s;
}

// Without assertions (for `eventually` predicates): the child `id` of `sup`
// from the published stats, if `sup` is a live supervisor listing it.
inline std::optional<canopy::ChildInfo> peek_child(canopy::Runtime& rt, canopy::Pid sup, const std::string& id) {
  auto s = canopy::supervisor::stats(rt, sup);
  if (!s) return std::nullopt;
  return find_child(s->children, id);
}

// True when the child `id` of `sup` runs as a live process other than `old`.
inline bool restarted(canopy::Runtime& rt, canopy::Pid sup, const std::string& id, canopy::Pid old) {
  auto c = peek_child(rt, sup, id);
  return c && c->state == canopy::ChildState::running && c->pid.valid() && c->pid != old && rt.alive(c->pid);
}

// Waits until the child `id` of `sup` runs under a pid other than `old`; returns it.
inline canopy::Pid wait_restarted(canopy::Runtime& rt, canopy::Pid sup, const std::string& id, canopy::Pid old) {
  INFO("waiting for child '" << id << "' of " << sup.to_string() << " to run under a pid other than "
                             << old.to_string());
  REQUIRE(eventually([&] { return restarted(rt, sup, id, old); }));
  return peek_child(rt, sup, id)->pid;
}

// True when `sup` publishes the child `id` in `state`.
inline bool child_in_state(canopy::Runtime& rt, canopy::Pid sup, const std::string& id, canopy::ChildState state) {
  auto c = peek_child(rt, sup, id);
  return c && c->state == state;
}

// Every child of `sup` is running (from the published stats).
inline bool all_running(canopy::Runtime& rt, canopy::Pid sup, size_t expected) {
  auto s = canopy::supervisor::stats(rt, sup);
  if (!s || s->children.size() != expected) return false;
  return std::all_of(s->children.begin(), s->children.end(), [&](const canopy::ChildInfo& c) {
    return c.state == canopy::ChildState::running && c.pid.valid();
  });
}

// Starts a supervisor, REQUIRE'd to succeed.
inline canopy::Pid start_sup(canopy::Runtime& rt, canopy::SupervisorSpec spec) {
  auto r = canopy::start_supervisor(rt, std::move(spec));
  REQUIRE_OK(r);
  return r.value();
}

inline bool dead(const canopy::Runtime& rt, canopy::Pid p) { return !rt.alive(p); }

inline canopy::Pid spawn_fn(canopy::Runtime& rt, canopy::FunctionActor::Fn fn, canopy::SpawnOptions options = {}) {
  auto r = rt.spawn(std::make_unique<canopy::FunctionActor>(std::move(fn)), std::move(options));
  if (!r.ok()) FAIL("spawn_fn: " << r.error().to_string());
  return r.value();
}

// An idle process: handles nothing, holds nothing.
inline canopy::Pid spawn_idle(canopy::Runtime& rt, canopy::SpawnOptions options = {}) {
  return spawn_fn(
      rt, [](canopy::FunctionActor&, canopy::Message&) {}, std::move(options));
}

}  // namespace sup_test
