#pragma once
// Reading a dump (the format: canopy/core/dump.hpp): what `canopy dump`
// summarises. A file that is not a dump, is truncated (no `=end`) or
// garbled gets an error naming the line, never an exception. Plain values;
// the functions are thread-safe.
#include <cstdint>
#include <functional>
#include <istream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "canopy/core/result.hpp"

namespace canopy {

// One `=name` or `=name:id` section of `key: value` lines.
struct DumpSection {
  std::string name;
  std::string id;
  int line = 0;  // of its header
  std::vector<std::pair<std::string, std::string>> fields;
  // The first value of `key`, or nullptr.
  const std::string* get(std::string_view key) const;
  // Every value of `key` (repeated keys, such as a supervisor's `child`).
  std::vector<std::string> all(std::string_view key) const;
};

// One row of =processes.
struct DumpProcess {
  std::string pid;
  std::string name;
  std::string behaviour;
  std::string status;
  uint64_t mailbox_length = 0;
  uint64_t mailbox_bytes = 0;
  double oldest_message_age_s = 0;
  uint64_t heap_bytes = 0;
  uint64_t reductions = 0;
  uint64_t cpu_ns = 0;
  std::string links;     // comma-separated pids
  std::string monitors;  // comma-separated pids
  std::string supervisor;
  std::string current_message;
  uint64_t messages_dropped = 0;
};

struct DumpFile {
  std::string slogan;
  std::string kind;     // "full", or "fatal_signal" (a handler's partial dump)
  DumpSection header;   // =canopy_dump: slogan, time, canopy_version, uptime_s, os_pid, ...
  std::vector<DumpSection> sections;  // every other key: value section, in file order
  std::vector<DumpProcess> processes;  // unless DumpReadOptions::on_process took them
  uint64_t process_count = 0;
  std::vector<std::string> log;
  // The sections called `name`, in file order.
  std::vector<const DumpSection*> named(std::string_view name) const;
};

struct DumpReadOptions {
  // When set, each process row goes here instead of into DumpFile::processes
  // (a million-process dump need not be held in memory).
  std::function<void(const DumpProcess&)> on_process;
};

// Errors: Errc::invalid_argument, "line N: ..." naming what was wrong.
Result<DumpFile> read_dump(std::istream& in, const DumpReadOptions& options = {});
// The same from a file; an error names the file when it cannot be opened.
Result<DumpFile> read_dump_file(const std::string& path, const DumpReadOptions& options = {});

}  // namespace canopy
