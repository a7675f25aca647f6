// Room dump/: crash reports, crash dumps and the fatal-signal dump. It owns
// the crash report ring, the escalation chains, the dump format (writer and
// reader) and the dump thread. It may use runtime/, supervision/ and
// tables/ state read-only; runtime/ reaches it only through the hooks
// declared in runtime_impl.hpp (record_crash, the Dumps object it holds).
//
// This file: the crash report ring.
#include "dump/crash_log.hpp"

#include <algorithm>

namespace canopy {

const char* to_string(SupervisorAction action) {
  switch (action) {
    case SupervisorAction::pending:
      return "pending";
    case SupervisorAction::restarted:
      return "restarted";
    case SupervisorAction::gave_up:
      return "gave_up";
    case SupervisorAction::none:
      return "none";
  }
  return "unknown";
}

namespace detail {

void CrashLog::add(CrashReport r) {
  MutexLock lock(&mu_);
  r.seq = ++seq_;
  ring_.push_back(std::move(r));
  while (ring_.size() > capacity_) ring_.pop_front();
}

bool CrashLog::set_action(Pid pid, SupervisorAction action, Pid restarted_as) {
  MutexLock lock(&mu_);
  for (auto it = ring_.rbegin(); it != ring_.rend(); ++it) {
    if (it->pid == pid && it->action == SupervisorAction::pending) {
      it->action = action;
      it->restarted_as = restarted_as;
      return true;
    }
  }
  return false;
}

std::vector<CrashReport> CrashLog::list(const CrashQuery& query) const {
  MutexLock lock(&mu_);
  std::vector<CrashReport> out;
  for (auto it = ring_.rbegin(); it != ring_.rend() && out.size() < query.limit; ++it) {
    if (!query.behaviour.empty() && it->behaviour != query.behaviour) continue;
    out.push_back(*it);
  }
  return out;
}

uint64_t CrashLog::total() const {
  MutexLock lock(&mu_);
  return seq_;
}

void CrashLog::set_give_up(Pid sup, std::string chain) {
  MutexLock lock(&mu_);
  std::erase_if(chains_, [&](const auto& c) { return c.first == sup; });
  chains_.emplace_back(sup, std::move(chain));
  while (chains_.size() > kChains) chains_.pop_front();
}

std::string CrashLog::take_give_up(Pid sup) {
  MutexLock lock(&mu_);
  for (auto it = chains_.begin(); it != chains_.end(); ++it) {
    if (it->first == sup) {
      std::string chain = std::move(it->second);
      chains_.erase(it);
      return chain;
    }
  }
  return "";
}

}  // namespace detail
}  // namespace canopy
