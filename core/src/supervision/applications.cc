// The runtime's view of supervision: the supervisor directory, applications
// and readiness. The orphan audit is in orphan_audit.cc.
#include <spdlog/spdlog.h>

#include "runtime/cycle_clock.hpp"
#include "runtime/runtime_impl.hpp"
#include "supervision/supervisor_state.hpp"

namespace canopy::detail {

void Runtime::register_supervisor(Pid pid, std::shared_ptr<SupervisorState> state) {
  MutexLock lock(&supervisors_mu_);
  supervisors_[pid] = std::move(state);
}

void Runtime::unregister_supervisor(Pid pid) {
  MutexLock lock(&supervisors_mu_);
  supervisors_.erase(pid);
}

std::shared_ptr<SupervisorState> Runtime::supervisor_state(Pid pid) const {
  MutexLock lock(&supervisors_mu_);
  auto it = supervisors_.find(pid);
  return it == supervisors_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<SupervisorState>> Runtime::supervisor_states() const {
  MutexLock lock(&supervisors_mu_);
  std::vector<std::shared_ptr<SupervisorState>> out;
  out.reserve(supervisors_.size());
  for (auto& [pid, s] : supervisors_) out.push_back(s);
  return out;
}

void Runtime::count_boot_failure(const std::string& supervisor, const std::string& child, const std::string& reason) {
  {
    MutexLock lock(&supervisors_mu_);
    ++boot_failures_[child];
  }
  if (const auto& ev = *telemetry_.events().supervisor_boot_failure; ev.active()) {
    telemetry_.bus().execute(ev, {{"count", 1}}, {{"supervisor", supervisor}, {"child", child}, {"reason", reason}});
  }
}

void Runtime::count_restart(const std::string& supervisor, const std::string& child, const std::string& reason) {
  restarts_.fetch_add(1, std::memory_order_relaxed);
  if (const auto& ev = *telemetry_.events().supervisor_restart; ev.active()) {
    telemetry_.bus().execute(ev, {{"count", 1}}, {{"supervisor", supervisor}, {"child", child}, {"reason", reason}});
  }
}

void Runtime::count_intensity_exceeded(const std::string& supervisor) {
  if (const auto& ev = *telemetry_.events().supervisor_intensity_exceeded; ev.active()) {
    telemetry_.bus().execute(ev, {{"count", 1}}, {{"supervisor", supervisor}});
  }
}

std::map<std::string, uint64_t> Runtime::boot_failures() const {
  MutexLock lock(&supervisors_mu_);
  return boot_failures_;
}

Result<Pid> Runtime::start_application(const std::string& name, SupervisorSpec root) {
  {
    MutexLock lock(&supervisors_mu_);
    for (auto& [n, pid] : applications_) {
      if (n == name && alive(pid)) {
        return Error(Errc::already_registered, "application '" + name + "' is already running as " + pid.to_string());
      }
    }
  }
  if (root.name.empty()) root.name = name;
  Result<Pid> r = start_supervisor(*facade_, std::move(root));
  if (!r.ok()) {
    const std::string text = "application '" + name + "' failed to start: " + r.error().cause();
    logger_->error("{}", text);
    return Error(r.code(), text, r.error().cause());
  }
  MutexLock lock(&supervisors_mu_);
  std::erase_if(applications_, [&](auto& a) { return a.first == name; });
  applications_.emplace_back(name, r.value());
  return r;
}

Status Runtime::stop_application(const std::string& name, std::chrono::milliseconds timeout) {
  Pid root;
  {
    MutexLock lock(&supervisors_mu_);
    for (auto& [n, pid] : applications_) {
      if (n == name) root = pid;
    }
    std::erase_if(applications_, [&](auto& a) { return a.first == name; });
  }
  if (!root.valid()) return Error(Errc::not_registered, "no application '" + name + "'");
  // The root stops its children newest first (each by its shutdown spec), then exits.
  if (ProcessRef ref = table_.acquire(root)) {
    signal(nullptr, root, make_signal(ExitSignal{Pid(), ExitReason::shutdown(), false}));
  }
  const uint64_t deadline = mono_ns() + static_cast<uint64_t>(timeout.count()) * 1'000'000;
  while (alive(root)) {
    if (mono_ns() > deadline) {
      return Error(Errc::timeout,
                   "application '" + name + "' did not stop within " + std::to_string(timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return {};
}

canopy::Runtime::Readiness Runtime::readiness() const {
  std::vector<std::pair<std::string, Pid>> apps;
  {
    MutexLock lock(&supervisors_mu_);
    apps = applications_;
  }
  if (apps.empty()) return {false, "no application has been started"};
  const uint64_t now = mono_ns();
  for (auto& [name, root] : apps) {
    std::vector<Pid> pending{root};
    while (!pending.empty()) {
      const Pid sup = pending.back();
      pending.pop_back();
      auto state = supervisor_state(sup);
      if (!state || !alive(sup)) {
        return {false, "application '" + name + "': supervisor " + sup.to_string() + " is not running"};
      }
      const SupervisorStats stats = state->snapshot(now);
      for (const ChildInfo& c : stats.children) {
        if (c.optional) continue;
        if (c.state != ChildState::running) {
          std::string why = "application '" + name + "': supervisor '" + stats.name + "' → child '" + c.id + "' is " +
                            to_string(c.state);
          if (!c.last_start_error.empty()) why += " (" + c.last_start_error + ")";
          return {false, why};
        }
        if (c.type == ChildType::supervisor) pending.push_back(c.pid);
      }
    }
  }
  return {true, ""};
}

}  // namespace canopy::detail
