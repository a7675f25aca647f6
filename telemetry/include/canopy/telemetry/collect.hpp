#pragma once
// What the telemetry layer hands to exporters at scrape time: plain metric
// families, built fresh on each collect() so an exporter never holds a lock
// of ours while it writes; or the same streamed into a FamilySink
// (collect_into), which a scrape uses so that no per-series object is built.
// A sink runs under no lock the emitters take (a metric's scans take turns
// on a lock of their own). Knows nothing of Prometheus libraries; the names
// and types follow Prometheus conventions. Plain values.
#include <cstdint>
#include <string>
#include <string_view>
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

// One sample seen through views, valid only during the FamilySink::sample
// call that receives it: what a scrape streams instead of building a Sample
// (no label strings copied, no per-series objects).
struct SampleView {
  const std::string_view* label_names = nullptr;   // `labels` of them
  const std::string_view* label_values = nullptr;  // in the same order
  size_t labels = 0;
  double value = 0;  // counter, gauge
  // histogram: cumulative counts per upper bound (bounds in the family), +Inf last
  const uint64_t* bucket_counts = nullptr;
  size_t buckets = 0;
  // histogram and summary
  uint64_t count = 0;
  double sum = 0;
};

// Receives families as they are read: family() with the family's header
// (its `samples` are to be ignored), then sample() for each of its samples,
// until the next family(). External synchronization.
class FamilySink {
 public:
  virtual ~FamilySink() = default;
  virtual void family(const Family& header) = 0;
  // A hint after family(): about `samples` samples follow (room may be
  // made for them at once).
  virtual void expect(size_t samples) { (void)samples; }
  virtual void sample(const SampleView& sample) = 0;
};

// Feeds a built family to `sink`: its header, then every sample.
void emit(const Family& family, FamilySink& sink);

// The sink that builds families: what collect() returns. External
// synchronization.
class FamilyBuilder final : public FamilySink {
 public:
  void family(const Family& header) override;
  void expect(size_t samples) override;
  void sample(const SampleView& sample) override;
  std::vector<Family>& families() { return families_; }

 private:
  std::vector<Family> families_;
};

// Anything an exporter can read at scrape time.
class Collectable {
 public:
  virtual ~Collectable() = default;
  virtual std::vector<Family> collect() const = 0;
  // The same families streamed into `sink`; the default builds them first.
  virtual void collect_into(FamilySink& sink) const;
};

}  // namespace canopy::telemetry
