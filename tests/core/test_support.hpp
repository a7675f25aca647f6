#pragma once
// Helpers shared by the canopy::core tests.
//
// Rules the tests follow:
//  * never a fixed sleep as synchronisation: wait for an observable condition
//    with `eventually` (a bounded 1 ms polling loop);
//  * every loop is bounded in time or count, and a handler parked on a Gate
//    gives up after kParkBound, so a failing test can never hang the suite;
//  * Catch2 assertions only on the test thread: actors and helper threads
//    record into atomics and Recorders, the test thread asserts afterwards;
//  * state that actors reference is declared before the Runtime, so the
//    Runtime (and every behaviour) is destroyed first.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <initializer_list>
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

namespace canopy_test {

// Work sizes are divided by this under sanitizers.
inline constexpr int kSlowdown = sanitizer_slowdown(2, 2);
inline constexpr int scaled(int n) { return n / kSlowdown > 0 ? n / kSlowdown : 1; }

// Parks the handler that receives it: opens `entered`, then waits for `release`.
struct Block {
  std::shared_ptr<Gate> entered = std::make_shared<Gate>();
  std::shared_ptr<Gate> release = std::make_shared<Gate>();
};

// --- the probe: a general-purpose test process --------------------------------

// Commands a probe understands.
struct Crash {
  std::string what;
};
struct CrashUnknown {};
struct Stop {
  canopy::ExitReason reason = canopy::ExitReason::normal();
};
struct LinkTo {
  canopy::Pid pid;
};
struct UnlinkFrom {
  canopy::Pid pid;
};
struct MonitorCmd {
  canopy::Pid pid;
};
struct DemonitorCmd {
  canopy::MonitorRef ref;
};
struct Forward {  // send `n` to `to` from inside the probe
  canopy::Pid to;
  int n;
};
struct SetTrap {
  bool on;
};

// What a probe saw. Shared with the test (by shared_ptr, so it outlives the process).
struct ProbeState {
  Recorder<int> ints;
  Recorder<canopy::Pid> int_senders;
  Recorder<canopy::ExitMessage> exits;
  Recorder<canopy::DownMessage> downs;
  Recorder<std::pair<canopy::Pid, canopy::MonitorRef>> monitors;  // (target, ref) from monitor()
  Recorder<canopy::Errc> send_results;                            // of Forward
  Recorder<canopy::ExitReason> terminate_reasons;
  std::atomic<int> handled{0};
  std::atomic<int> demonitored{0};
  std::atomic<int> terminated{0};
  // When set before spawn, terminate() opens `terminate_entered` and parks on `terminate_release`.
  std::shared_ptr<Gate> terminate_entered;
  std::shared_ptr<Gate> terminate_release;

  std::optional<canopy::MonitorRef> monitor_ref(canopy::Pid target) const {
    std::optional<canopy::MonitorRef> ref;
    for (auto& [pid, r] : monitors.snapshot()) {
      if (pid == target) ref = r;
    }
    return ref;
  }
  std::optional<canopy::DownMessage> down_for(canopy::Pid pid) const {
    for (auto& d : downs.snapshot()) {
      if (d.pid == pid) return d;
    }
    return std::nullopt;
  }
  std::optional<canopy::DownMessage> down_with_ref(canopy::MonitorRef ref) const {
    for (auto& d : downs.snapshot()) {
      if (d.ref == ref) return d;
    }
    return std::nullopt;
  }
};

class ProbeActor final : public canopy::Actor {
 public:
  explicit ProbeActor(std::shared_ptr<ProbeState> state) : s_(std::move(state)) {}

  void handle(canopy::Message& m) override {
    s_->handled.fetch_add(1);
    if (auto* b = m.as<Block>()) {
      b->entered->open();
      (void)b->release->wait();
    } else if (auto* i = m.as<int>()) {
      s_->int_senders.push(m.sender());
      s_->ints.push(*i);
    } else if (auto* c = m.as<Crash>()) {
      throw std::runtime_error(c->what);
    } else if (m.is<CrashUnknown>()) {
      throw 42;  // not a std::exception
    } else if (auto* st = m.as<Stop>()) {
      stop(st->reason);
    } else if (auto* l = m.as<LinkTo>()) {
      link(l->pid);
    } else if (auto* u = m.as<UnlinkFrom>()) {
      unlink(u->pid);
    } else if (auto* mc = m.as<MonitorCmd>()) {
      s_->monitors.push({mc->pid, monitor(mc->pid)});
    } else if (auto* d = m.as<DemonitorCmd>()) {
      demonitor(d->ref);
      s_->demonitored.fetch_add(1);
    } else if (auto* f = m.as<Forward>()) {
      s_->send_results.push(send(f->to, f->n).code());
    } else if (auto* t = m.as<SetTrap>()) {
      trap_exit(t->on);
    } else if (auto* e = m.as<canopy::ExitMessage>()) {
      s_->exits.push(*e);
    } else if (auto* down = m.as<canopy::DownMessage>()) {
      s_->downs.push(*down);
    }
  }

