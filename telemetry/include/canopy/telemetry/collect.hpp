#pragma once
// What the telemetry layer hands to exporters at scrape time: plain metric
// families, built fresh on each collect() so an exporter never holds a lock
// of ours while it writes. Knows nothing of Prometheus libraries; the names
// and types follow Prometheus conventions. Plain values.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace canopy::telemetry {

enum class FamilyType : uint8_t { counter, gauge, histogram, summary };
const char* to_string(FamilyType type);

using Labels = std::vector<std::pair<std::string, std::string>>;

struct Sample {
  Labels labels;
  double value = 0;  // counter, gauge
  // histogram: cumulative counts per upper bound (bounds in the family), +Inf last
  std::vector<uint64_t> bucket_counts;
  // histogram and summary
  uint64_t count = 0;
  double sum = 0;
};

struct Family {
  std::string name;  // full name, e.g. canopy_processes
  std::string help;
  std::string unit;  // "seconds", "bytes", "" ...
  FamilyType type = FamilyType::gauge;
  std::vector<double> bounds;  // histogram upper bounds (without +Inf)
  std::vector<Sample> samples;
};

// Anything an exporter can read at scrape time.
class Collectable {
 public:
  virtual ~Collectable() = default;
  virtual std::vector<Family> collect() const = 0;
};

}  // namespace canopy::telemetry
