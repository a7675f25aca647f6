#pragma once
// The runtime's code server: the modules loaded, which version of each new
// spawns get, and the upgrade that moves every process of a module from one
// version to another — all of them or none. Owned by detail::Runtime (no
// state outside it). Thread-safe; one upgrade runs at a time.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "canopy/core/actor.hpp"
#include "canopy/core/code.hpp"
#include "canopy/core/options.hpp"
#include "canopy/core/result.hpp"
#include "canopy/telemetry/collect.hpp"
#include "canopy/telemetry/detail/mutex.hpp"
#include "code/module_library.hpp"

namespace canopy::detail {

class Runtime;

class CodeServer {
 public:
  explicit CodeServer(Runtime& rt) : rt_(rt) {}

  // Loads a module's first version, or a new version that becomes the one
  // new spawns get (running processes keep theirs until an upgrade).
  Result<ModuleVersionInfo> load(const std::string& path) EXCLUDES(mu_);
  // A fresh Actor running `behaviour` of the current version of `module`.
  Result<std::unique_ptr<Actor>> actor(const std::string& module, const std::string& behaviour,
                                       const std::string& arg) EXCLUDES(mu_);
  // Spawns `behaviour` of the current version of `module` with `arg` given
  // to its create(); the process is tagged with module and version.
  Result<Pid> spawn(const std::string& module, const std::string& behaviour, const std::string& arg,
                    SpawnOptions options, Process* parent) EXCLUDES(mu_);
  Result<UpgradeResult> upgrade(const std::string& module, const std::string& path, const UpgradeOptions& options)
      EXCLUDES(mu_, upgrade_mu_);
  std::vector<ModuleVersionInfo> modules() const EXCLUDES(mu_);
  // canopy_module_info{module, version}: 1 per loaded version.
  void append_families(std::vector<telemetry::Family>& out) const EXCLUDES(mu_);

 private:
  struct Module {
    std::shared_ptr<const ModuleLibrary> current;
    std::vector<std::shared_ptr<const ModuleLibrary>> loaded;  // current among them, oldest first
  };
  class Upgrade;  // one upgrade, step by step (code_server.cc)

  // Versions of every module that are not current and that no process
  // refers to any more: dropped (and so unloaded). Returns "module version".
  std::vector<std::string> purge() EXCLUDES(mu_);
  void report(const UpgradeResult& r);

  Runtime& rt_;
  mutable Mutex mu_;
  std::map<std::string, Module> modules_ GUARDED_BY(mu_);
  Mutex upgrade_mu_;  // held for a whole upgrade
};

}  // namespace canopy::detail
