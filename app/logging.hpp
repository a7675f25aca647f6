#pragma once
// Logging set-up for the canopy binary: one spdlog logger per subsystem
// (canopy, canopy.core, canopy.telemetry, canopy.http), all writing to the
// configured sink in text or JSON, with a level changeable at run time.
#include <string>
#include <vector>

#include "canopy/config/config.hpp"

namespace canopy::app {

// Creates (or re-creates) the subsystem loggers. Returns "" or an error.
std::string configure_logging(const config::LoggingConfig& logging);
// Sets the level of every canopy logger; "" or an error naming the bad level.
std::string set_log_level(const std::string& level);
// The last lines every canopy logger wrote (a bounded ring sink beside the
// configured one), oldest first: what a crash dump's =log section shows.
std::vector<std::string> log_tail();

}  // namespace canopy::app
