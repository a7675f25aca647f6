#pragma once
// The demo workload `canopy run` starts: a small order-processing service
// on the runtime (producers -> intake -> workers under supervisors, a task
// supervisor for heavy jobs, registered servers), with the classic actor
// failure modes as faults that can be switched on and off at run time.
// Every fault is bounded: it cannot exhaust the machine. Thread-safe.
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "canopy/config/config.hpp"
#include "canopy/core/runtime.hpp"

namespace canopy::app {

struct FaultState {
  std::string name;
  bool enabled = false;
  std::string culprit;  // the registered process or table the fault hits
  std::string description;
};

class Workload {
 public:
  Workload(Runtime& rt, config::WorkloadConfig config);
  ~Workload();

  // Starts the "orders" application; an error names the boot chain.
  Status start();
  void stop();

  static const std::vector<std::string>& fault_names();
  std::vector<FaultState> faults() const;
  // Switches a fault; an error names an unknown fault.
  Result<FaultState> set_fault(const std::string& name, bool enabled);

  // JSON for GET /api/v1/workload/faults and PUT .../faults/{fault}.
  bool route(const std::string& method, const std::vector<std::string>& parts, const std::string& body, int& status,
             std::string& json);

  struct Shared;

 private:
  Runtime& rt_;
  const config::WorkloadConfig config_;
  std::shared_ptr<Shared> shared_;
  Pid root_;
  bool pricing_started_ = false;
};

}  // namespace canopy::app
