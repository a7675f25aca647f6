#include "canopy/core/registry.hpp"

#include "runtime/runtime_impl.hpp"

namespace canopy {

Status Registry::register_key(Pid pid, const std::string& key, std::string value) {
  detail::RegistryState& s = *state_;
  return s.rt.attach_registry_key(pid, state_, key, [&]() -> Status {
    detail::MutexLock lock(&s.mu);
    auto [b, e] = s.entries.equal_range(key);
    for (auto it = b; it != e; ++it) {
      if (s.kind == RegistryKeys::unique || it->second.pid == pid) {
        return Error(Errc::already_registered,
                     "registry '" + s.name + "': key '" + key + "' is already held by " + it->second.pid.to_string());
      }
    }
    s.entries.emplace(key, Entry{pid, std::move(value)});
    return {};
  });
}

Status Registry::unregister_key(Pid pid, const std::string& key) {
  detail::RegistryState& s = *state_;
  {
    detail::MutexLock lock(&s.mu);
    auto [b, e] = s.entries.equal_range(key);
    auto it = b;
    while (it != e && it->second.pid != pid) ++it;
    if (it == e) {
      return Error(Errc::not_registered,
                   "registry '" + s.name + "': " + pid.to_string() + " holds no key '" + key + "'");
    }
    s.entries.erase(it);
  }
  s.rt.detach_registry_key(pid, state_.get(), key);
  return {};
}

std::vector<Registry::Entry> Registry::lookup(const std::string& key) const {
  detail::MutexLock lock(&state_->mu);
  std::vector<Entry> out;
  auto [b, e] = state_->entries.equal_range(key);
  for (auto it = b; it != e; ++it) out.push_back(it->second);
  return out;
}

std::vector<std::string> Registry::keys(Pid pid) const {
  detail::MutexLock lock(&state_->mu);
  std::vector<std::string> out;
  for (const auto& [k, e] : state_->entries) {
    if (e.pid == pid) out.push_back(k);
  }
  return out;
}

size_t Registry::count() const {
  detail::MutexLock lock(&state_->mu);
  return state_->entries.size();
}

const std::string& Registry::name() const { return state_->name; }
RegistryKeys Registry::kind() const { return state_->kind; }

}  // namespace canopy
