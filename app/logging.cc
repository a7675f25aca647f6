#include "logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <deque>
#include <mutex>

#include "canopy/exporters/json.hpp"
#include "canopy/telemetry/detail/logger.hpp"

namespace canopy::app {

namespace {

const char* const kLoggers[] = {"canopy", "canopy.core", "canopy.telemetry", "canopy.http"};

// %* : the message as a JSON string (quotes included), by the API's writer.
class JsonMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    const std::string quoted = exporters::json_quote(std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(quoted.data(), quoted.data() + quoted.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonMessage>(); }
};

// The last kLines formatted lines. Thread-safe (base_sink's mutex).
class RingSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  static constexpr size_t kLines = 200;
  std::vector<std::string> lines() {
    std::lock_guard<std::mutex> lock(mutex_);
    return {lines_.begin(), lines_.end()};
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    std::string line(formatted.data(), formatted.size());
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    lines_.push_back(std::move(line));
    if (lines_.size() > kLines) lines_.pop_front();
  }
  void flush_() override {}

 private:
  std::deque<std::string> lines_;
};

// One ring for the binary's loggers (they are process-wide too).
std::shared_ptr<RingSink>& ring() {
  static auto sink = std::make_shared<RingSink>();
  return sink;
}

}  // namespace

std::vector<std::string> log_tail() { return ring()->lines(); }

std::string configure_logging(const config::LoggingConfig& logging) {
  spdlog::sink_ptr sink;
  if (logging.file.empty()) {
    sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  } else {
    try {
      sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(logging.file);
    } catch (const spdlog::spdlog_ex& e) {
      return "logging.file: cannot open " + logging.file + ": " + e.what();
    }
  }
  if (logging.format == config::LogFormat::json) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<JsonMessage>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","logger":"%n","message":%*})");
    sink->set_formatter(std::move(formatter));
  }
  for (const char* name : kLoggers) {
    auto logger = std::make_shared<spdlog::logger>(name, spdlog::sinks_init_list{sink, ring()});
    logger->set_level(static_cast<spdlog::level::level_enum>(logging.level));
    logger->flush_on(spdlog::level::warn);
    canopy::detail::replace_logger(std::move(logger));
  }
  spdlog::set_default_logger(spdlog::get("canopy"));
  return "";
}

std::string set_log_level(const std::string& level) {
  const auto l = spdlog::level::from_str(level);
  // from_str maps anything unknown to "off": accept "off" only when asked for.
  if (l == spdlog::level::off && level != "off") {
    return "unknown log level '" + level + "' (trace, debug, info, warn, error, critical, off)";
  }
  for (const char* name : kLoggers) {
    if (auto logger = spdlog::get(name)) logger->set_level(l);
  }
  spdlog::get("canopy")->info("log level set to {}", level);
  return "";
}

}  // namespace canopy::app
