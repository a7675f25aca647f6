#pragma once
// The options of canopy-bench, one parser for every workload:
//   canopy-bench WORKLOAD --name value --name=value ...
// A malformed option or value ends the program with exit code 2 and a
// message naming it. Owner thread only (plain values).
#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>

namespace canopy::bench {

class Args {
 public:
  // Reads argv[first], argv[first + 1], ...: every option is `--name value`
  // or `--name=value`; given twice, the last one counts.
  Args(int argc, char** argv, int first);

  // The value of --name, or `fallback` when it is absent.
  std::string text(std::string_view name, std::string_view fallback) const;
  // A whole number (decimal, at most 2^64-1), or `fallback` when absent.
  uint64_t number(std::string_view name, uint64_t fallback) const;
  // A whole number of at least 1 (a count of rounds, processes...).
  uint64_t count(std::string_view name, uint64_t fallback) const;
  // One of `allowed`, or `fallback` when absent.
  std::string one_of(std::string_view name, std::initializer_list<std::string_view> allowed,
                     std::string_view fallback) const;
  // For a workload that takes only these options: any other one is an error.
  void allow_only(std::string_view workload, std::initializer_list<std::string_view> names) const;

 private:
  std::map<std::string, std::string, std::less<>> values_;
};

// --telemetry full|off (default full): whether the runtime runs its built-in
// metrics and the poller.
bool telemetry_enabled(const Args& args);

}  // namespace canopy::bench
