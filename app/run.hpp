#pragma once
// `canopy run`: the runtime, the poller, the exporter and the demo workload,
// until SIGINT/SIGTERM; SIGHUP (or POST /-/reload) reloads the config.
#include <string>

namespace canopy::app {

// Returns the process exit code.
int run(const std::string& config_path);

}  // namespace canopy::app
