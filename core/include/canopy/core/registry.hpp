#pragma once
// A key-value process registry in the manner of Elixir's Registry: keys map to
// processes with a metadata string; `unique` registries allow one process per
// key, `duplicate` ones many. Entries vanish when their process exits.
// Thread-safe.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "canopy/core/pid.hpp"
#include "canopy/core/result.hpp"

namespace canopy {

enum class RegistryKeys : uint8_t { unique, duplicate };

class Runtime;
namespace detail {
class RegistryState;
}

class Registry {
 public:
  struct Entry {
    Pid pid;
    std::string value;
  };

  // Registers `pid` (a live process) under `key`. Fails with dead_process,
  // or already_registered for a taken key in a unique registry or a pid
  // that already holds this key.
  Status register_key(Pid pid, const std::string& key, std::string value = {});
  Status unregister_key(Pid pid, const std::string& key);
  std::vector<Entry> lookup(const std::string& key) const;
  std::vector<std::string> keys(Pid pid) const;
  size_t count() const;
  const std::string& name() const;
  RegistryKeys kind() const;

 private:
  friend class canopy::Runtime;
  explicit Registry(std::shared_ptr<detail::RegistryState> state) : state_(std::move(state)) {}
  std::shared_ptr<detail::RegistryState> state_;
};

}  // namespace canopy
