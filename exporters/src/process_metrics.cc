// process_* metrics as the official Prometheus client libraries define them,
// read from /proc/self.
#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "canopy/exporters/exposition.hpp"
#include "canopy/exporters/metric_names.hpp"

namespace canopy::exporters {

namespace {

// Help and type from the exporter's list (canopy/exporters/metric_names.hpp).
telemetry::Family single(const char* name, double value) {
  telemetry::Family f = exporter_family(name);
  f.samples.push_back(telemetry::Sample{{}, value, {}, 0, 0});
  return f;
}

double boot_time_seconds() {
  std::ifstream f("/proc/stat");
  std::string key;
  while (f >> key) {
    if (key == "btime") {
      double v = 0;
      f >> v;
      return v;
    }
    f.ignore(1 << 16, '\n');
  }
  return 0;
}

}  // namespace

std::vector<telemetry::Family> process_metrics() {
  std::vector<telemetry::Family> out;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));

  std::ifstream stat("/proc/self/stat");
  std::string line;
  if (std::getline(stat, line)) {
    // Fields after the command name, which is in parentheses and may hold spaces.
    const size_t close = line.rfind(')');
    std::istringstream rest(close == std::string::npos ? std::string() : line.substr(close + 2));
    std::string field;
    std::vector<std::string> fields;
    while (rest >> field) fields.push_back(field);
    // fields[0] is field 3 (state): utime=14, stime=15, starttime=22, vsize=23, rss=24.
    auto at = [&](size_t n) { return n - 3 < fields.size() ? std::stod(fields[n - 3]) : 0.0; };
    out.push_back(single("process_cpu_seconds_total", (at(14) + at(15)) / ticks));
    out.push_back(single("process_virtual_memory_bytes", at(23)));
    out.push_back(single("process_resident_memory_bytes", at(24) * page));
    out.push_back(single("process_start_time_seconds", boot_time_seconds() + at(22) / ticks));
  }

  size_t fds = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') ++fds;
    }
    closedir(d);
    if (fds > 0) --fds;  // the descriptor opendir itself holds
  }
  out.push_back(single("process_open_fds", static_cast<double>(fds)));
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    out.push_back(single("process_max_fds", static_cast<double>(lim.rlim_cur)));
  }
  return out;
}

}  // namespace canopy::exporters
