// The fatal-signal dump (see fatal_signal.hpp). Only async-signal-safe calls
// in the handler: clock_gettime, open, write, close, sigaction, raise; no
// malloc, no locks, no stdio; numbers formatted by hand.
#include "dump/fatal_signal.hpp"

#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include "instrumentation/behaviour_stats.hpp"
#include "runtime/scheduler.hpp"

namespace canopy::detail {

namespace {

constexpr int kSignals[] = {SIGSEGV, SIGABRT, SIGBUS, SIGFPE};
std::atomic<FatalTarget*> g_target{nullptr};
std::atomic<bool> g_installed{false};
struct sigaction g_previous[4];
std::atomic<int> g_entered{0};
char g_main_alt_stack[64 * 1024];

// Appends to a fixed buffer; drops what does not fit.
class Out {
 public:
  Out(char* buf, size_t cap) : buf_(buf), cap_(cap) {}
  void put(const char* s) {
    while (*s != '\0') ch(*s++);
  }
  // A value: backslash, tab and newline escaped as the dump format says.
  void value(const char* s, size_t max) {
    for (size_t i = 0; i < max && s[i] != '\0'; ++i) {
      const char c = s[i];
      if (c == '\\') {
        put("\\\\");
      } else if (c == '\n') {
        put("\\n");
      } else if (c == '\t') {
        put("\\t");
      } else {
        ch(c);
      }
    }
  }
  void u64(uint64_t v, int min_digits = 1) {
    char tmp[24];
    int n = 0;
    do {
      tmp[n++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    while (n < min_digits) tmp[n++] = '0';
    while (n > 0) ch(tmp[--n]);
  }
  void hex(uint64_t v) {
    put("0x");
    char tmp[16];
    int n = 0;
    do {
      tmp[n++] = "0123456789abcdef"[v & 0xf];
      v >>= 4;
    } while (v != 0);
    while (n > 0) ch(tmp[--n]);
  }
  void pid(uint64_t raw) {
    put("<0.");
    u64(raw & 0xffffffffu);
    ch('.');
    u64(raw >> 32);
    ch('>');
  }
  void ch(char c) {
    if (len_ < cap_) buf_[len_++] = c;
  }
  size_t size() const { return len_; }

 private:
  char* buf_;
  size_t cap_;
  size_t len_ = 0;
};

const char* signal_name(int sig) {
  switch (sig) {
    case SIGSEGV:
      return "SIGSEGV";
    case SIGABRT:
      return "SIGABRT";
    case SIGBUS:
      return "SIGBUS";
    case SIGFPE:
      return "SIGFPE";
  }
  return "signal";
}

// UTC civil date of a day count since 1970-01-01 (H. Hinnant's algorithm).
void civil(int64_t days, int64_t& y, unsigned& m, unsigned& d) {
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
}

// 20261206T191000.123Z (compact) or 2026-12-06T19:10:00.123Z.
void put_time(Out& o, const timespec& ts, bool compact) {
  const int64_t secs = ts.tv_sec;
  int64_t y = 0;
  unsigned mo = 0, d = 0;
  civil(secs / 86400, y, mo, d);
  const int64_t sod = secs % 86400;
  o.u64(static_cast<uint64_t>(y), 4);
  if (!compact) o.ch('-');
  o.u64(mo, 2);
  if (!compact) o.ch('-');
  o.u64(d, 2);
  o.ch('T');
  o.u64(static_cast<uint64_t>(sod / 3600), 2);
  if (!compact) o.ch(':');
  o.u64(static_cast<uint64_t>(sod / 60 % 60), 2);
  if (!compact) o.ch(':');
  o.u64(static_cast<uint64_t>(sod % 60), 2);
  o.ch('.');
  o.u64(static_cast<uint64_t>(ts.tv_nsec / 1'000'000), 3);
  o.ch('Z');
}

uint64_t mono_now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

void write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w <= 0) return;
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void on_fatal(int sig, siginfo_t* info, void*) {
  FatalTarget* t = g_target.load(std::memory_order_acquire);
  if (t != nullptr && g_entered.exchange(1) == 0) {
    const int tid = static_cast<int>(::gettid());
    const size_t n = format_fatal_dump(*t, sig, info != nullptr ? info->si_addr : nullptr, tid);
    // The file name: <dir>canopy_crash_<compact time>_<pid>_fatal.dump.
    char path[1200];
    Out name(path, sizeof(path) - 1);
    name.put(t->dir);
    name.put("canopy_crash_");
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    put_time(name, now, true);
    name.ch('_');
    name.u64(static_cast<uint64_t>(t->os_pid));
    name.put("_fatal.dump");
    path[name.size()] = '\0';
    const int fd = ::open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
      write_all(fd, t->buffer, n);
      ::close(fd);
      static const char kNote[] = "canopy: fatal signal, dump written to ";
      write_all(STDERR_FILENO, kNote, sizeof(kNote) - 1);
      write_all(STDERR_FILENO, path, name.size());
      write_all(STDERR_FILENO, "\n", 1);
    }
  }
  // The default action: SA_RESETHAND restored it; raise it again (delivered
  // when this handler returns, or at once by re-running the faulting instruction).
  signal(sig, SIG_DFL);
  raise(sig);
}

}  // namespace

size_t format_fatal_dump(FatalTarget& t, int sig, const void* address, int tid) {
  Out o(t.buffer, FatalTarget::kBuffer);
  // The slogan names the signal and what ran on the thread that took it.
  long faulting = -1;
  for (size_t i = 0; i < t.slot_count; ++i) {
    if (t.slots[i] != nullptr && t.slots[i]->tid.load(std::memory_order_relaxed) == tid) faulting = static_cast<long>(i);
  }
  o.put("=canopy_dump:1\nslogan: fatal signal ");
  o.put(signal_name(sig));
  o.put(" at address ");
  o.hex(reinterpret_cast<uintptr_t>(address));
  if (faulting >= 0) {
    const RunningSlot& s = *t.slots[faulting];
    const uint64_t pid = s.pid.load(std::memory_order_relaxed);
    o.put(" on scheduler ");
    o.u64(static_cast<uint64_t>(faulting));
    if (pid != 0) {
      o.put(" running ");
      o.pid(pid);
      o.put(" (");
      o.value(t.behaviours != nullptr ? t.behaviours->fixed_name(s.behaviour.load(std::memory_order_relaxed)) : "",
              BehaviourIds::kFixedName);
      o.ch(')');
    }
  } else {
    o.put(" outside the schedulers");
  }
  o.put("\nkind: fatal_signal\ntime: ");
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  put_time(o, now, false);
  o.put("\ncanopy_version: ");
  o.value(t.version, sizeof(t.version));
  o.put("\nuptime_s: ");
  const uint64_t up_ms = (mono_now_ns() - t.start_mono_ns) / 1'000'000;
  o.u64(up_ms / 1000);
  o.ch('.');
  o.u64(up_ms % 1000, 3);
  o.put("\nos_pid: ");
  o.u64(static_cast<uint64_t>(t.os_pid));
  o.put("\nsignal: ");
  o.put(signal_name(sig));
  o.put("\nsignal_number: ");
  o.u64(static_cast<uint64_t>(sig));
  o.put("\nfault_address: ");
  o.hex(reinterpret_cast<uintptr_t>(address));
  o.put("\nthread: ");
  o.u64(static_cast<uint64_t>(tid));
  o.ch('\n');
  for (size_t i = 0; i < t.slot_count; ++i) {
    const RunningSlot& s = *t.slots[i];
    const uint64_t pid = s.pid.load(std::memory_order_relaxed);
    o.put("=scheduler:");
    o.u64(i);
    o.put("\nstate: ");
    o.put(pid != 0 ? "running" : "idle");
    o.put("\nrun_queue: ");
    o.u64(s.queue_len != nullptr ? s.queue_len->load(std::memory_order_relaxed) : 0);
    if (pid != 0) {
      o.put("\nrunning_pid: ");
      o.pid(pid);
      o.put("\nrunning_behaviour: ");
      o.value(t.behaviours != nullptr ? t.behaviours->fixed_name(s.behaviour.load(std::memory_order_relaxed)) : "",
              BehaviourIds::kFixedName);
    }
    if (static_cast<long>(i) == faulting) o.put("\nfaulted: true");
    o.ch('\n');
  }
  o.put("=end\n");
  return o.size();
}

bool install_fatal_handler(FatalTarget* t) {
  g_target.store(t, std::memory_order_release);
  if (g_installed.exchange(true)) return true;
  stack_t ss{};
  ss.ss_sp = g_main_alt_stack;
  ss.ss_size = sizeof(g_main_alt_stack);
  ::sigaltstack(&ss, nullptr);
  struct sigaction sa {};
  sa.sa_sigaction = &on_fatal;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  bool ok = true;
  for (size_t i = 0; i < 4; ++i) ok = sigaction(kSignals[i], &sa, &g_previous[i]) == 0 && ok;
  return ok;
}

void uninstall_fatal_handler(FatalTarget* t) {
  FatalTarget* expected = t;
  if (!g_target.compare_exchange_strong(expected, nullptr)) return;
  if (!g_installed.exchange(false)) return;
  for (size_t i = 0; i < 4; ++i) sigaction(kSignals[i], &g_previous[i], nullptr);
}

}  // namespace canopy::detail
