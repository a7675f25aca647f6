#pragma once
// Options structs for the runtime and for each spawn. Plain values; the
// config layer fills them from YAML.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace spdlog {
class logger;
}

namespace canopy {

// What a bounded mailbox does with a message that does not fit.
enum class OverflowPolicy : uint8_t {
  drop_newest,  // the new message is dropped; send() returns Errc::dropped
  drop_oldest,  // the oldest waiting message is dropped to make room
  reject,       // send() fails with Errc::mailbox_full
  block,        // threads outside the runtime wait for room; inside, as `reject`
};
const char* to_string(OverflowPolicy policy);
std::optional<OverflowPolicy> parse_overflow_policy(const std::string& text);

struct MailboxOptions {
  // 0 = unbounded.
  uint32_t capacity = 0;
  OverflowPolicy overflow = OverflowPolicy::drop_newest;
  // Crossing `high_watermark` upwards marks the mailbox as overloaded (and is
  // logged and counted); falling to `low_watermark` clears it. 0 disables.
  uint32_t high_watermark = 10'000;
  uint32_t low_watermark = 5'000;
};

// What erlang:system_monitor watches. Each crossing is counted, logged once
// with the process named, and passed to RuntimeOptions::on_system_event.
struct SystemMonitorOptions {
  // One handler invocation running longer than this; 0 disables.
  std::chrono::milliseconds long_schedule{100};
  // A process heap above this many bytes (cleared below 3/4 of it); 0 disables.
  uint64_t large_heap_bytes = 32u << 20;
};

struct SystemEvent;

// The runtime's own telemetry: events on its bus, the built-in metric set
// and the poller that measures the runtime.
struct TelemetryOptions {
  // Built-in metrics and the poller; events are emitted either way (and
  // cost one atomic load each while nothing listens).
  bool enabled = true;
  std::chrono::milliseconds poll_interval{1'000};
  // Per-process series: registered processes plus the top N by mailbox
  // length, heap bytes and reductions.
  uint32_t top_n = 10;
  // Processes younger than this are not counted as orphans.
  std::chrono::milliseconds orphan_min_age{60'000};
  size_t max_series_per_metric = 1'000;
  // Per behaviour: messages (every one) and mailbox wait / processing time
  // (1 message in 64 per scheduler): canopy_behaviour_*.
  bool behaviour_metrics = true;
};

// Crash reports (SASL's): the last `max` crashes the runtime keeps.
struct CrashReportOptions {
  uint32_t max = 100;  // at least 1
};

// Crash dumps (erl_crash.dump's counterpart; canopy/core/dump.hpp).
struct DumpOptions {
  // Where dumps are written; empty = the working directory.
  std::string dir;
  // Dumps kept in `dir`; the oldest canopy dumps beyond this are removed. 0 = keep all.
  uint32_t max_files = 10;
  // Best-effort dump from SIGSEGV/SIGABRT/SIGBUS/SIGFPE (a process-wide
  // signal handler, so a library runtime leaves it off unless asked; the
  // canopy binary turns it on by default through dump.on_fatal_signal).
  bool on_fatal_signal = false;
  // Written into every dump (the application's version).
  std::string version = "unknown";
  // The last log lines, for the dump's =log section (the binary passes its
  // ring sink's contents); empty = no log section. Called on the dump's thread.
  std::function<std::vector<std::string>()> log_tail;
};

struct RuntimeOptions {
  // Scheduler threads; 0 = one per hardware thread.
  unsigned schedulers = 0;
  // Like +P: spawns beyond this many live processes fail with process_limit.
  uint32_t max_processes = 1u << 20;
  // Mailbox options for spawns that do not give their own.
  MailboxOptions default_mailbox;
  // Reductions a process may use in one time slice before it goes to the back
  // of the run queue (one reduction per message plus what a handler adds).
  uint32_t reductions_per_slice = 2'000;
  // How long shutdown() waits for processes to finish terminate() before it
  // logs the ones still running (it keeps waiting: a handler cannot be preempted).
  std::chrono::milliseconds shutdown_report_after{5'000};
  // Logger for crash reports and runtime warnings; default "canopy.core".
  std::shared_ptr<spdlog::logger> logger;
  SystemMonitorOptions system_monitor;
  TelemetryOptions telemetry;
  CrashReportOptions crash_reports;
  DumpOptions dump;
  // Called on the thread that saw the event (often a scheduler): keep it
  // short and never block. The telemetry layer attaches here.
  std::function<void(const SystemEvent&)> on_system_event;
};

struct SpawnOptions {
  std::optional<MailboxOptions> mailbox;  // default: RuntimeOptions::default_mailbox
  bool link = false;                      // link to the calling process (spawn_link)
  bool trap_exit = false;                 // start with trap_exit on
  std::string name;                       // register under this name, if not empty
};

}  // namespace canopy
