#pragma once
// The one way canopy's layers get their default spdlog logger (telemetry's
// Bus and Poller, core's Runtime, ...): get-or-create by name under one lock,
// so two threads creating a Bus and a Poller at once do not both create
// "canopy.telemetry" (spdlog throws on a second registration). Not part of
// the API for users: pass your own logger in the options instead.
// Thread-safe.
#include <memory>
#include <string>

namespace spdlog {
class logger;
}

namespace canopy::detail {

// The logger registered in spdlog under `name`; when there is none, a new
// stderr colour logger registered under it. Tolerates another thread (or code
// that does not use this function) registering the name meanwhile.
std::shared_ptr<spdlog::logger> logger(const std::string& name);

// Registers `replacement` under its name in place of whatever was there,
// under the same lock (the app's logging setup swaps every canopy logger for
// one with its sinks and format).
void replace_logger(std::shared_ptr<spdlog::logger> replacement);

}  // namespace canopy::detail
