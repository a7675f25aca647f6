#pragma once
// Crash reports, SASL's counterpart: the runtime keeps the last
// RuntimeOptions::crash_reports.max crashes (an exception escaping a
// handler or terminate(), caught on the runtime's one crash path), each with
// what the supervisor then did. Counted in canopy_crashes_total{behaviour}.
// Plain values; the function is thread-safe.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "canopy/core/pid.hpp"

namespace canopy {

class Runtime;

// What the crashed process's supervisor did about it.
enum class SupervisorAction : uint8_t {
  pending,    // supervised, and the supervisor has not acted yet
  restarted,  // restarted as CrashReport::restarted_as
  gave_up,    // its restart intensity was reached: it stopped its children and exited
  none,       // not supervised, or its restart type says not to restart
};
const char* to_string(SupervisorAction action);

struct CrashReport {
  uint64_t seq = 0;  // 1, 2, ... in the order the runtime saw them
  std::chrono::system_clock::time_point time;
  Pid pid;
  std::string registered_name;  // empty when none
  std::string behaviour;        // demangled type of the Actor
  // The supervisors above it, its own first, up to the application's root.
  std::vector<std::string> supervisors;
  std::string application;        // empty when not under an application
  std::string hook;               // "handler" or "terminate"
  std::string last_message_type;  // what it was handling ("" when nothing yet)
  std::string reason;             // the exit reason's text
  SupervisorAction action = SupervisorAction::none;
  Pid restarted_as;  // when action is restarted
};

struct CrashQuery {
  size_t limit = 100;     // at most this many
  std::string behaviour;  // only this behaviour (exact demangled name); empty = all
};

// The kept reports, newest first.
std::vector<CrashReport> crash_reports(Runtime& rt, const CrashQuery& query = {});
// Crashes since the runtime started (kept or not).
uint64_t crashes_total(Runtime& rt);

}  // namespace canopy
