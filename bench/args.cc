#include "args.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace canopy::bench {

namespace {

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "canopy-bench: %s\n", message.c_str());
  std::exit(2);
}

}  // namespace

Args::Args(int argc, char** argv, int first) {
  for (int i = first; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.size() <= 2 || !arg.starts_with("--") || arg[2] == '=') {
      usage_error("expected --name value, got '" + std::string(arg) + "'");
    }
    const size_t eq = arg.find('=');
    if (eq != std::string_view::npos) {
      values_[std::string(arg.substr(2, eq - 2))] = std::string(arg.substr(eq + 1));
      continue;
    }
    if (i + 1 == argc) usage_error("option '" + std::string(arg) + "' has no value");
    values_[std::string(arg.substr(2))] = argv[++i];
  }
}

std::string Args::text(std::string_view name, std::string_view fallback) const {
  auto it = values_.find(name);
  return std::string(it == values_.end() ? fallback : std::string_view(it->second));
}

uint64_t Args::number(std::string_view name, uint64_t fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  const std::string& text = it->second;
  // strtoull alone would take " 12", "+12" and "-12" (as 2^64-12).
  const bool digits =
      !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  errno = 0;
  const unsigned long long v = digits ? std::strtoull(text.c_str(), nullptr, 10) : 0;
  if (!digits || errno == ERANGE) {
    usage_error("--" + it->first + " wants a whole number, got '" + text + "'");
  }
  return v;
}

uint64_t Args::count(std::string_view name, uint64_t fallback) const {
  const uint64_t v = number(name, fallback);
  if (v == 0) usage_error("--" + std::string(name) + " wants at least 1, got 0");
  return v;
}

std::string Args::one_of(std::string_view name, std::initializer_list<std::string_view> allowed,
                         std::string_view fallback) const {
  const std::string value = text(name, fallback);
  if (std::find(allowed.begin(), allowed.end(), value) != allowed.end()) return value;
  std::string choices;
  size_t i = 0;
  for (std::string_view a : allowed) {
    if (i > 0) choices += i + 1 == allowed.size() ? " or " : ", ";
    choices += a;
    ++i;
  }
  usage_error("--" + std::string(name) + " wants " + choices + ", got '" + value + "'");
}

void Args::allow_only(std::string_view workload, std::initializer_list<std::string_view> names) const {
  for (const auto& [name, value] : values_) {
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      std::fprintf(stderr, "canopy-bench %.*s: unknown option '--%s'\n", static_cast<int>(workload.size()),
                   workload.data(), name.c_str());
      std::exit(2);
    }
  }
}

bool telemetry_enabled(const Args& args) { return args.one_of("telemetry", {"full", "off"}, "full") == "full"; }

}  // namespace canopy::bench
