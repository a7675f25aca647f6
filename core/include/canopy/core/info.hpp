#pragma once
// Snapshots the runtime hands out: taken without stopping the world, each
// field read atomically, so a snapshot is consistent per field, not across
// fields. Plain values.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "canopy/core/message.hpp"
#include "canopy/core/pid.hpp"

namespace canopy {

enum class ProcessStatus : uint8_t { runnable, running, waiting, suspended, exiting };
const char* to_string(ProcessStatus status);

struct ProcessInfo {
  Pid pid;
  std::string registered_name;  // empty when none
  std::string behaviour;        // demangled type of the Actor
  ProcessStatus status = ProcessStatus::waiting;
  Pid parent;
  uint64_t mailbox_length = 0;
  uint64_t mailbox_bytes = 0;
  uint32_t mailbox_capacity = 0;          // 0 = unbounded
  double mailbox_oldest_age_seconds = 0;  // 0 when the mailbox is empty
  bool mailbox_overloaded = false;        // above the high watermark, not yet back to the low one
  uint64_t messages_dropped = 0;          // dropped from this process's mailbox (bounds, exit)
  uint64_t heap_bytes = 0;                // operator new bytes it holds (canopy::heap_accounting) + heap() + reported
  uint64_t reductions = 0;
  uint64_t messages_handled = 0;
  uint64_t cpu_ns = 0;  // time spent in this process's handlers
  // Over the last poll interval (telemetry.poll_interval; 0 before the
  // second poll): reductions per second, and CPU seconds per second.
  double reductions_per_second = 0;
  double cpu_utilization = 0;
  bool trap_exit = false;
  bool traced = false;  // Runtime::trace is on for it
  std::vector<Pid> links;
  std::vector<Pid> monitored_by;           // processes monitoring this one
  std::vector<Pid> monitors;               // processes this one monitors
  std::vector<std::string> registry_keys;  // "registry/key" for each Registry key held
  double age_seconds = 0;
  std::chrono::system_clock::time_point spawned_at;
  std::string current_message_type;  // the type being handled, or the last one handled
  // Spawned from a module behaviour (Runtime::spawn_module): its module and
  // the version it runs now; empty otherwise.
  std::string module;
  std::string module_version;
};

// One line Runtime::trace logged for a traced process (Runtime::trace_lines).
struct TraceLine {
  Pid pid;
  std::chrono::system_clock::time_point at;
  std::string text;  // "in Type from <0.1.1> (24 bytes)" / "out Type to <0.2.1> (24 bytes)"
};

// What Runtime::top_processes ranks by (the largest first).
enum class ProcessRank : uint8_t {
  mailbox,          // mailbox_length
  heap,             // heap_bytes
  reductions,       // lifetime reductions
  cpu,              // lifetime cpu_ns
  reductions_rate,  // reductions_per_second over the last poll interval
  cpu_rate,         // cpu_utilization over the last poll interval
  oldest_message,   // mailbox_oldest_age_seconds
};

// Runtime::top_processes' answer: how many processes the filter accepted,
// and the first `limit` of them in rank order, each fully snapshotted.
struct TopProcesses {
  uint64_t matched = 0;
  std::vector<ProcessInfo> processes;
};

struct SchedulerStats {
  unsigned id = 0;
  uint64_t wall_ns = 0;  // since the scheduler started
  uint64_t busy_ns = 0;  // running process handlers, including a slice in progress
  uint64_t idle_ns = 0;  // wall_ns - busy_ns
  uint64_t run_queue_length = 0;
  uint64_t slices = 0;
  uint64_t exhausted_slices = 0;  // slices that used up their reduction budget
  uint64_t steal_attempts = 0;
  uint64_t steals = 0;  // successful steals (processes taken)
  uint64_t parks = 0;   // times the thread went to sleep for lack of work
};

// Utilization over the interval between two snapshots of the same scheduler,
// as :scheduler.utilization: busy / wall, in [0, 1].
double utilization(const SchedulerStats& before, const SchedulerStats& after);

// Drop reasons, as in canopy_messages_dropped_total{reason}.
enum class DropReason : uint8_t { dead_process, drop_newest, drop_oldest, rejected, process_exited, count_ };
const char* to_string(DropReason reason);

enum class SystemEventKind : uint8_t {
  long_schedule,               // value: handler duration in ns
  long_message_queue,          // value: mailbox length at the high watermark
  long_message_queue_cleared,  // value: mailbox length at the low watermark
  large_heap,                  // value: heap bytes
  large_heap_cleared,          // value: heap bytes
};
const char* to_string(SystemEventKind kind);

struct SystemEvent {
  SystemEventKind kind;
  Pid pid;
  uint64_t value = 0;
  const std::type_info* message_type = nullptr;  // long_schedule: what was being handled
};

struct RuntimeStats {
  uint64_t processes = 0;  // live now
  uint64_t process_limit = 0;
  uint64_t spawned = 0;  // since start
  uint64_t exited = 0;
  uint64_t crashed = 0;        // exits with an error reason
  uint64_t messages_sent = 0;  // accepted into a mailbox
  uint64_t dropped[static_cast<size_t>(DropReason::count_)] = {};
  uint64_t mailbox_high_watermark_crossings = 0;  // long_message_queue events
  uint64_t supervisor_restarts = 0;
  uint64_t long_schedules = 0;
  uint64_t large_heap_crossings = 0;
  uint64_t mailbox_messages = 0;  // sum of all mailbox lengths
  double uptime_seconds = 0;
  uint64_t dropped_by(DropReason r) const { return dropped[static_cast<size_t>(r)]; }
};

}  // namespace canopy
