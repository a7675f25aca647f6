#include "canopy/telemetry/detail/logger.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <mutex>

namespace canopy::detail {

namespace {
std::mutex& registry_mu() {
  static std::mutex mu;
  return mu;
}
}  // namespace

std::shared_ptr<spdlog::logger> logger(const std::string& name) {
  std::lock_guard lock(registry_mu());
  if (auto existing = spdlog::get(name)) return existing;
  try {
    return spdlog::stderr_color_mt(name);
  } catch (const spdlog::spdlog_ex&) {
    // Registered meanwhile by code that does not take the lock: use that one.
    if (auto existing = spdlog::get(name)) return existing;
    throw;
  }
}

void replace_logger(std::shared_ptr<spdlog::logger> replacement) {
  std::lock_guard lock(registry_mu());
  spdlog::drop(replacement->name());
  spdlog::register_logger(std::move(replacement));
}

}  // namespace canopy::detail
