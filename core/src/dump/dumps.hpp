#pragma once
// One runtime's crash reports and dumps: the crash log, the dump writer
// (serialised: one dump at a time per runtime), the dump thread for
// requests that must not wait, and the fatal-signal target. Made with the
// runtime; started before its schedulers, stopped first in its shutdown.
// Thread-safe.
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "canopy/core/crash.hpp"
#include "canopy/core/options.hpp"
#include "canopy/core/result.hpp"
#include "canopy/telemetry/detail/mutex.hpp"
#include "dump/crash_log.hpp"

namespace canopy::detail {

class Runtime;
struct FatalTarget;

class Dumps {
 public:
  explicit Dumps(Runtime& rt);
  ~Dumps();
  Dumps(const Dumps&) = delete;
  Dumps& operator=(const Dumps&) = delete;

  CrashLog& crashes() { return crashes_; }
  // Installs the fatal-signal handler when DumpOptions::on_fatal_signal.
  void start();
  // Writes what was requested, joins the dump thread, uninstalls the handler.
  void stop() EXCLUDES(mu_);

  Result<std::string> write(const std::string& slogan) EXCLUDES(write_mu_, mu_);
  void request(std::string slogan) EXCLUDES(mu_);
  std::vector<std::string> written() const EXCLUDES(mu_);

 private:
  static constexpr size_t kMaxPending = 4;
  void thread_main() EXCLUDES(mu_);
  // A fresh file name in the dump directory: canopy_crash_<UTC time>_<os pid>.dump.
  std::string new_path() const;
  void prune() const;

  // Constant after construction.
  Runtime& rt_;
  const DumpOptions options_;
  const std::string dir_;  // options_.dir made absolute at construction
  CrashLog crashes_;

  Mutex write_mu_;  // one dump at a time

  mutable Mutex mu_;
  CondVar cv_;
  std::deque<std::string> pending_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  bool started_thread_ GUARDED_BY(mu_) = false;
  std::vector<std::string> written_ GUARDED_BY(mu_);
  std::thread thread_;

  std::unique_ptr<FatalTarget> fatal_;
};

// Supervisors (supervision/) report what they did about a crashed child.
void report_supervisor_action(canopy::Runtime& rt, Pid crashed, SupervisorAction action, Pid restarted_as = {});
// ... and why they gave up (`chain`, keyed by their pid) for the supervisor above.
void report_give_up(canopy::Runtime& rt, Pid sup, std::string chain);
std::string take_give_up(canopy::Runtime& rt, Pid sup);

// The dump's text, written to `out` process by process (dump_writer.cc).
// Returns bytes written, or an error from the stream.
struct DumpSink {
  virtual ~DumpSink() = default;
  virtual bool write(const char* data, size_t n) = 0;
};
Result<uint64_t> write_dump_to(Runtime& rt, const std::string& slogan, const std::string& version,
                               const std::vector<std::string>& log_tail, DumpSink& out);

}  // namespace canopy::detail
