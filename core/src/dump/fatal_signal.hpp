#pragma once
// The best-effort dump from a fatal signal (SIGSEGV, SIGABRT, SIGBUS,
// SIGFPE). Everything the handler reads is set up in advance, in fixed
// memory: the file name prefix, the version, each scheduler's running slot
// and the behaviour names; the text is formatted by hand into a buffer
// reserved here, written with open/write/close, and the signal re-raised
// with its default action. Signals are per OS process: the newest runtime
// that installs its target is the one dumped. Install/uninstall: thread-safe;
// the handler: async-signal-safe.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace canopy::detail {

struct RunningSlot;
class BehaviourIds;

struct FatalTarget {
  static constexpr size_t kMaxSchedulers = 256;
  static constexpr size_t kBuffer = 64 * 1024;
  char dir[1024] = {};  // with a trailing '/'
  char version[64] = {};
  int os_pid = 0;
  uint64_t start_mono_ns = 0;
  const RunningSlot* slots[kMaxSchedulers] = {};
  size_t slot_count = 0;
  const BehaviourIds* behaviours = nullptr;
  char buffer[kBuffer] = {};
};

// Makes `t` the target and installs the handlers (on an alternate stack
// for this thread). False when sigaction failed.
bool install_fatal_handler(FatalTarget* t);
// Restores the previous handlers if `t` is still the target.
void uninstall_fatal_handler(FatalTarget* t);

// Formats the fatal dump for `sig` at `address` into t.buffer; returns its
// length. Async-signal-safe (what the handler calls; tests call it too).
size_t format_fatal_dump(FatalTarget& t, int sig, const void* address, int tid);

}  // namespace canopy::detail
