#pragma once
// The demo's pricing servers: the `pricing` module (app/modules/pricing.cc)
// loaded at start, three servers under a supervisor (registered pricing_0..2,
// each started from the module's current version, so a restart after an
// upgrade runs the new code) and a client quoting them a few times a second.
// Thread-safe.
#include <string>

#include "canopy/core/runtime.hpp"

namespace canopy::app {

// `path` relative to the folder of the running binary, unless absolute.
std::string resolve_from_binary(const std::string& path);

// Loads the module at `module_path` and starts the "pricing" application.
Status start_pricing(Runtime& rt, const std::string& module_path);
void stop_pricing(Runtime& rt);

}  // namespace canopy::app
