#pragma once
// Options structs for the runtime and for each spawn. Plain values; the
// config layer fills them from YAML.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

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
};

struct SpawnOptions {
  std::optional<MailboxOptions> mailbox;  // default: RuntimeOptions::default_mailbox
  bool link = false;                      // link to the calling process (spawn_link)
  bool trap_exit = false;                 // start with trap_exit on
  std::string name;                       // register under this name, if not empty
};

}  // namespace canopy
