#pragma once
// Code loading and hot upgrade, as the runtime reports them: the modules and
// versions loaded, the messages a module's process understands, the options
// and result of an upgrade. Plain values. The ABI a module library
// implements is canopy/core/module.hpp.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "canopy/core/pid.hpp"

namespace canopy {

// A call to a process spawned from a module behaviour (Runtime::spawn_module);
// the reply is a std::string. The body is the behaviour's own protocol.
struct ModuleCall {
  std::string body;
};
// A cast to such a process.
struct ModuleCast {
  std::string body;
};

struct ModuleVersionInfo {
  std::string module;
  std::string version;
  std::string path;
  std::vector<std::string> behaviours;
  // "behaviour from_version" for each code_change it accepts.
  std::vector<std::string> code_changes;
  bool current = false;    // new spawns of the module get this version
  uint64_t processes = 0;  // live processes running it
};

struct UpgradeOptions {
  // Run every code_change on copies of the states and report, switching nothing.
  bool dry_run = false;
  // How long the upgrade waits for every process to reach a message boundary.
  std::chrono::milliseconds suspend_timeout{std::chrono::seconds(5)};
  // How long all code_change calls together may take.
  std::chrono::milliseconds code_change_timeout{std::chrono::seconds(5)};
};

enum class UpgradeOutcome : uint8_t { committed, rolled_back, dry_run_ok, dry_run_failed };
const char* to_string(UpgradeOutcome outcome);

struct UpgradeResult {
  UpgradeOutcome outcome = UpgradeOutcome::rolled_back;
  std::string module;
  std::string from_version;
  std::string to_version;
  uint64_t processes = 0;  // migrated in place (or rehearsed, in a dry run)
  uint64_t restarted = 0;  // behaviours that cannot change in place: exited for their supervisors to restart
  Pid failed_pid;          // the process whose migration failed (invalid when none did, or no single one)
  std::string reason;      // why it rolled back / the dry run failed
  double upgrade_ms = 0;   // load to resume, end to end
  double max_suspended_ms = 0;
  double total_suspended_ms = 0;  // summed over processes
  std::vector<std::string> purged;  // "module version" of versions unloaded because nothing used them
  bool ok() const { return outcome == UpgradeOutcome::committed || outcome == UpgradeOutcome::dry_run_ok; }
};

}  // namespace canopy