  void terminate(const canopy::ExitReason& reason) override {
    s_->terminate_reasons.push(reason);
    s_->terminated.fetch_add(1);
    if (s_->terminate_entered) s_->terminate_entered->open();
    if (s_->terminate_release) (void)s_->terminate_release->wait();
  }

 private:
  std::shared_ptr<ProbeState> s_;
};

struct Probe {
  canopy::Pid pid;
  std::shared_ptr<ProbeState> state;
};

inline Probe spawn_probe(canopy::Runtime& rt, canopy::SpawnOptions options = {},
                         std::shared_ptr<ProbeState> state = nullptr) {
  if (!state) state = std::make_shared<ProbeState>();
  auto r = rt.spawn(std::make_unique<ProbeActor>(state), std::move(options));
  if (!r.ok()) FAIL("spawn_probe: " << r.error().to_string());
  return Probe{r.value(), state};
}

inline canopy::Pid spawn_fn(canopy::Runtime& rt, canopy::FunctionActor::Fn fn, canopy::SpawnOptions options = {}) {
  auto r = rt.spawn(std::make_unique<canopy::FunctionActor>(std::move(fn)), std::move(options));
  if (!r.ok()) FAIL("spawn_fn: " << r.error().to_string());
  return r.value();
}

inline canopy::RuntimeOptions schedulers(unsigned n) {
  canopy::RuntimeOptions o;
  o.schedulers = n;
  return o;
}

// Monitors `target` from the probe `watcher` and waits until the monitor is
// in place (the target lists the watcher), so a later DOWN carries the real
// exit reason, not noproc.
inline canopy::MonitorRef watch(canopy::Runtime& rt, const Probe& watcher, canopy::Pid target) {
  const size_t before = watcher.state->monitors.size();
  REQUIRE_OK(rt.send(watcher.pid, MonitorCmd{target}));
  REQUIRE(watcher.state->monitors.wait_size(before + 1));
  const auto entry = watcher.state->monitors.snapshot()[before];  // the monitor made just now
  REQUIRE(entry.first == target);
  // Every monitor this watcher made on the target (this one included) is in place.
  std::ptrdiff_t made = 0;
  for (auto& [pid, ref] : watcher.state->monitors.snapshot()) made += pid == target ? 1 : 0;
  REQUIRE(eventually([&] {
    auto info = rt.process_info(target);
    if (!info) return true;  // dead: the DOWN is on its way
    return std::count(info->monitored_by.begin(), info->monitored_by.end(), watcher.pid) >= made;
  }));
  return entry.second;
}

// The DOWN the watcher received for `target`, waiting for it.
inline std::optional<canopy::DownMessage> wait_down(const Probe& watcher, canopy::Pid target,
                                                    std::chrono::milliseconds timeout = kPatience) {
  std::optional<canopy::DownMessage> d;
  (void)eventually(
      [&] {
        d = watcher.state->down_for(target);
        return d.has_value();
      },
      timeout);
  return d;
}

// Both processes list each other as linked.
inline bool linked(const canopy::Runtime& rt, canopy::Pid a, canopy::Pid b) {
  auto ia = rt.process_info(a);
  auto ib = rt.process_info(b);
  return ia && ib && contains(ia->links, b) && contains(ib->links, a);
}

inline bool dead(const canopy::Runtime& rt, canopy::Pid p) { return !rt.alive(p); }

// process_info of a process that must be alive.
inline canopy::ProcessInfo info_of(const canopy::Runtime& rt, canopy::Pid pid) {
  auto info = rt.process_info(pid);
  if (!info) FAIL("no live process " << pid.to_string());
  return *info;
}

// Spins the calling thread for `d` of wall time (a busy handler).
inline void spin_for(std::chrono::microseconds d) {
  const auto until = Clock::now() + d;
  while (Clock::now() < until) {
  }
}

}  // namespace canopy_test
