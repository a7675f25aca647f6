#include "canopy/telemetry/detail/logger.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <mutex>

namespace canopy::telemetry::detail {

std::shared_ptr<spdlog::logger> logger(const std::string& name) {
  static std::mutex mu;
  std::lock_guard lock(mu);
  if (auto existing = spdlog::get(name)) return existing;
  try {
    return spdlog::stderr_color_mt(name);
  } catch (const spdlog::spdlog_ex&) {
    // Registered meanwhile by code that does not take `mu` (e.g. the app's
    // logging setup): use that one.
    if (auto existing = spdlog::get(name)) return existing;
    throw;
  }
}

}  // namespace canopy::telemetry::detail
