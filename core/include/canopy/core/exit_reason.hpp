#pragma once
// Why a process exited. The kinds follow OTP: `normal` and `shutdown` are
// orderly, `kill` cannot be trapped (the victim exits with `killed`), and
// `error` carries the text of what went wrong (an escaped exception's what()).
// Thread-safe (a plain value).
#include <string>

namespace canopy {

enum class ExitKind : uint8_t {
  normal,    // finished its work
  shutdown,  // asked to stop by its supervisor or the runtime
  kill,      // untrappable kill signal (as sent)
  killed,    // what a process killed by `kill` exits with, and what links see
  noproc,    // the target of a link or monitor did not exist
  error,     // crashed: an exception escaped a handler, init failed, ...
};

class ExitReason {
 public:
  ExitReason() = default;
  static ExitReason normal() { return ExitReason(ExitKind::normal, {}); }
  static ExitReason shutdown(std::string detail = {}) { return ExitReason(ExitKind::shutdown, std::move(detail)); }
  static ExitReason kill() { return ExitReason(ExitKind::kill, {}); }
  static ExitReason killed() { return ExitReason(ExitKind::killed, {}); }
  static ExitReason noproc() { return ExitReason(ExitKind::noproc, {}); }
  static ExitReason error(std::string text) { return ExitReason(ExitKind::error, std::move(text)); }

  ExitKind kind() const { return kind_; }
  const std::string& text() const { return text_; }
  bool is_normal() const { return kind_ == ExitKind::normal; }
  // normal and shutdown are "orderly": a transient child is not restarted.
  bool is_orderly() const { return kind_ == ExitKind::normal || kind_ == ExitKind::shutdown; }

  // "normal", "shutdown", "killed", "error: <text>", ...
  std::string to_string() const;
  // The kind alone, stable for labels and events: "normal", "error", ...
  const char* kind_name() const;

  bool operator==(const ExitReason&) const = default;

 private:
  ExitReason(ExitKind k, std::string t) : kind_(k), text_(std::move(t)) {}
  ExitKind kind_ = ExitKind::normal;
  std::string text_;
};

const char* to_string(ExitKind kind);

}  // namespace canopy
