// The runtime's crash reports and dumps: record_crash (called from the one
// crash path in runtime/), the supervisors' reports, the dump files and the
// dump thread, and the public functions of crash.hpp and dump.hpp.
#include "dump/dumps.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "canopy/core/dump.hpp"
#include "canopy/core/runtime.hpp"
#include "dump/fatal_signal.hpp"
#include "runtime/cycle_clock.hpp"
#include "runtime/process.hpp"
#include "runtime/runtime_impl.hpp"
#include "supervision/supervisor_state.hpp"

namespace canopy::detail {

namespace {

constexpr const char* kPrefix = "canopy_crash_";
constexpr const char* kSuffix = ".dump";

std::string registered_name_of(const Process& p) {
  SpinLockGuard lock(&p.meta_lock);
  return p.meta ? p.meta->name : std::string();
}

// A file descriptor sink; the file is written under a temporary name and
// renamed when complete, so a reader never sees half a dump.
class FileSink final : public DumpSink {
 public:
  explicit FileSink(int fd) : fd_(fd) {}
  bool write(const char* data, size_t n) override {
    while (n > 0) {
      const ssize_t w = ::write(fd_, data, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      data += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  }

 private:
  int fd_;
};

// The dump folder, absolute (the route answers with the path; a fatal
// signal's handler must not depend on the working directory either).
std::string dir_of(const DumpOptions& o) {
  const std::string dir = o.dir.empty() ? std::string(".") : o.dir;
  std::error_code ec;
  const std::string absolute = std::filesystem::absolute(dir, ec).lexically_normal().string();
  std::string out = ec ? dir : absolute;
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

}  // namespace

void DumpsDeleter::operator()(Dumps* d) const { delete d; }
std::unique_ptr<Dumps, DumpsDeleter> make_dumps(Runtime& rt) {
  return std::unique_ptr<Dumps, DumpsDeleter>(new Dumps(rt));
}
void start_dumps(Dumps& d) { d.start(); }
void stop_dumps(Dumps& d) { d.stop(); }

Dumps::Dumps(Runtime& rt)
    : rt_(rt), options_(rt.options().dump), dir_(dir_of(options_)), crashes_(rt.options().crash_reports.max) {}

Dumps::~Dumps() { stop(); }

void Dumps::start() {
  if (!options_.on_fatal_signal) return;
  fatal_ = std::make_unique<FatalTarget>();
  std::string dir = dir_;
  if (dir.back() != '/') dir += '/';
  std::snprintf(fatal_->dir, sizeof(fatal_->dir), "%s", dir.c_str());
  std::snprintf(fatal_->version, sizeof(fatal_->version), "%s", options_.version.c_str());
  fatal_->os_pid = static_cast<int>(::getpid());
  fatal_->start_mono_ns = rt_.start_ns();
  const auto slots = rt_.running_slots();
  fatal_->slot_count = std::min(slots.size(), FatalTarget::kMaxSchedulers);
  for (size_t i = 0; i < fatal_->slot_count; ++i) fatal_->slots[i] = slots[i];
  fatal_->behaviours = &rt_.behaviour_ids();
  if (!install_fatal_handler(fatal_.get())) rt_.log().error("dump.on_fatal_signal: sigaction failed: {}", std::strerror(errno));
}

void Dumps::stop() {
  {
    MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (fatal_) uninstall_fatal_handler(fatal_.get());
}

std::string Dumps::new_path() const {
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const time_t secs = static_cast<time_t>(ms / 1000);
  tm parts{};
  gmtime_r(&secs, &parts);
  char stamp[64];
  std::snprintf(stamp, sizeof(stamp), "%04d%02d%02dT%02d%02d%02d.%03dZ", parts.tm_year + 1900, parts.tm_mon + 1,
                parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec, static_cast<int>(ms % 1000));
  const std::string base = dir_ + "/" + kPrefix + stamp + "_" + std::to_string(::getpid());
  std::string path = base + kSuffix;
  for (int n = 2; std::filesystem::exists(path); ++n) path = base + "_" + std::to_string(n) + kSuffix;
  return path;
}

void Dumps::prune() const {
  if (options_.max_files == 0) return;
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(kPrefix, 0) == 0 && name.size() > std::strlen(kSuffix) &&
        name.compare(name.size() - std::strlen(kSuffix), std::string::npos, kSuffix) == 0) {
      names.push_back(e.path().string());
    }
  }
  if (names.size() <= options_.max_files) return;
  // The time in the name sorts them oldest first.
  std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
    return fs::path(a).filename().string() < fs::path(b).filename().string();
  });
  for (size_t i = 0; i + options_.max_files < names.size(); ++i) fs::remove(names[i], ec);
}

Result<std::string> Dumps::write(const std::string& slogan) {
  MutexLock one_at_a_time(&write_mu_);
  const std::string path = new_path();
  const std::string partial = path + ".partial";
  const int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Error(Errc::io_error, "cannot create the dump " + partial + " (dump.dir): " + std::strerror(errno));
  }
  FileSink sink(fd);
  const std::vector<std::string> log = options_.log_tail ? options_.log_tail() : std::vector<std::string>{};
  Result<uint64_t> r = write_dump_to(rt_, slogan, options_.version, log, sink);
  const bool closed = ::close(fd) == 0;
  if (!r.ok() || !closed) {
    const std::string why = std::strerror(errno);
    ::unlink(partial.c_str());
    return Error(Errc::io_error, "cannot write the dump " + path + ": " + why);
  }
  if (::rename(partial.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(partial.c_str());
    return Error(Errc::io_error, "cannot rename the dump to " + path + ": " + why);
  }
  prune();
  {
    MutexLock lock(&mu_);
    written_.push_back(path);
  }
  rt_.log().warn("crash dump written to {} ({} bytes): {}", path, r.value(), slogan);
  return path;
}

void Dumps::request(std::string slogan) {
  {
    MutexLock lock(&mu_);
    if (stopping_) {
      rt_.log().error("dump not written (the runtime is stopping): {}", slogan);
      return;
    }
    if (pending_.size() >= kMaxPending) {
      rt_.log().error("dump dropped ({} already waiting): {}", pending_.size(), slogan);
      return;
    }
    pending_.push_back(std::move(slogan));
    if (!started_thread_) {
      started_thread_ = true;
      thread_ = std::thread([this] { thread_main(); });
    }
  }
  cv_.notify_one();
}

void Dumps::thread_main() {
  for (;;) {
    std::string slogan;
    {
      MutexLock lock(&mu_);
      while (pending_.empty() && !stopping_) cv_.wait(mu_);
      if (pending_.empty()) return;  // stopping, and nothing left to write
      slogan = std::move(pending_.front());
      pending_.pop_front();
    }
    Result<std::string> r = write(slogan);
    if (!r.ok()) rt_.log().error("{}", r.error().message());
  }
}

std::vector<std::string> Dumps::written() const {
  MutexLock lock(&mu_);
  return written_;
}

// --- the crash path's report ------------------------------------------------------

void record_crash(Runtime& rt, Process& p, bool in_terminate, const ExitReason& reason) {
  CrashReport r;
  r.time = std::chrono::system_clock::now();
  r.pid = p.pid;
  r.registered_name = registered_name_of(p);
  r.behaviour = type_name(p.behaviour_type);
  r.hook = in_terminate ? "terminate" : "handler";
  if (const std::type_info* t = p.current_type.load(std::memory_order_relaxed)) r.last_message_type = type_name(*t);
  r.reason = reason.to_string();
  // The supervisors above it, up to the first process that is not one.
  Pid up = p.parent;
  Pid root;
  for (int depth = 0; up.valid() && depth < 64; ++depth) {
    auto state = rt.supervisor_state(up);
    if (!state) break;
    r.supervisors.push_back(state->name());
    root = up;
    up = rt.parent_of(up);
  }
  if (root.valid()) {
    for (const auto& [name, pid] : rt.applications()) {
      if (pid == root) r.application = name;
    }
  }
  // A crash in terminate() comes after the exit its supervisor acts on.
  r.action = !r.supervisors.empty() && !in_terminate ? SupervisorAction::pending : SupervisorAction::none;
  if (const auto& ev = *rt.telemetry().events().crash; ev.active()) {
    rt.telemetry().bus().execute(ev, {{"count", 1}}, {{"behaviour", r.behaviour}, {"pid", p.pid.to_string()}});
  }
  rt.dumps().crashes().add(std::move(r));
}

void report_supervisor_action(canopy::Runtime& rt, Pid crashed, SupervisorAction action, Pid restarted_as) {
  impl_of(rt).dumps().crashes().set_action(crashed, action, restarted_as);
}

void report_give_up(canopy::Runtime& rt, Pid sup, std::string chain) {
  impl_of(rt).dumps().crashes().set_give_up(sup, std::move(chain));
}

std::string take_give_up(canopy::Runtime& rt, Pid sup) { return impl_of(rt).dumps().crashes().take_give_up(sup); }

}  // namespace canopy::detail

namespace canopy {

std::vector<CrashReport> crash_reports(Runtime& rt, const CrashQuery& query) {
  return detail::impl_of(rt).dumps().crashes().list(query);
}

uint64_t crashes_total(Runtime& rt) { return detail::impl_of(rt).dumps().crashes().total(); }

Result<std::string> write_dump(Runtime& rt, const std::string& slogan) {
  return detail::impl_of(rt).dumps().write(slogan);
}

void request_dump(Runtime& rt, std::string slogan) { detail::impl_of(rt).dumps().request(std::move(slogan)); }

std::vector<std::string> dumps_written(Runtime& rt) { return detail::impl_of(rt).dumps().written(); }

}  // namespace canopy
