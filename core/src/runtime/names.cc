// Text forms of the core's value types.
#include <cxxabi.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "canopy/core/exit_reason.hpp"
#include "canopy/core/info.hpp"
#include "canopy/core/message.hpp"
#include "canopy/core/options.hpp"
#include "canopy/core/pid.hpp"
#include "canopy/core/result.hpp"

namespace canopy {

std::string Pid::to_string() const {
  return "<0." + std::to_string(index()) + "." + std::to_string(generation()) + ">";
}

Pid Pid::parse(const std::string& text) {
  unsigned long long a = 0, b = 0;
  int used = 0;
  // "<0.INDEX.GEN>" or "0.INDEX.GEN", nothing after it.
  if ((std::sscanf(text.c_str(), "<0.%llu.%llu>%n", &a, &b, &used) == 2 ||
       std::sscanf(text.c_str(), "0.%llu.%llu%n", &a, &b, &used) == 2) &&
      used > 0 && static_cast<size_t>(used) == text.size() && a <= UINT32_MAX && b <= UINT32_MAX && b != 0) {
    return from_parts(static_cast<uint32_t>(a), static_cast<uint32_t>(b));
  }
  if (!text.empty() && text.size() <= 20 && text.find_first_not_of("0123456789") == std::string::npos) {
    errno = 0;
    const unsigned long long raw = std::strtoull(text.c_str(), nullptr, 10);
    if (errno != ERANGE) return from_raw(raw);
  }
  return {};
}

const char* to_string(ExitKind kind) {
  switch (kind) {
    case ExitKind::normal:
      return "normal";
    case ExitKind::shutdown:
      return "shutdown";
    case ExitKind::kill:
      return "kill";
    case ExitKind::killed:
      return "killed";
    case ExitKind::noproc:
      return "noproc";
    case ExitKind::error:
      return "error";
  }
  return "unknown";
}

const char* ExitReason::kind_name() const { return canopy::to_string(kind_); }

std::string ExitReason::to_string() const {
  std::string s = kind_name();
  if (!text_.empty()) s += ": " + text_;
  return s;
}

const char* to_string(Errc code) {
  switch (code) {
    case Errc::ok:
      return "ok";
    case Errc::dead_process:
      return "dead_process";
    case Errc::mailbox_full:
      return "mailbox_full";
    case Errc::dropped:
      return "dropped";
    case Errc::timeout:
      return "timeout";
    case Errc::callee_exited:
      return "callee_exited";
    case Errc::bad_request:
      return "bad_request";
    case Errc::init_failed:
      return "init_failed";
    case Errc::process_limit:
      return "process_limit";
    case Errc::not_in_process:
      return "not_in_process";
    case Errc::already_registered:
      return "already_registered";
    case Errc::not_registered:
      return "not_registered";
    case Errc::invalid_argument:
      return "invalid_argument";
    case Errc::shutting_down:
      return "shutting_down";
    case Errc::io_error:
      return "io_error";
  }
  return "unknown";
}

std::string Error::to_string() const { return std::string(canopy::to_string(code_)) + ": " + message_; }

std::string type_name(const std::type_info& type) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name(abi::__cxa_demangle(type.name(), nullptr, nullptr, &status), std::free);
  return status == 0 && name ? std::string(name.get()) : std::string(type.name());
}

const char* to_string(OverflowPolicy policy) {
  switch (policy) {
    case OverflowPolicy::drop_newest:
      return "drop_newest";
    case OverflowPolicy::drop_oldest:
      return "drop_oldest";
    case OverflowPolicy::reject:
      return "reject";
    case OverflowPolicy::block:
      return "block";
  }
  return "unknown";
}

std::optional<OverflowPolicy> parse_overflow_policy(const std::string& text) {
  for (auto p :
       {OverflowPolicy::drop_newest, OverflowPolicy::drop_oldest, OverflowPolicy::reject, OverflowPolicy::block}) {
    if (text == to_string(p)) return p;
  }
  return std::nullopt;
}

const char* to_string(ProcessStatus status) {
  switch (status) {
    case ProcessStatus::runnable:
      return "runnable";
    case ProcessStatus::running:
      return "running";
    case ProcessStatus::waiting:
      return "waiting";
    case ProcessStatus::suspended:
      return "suspended";
    case ProcessStatus::exiting:
      return "exiting";
  }
  return "unknown";
}

const char* to_string(DropReason reason) {
  switch (reason) {
    case DropReason::dead_process:
      return "dead_process";
    case DropReason::drop_newest:
      return "drop_newest";
    case DropReason::drop_oldest:
      return "drop_oldest";
    case DropReason::rejected:
      return "rejected";
    case DropReason::process_exited:
      return "process_exited";
    case DropReason::count_:
      break;
  }
  return "unknown";
}

const char* to_string(SystemEventKind kind) {
  switch (kind) {
    case SystemEventKind::long_schedule:
      return "long_schedule";
    case SystemEventKind::long_message_queue:
      return "long_message_queue";
    case SystemEventKind::long_message_queue_cleared:
      return "long_message_queue_cleared";
    case SystemEventKind::large_heap:
      return "large_heap";
    case SystemEventKind::large_heap_cleared:
      return "large_heap_cleared";
  }
  return "unknown";
}

double utilization(const SchedulerStats& before, const SchedulerStats& after) {
  if (after.wall_ns <= before.wall_ns) return 0.0;
  const double busy = after.busy_ns >= before.busy_ns ? static_cast<double>(after.busy_ns - before.busy_ns) : 0.0;
  const double r = busy / static_cast<double>(after.wall_ns - before.wall_ns);
  return r > 1.0 ? 1.0 : r;
}

}  // namespace canopy
