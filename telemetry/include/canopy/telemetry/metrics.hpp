#pragma once
// Metric definitions and their aggregation, the counterpart of Elixir's
// Telemetry.Metrics plus a reporter: each definition attaches to its event on
// a Bus and folds measurements into aggregates that collect() turns into
// metric families at scrape time.
//
// Emitting is cheap and lock-free for untagged metrics (sharded atomic
// cells, merged at collect). Tagged metrics keep one series map per shard,
// each behind its own mutex that only threads hashed to that shard take, so
// concurrent emitters on different threads do not contend. A cap per metric
// bounds the series; values past it go to one overflow series and are counted.
// Each label set has a slot in a registry kept across scrapes, so a scrape
// folds the shards into one reused array by slot (each shard's lock held
// only for its plain additions) and streams the samples from there.
// Thread-safe.
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "canopy/telemetry/bus.hpp"
#include "canopy/telemetry/collect.hpp"
#include "canopy/telemetry/detail/mutex.hpp"

namespace canopy::telemetry {

enum class MetricType : uint8_t { counter, sum, last_value, summary, distribution };
const char* to_string(MetricType type);

// Units for conversion. `native_time` is the bus's native unit: nanoseconds.
enum class Unit : uint8_t { none, native_time, nanosecond, microsecond, millisecond, second, byte, kilobyte, megabyte };

struct MetricDef {
  MetricType type = MetricType::counter;
  std::string name;  // the exported family name, e.g. "canopy_process_spawns_total"
  EventName event;
  std::string measurement;  // key in the measurements (not used by counter)
  // Computes the value instead of `measurement`; nullopt skips the event.
  std::function<std::optional<double>(const Measurements&, const Metadata&)> measure;
  std::vector<std::string> tags;  // metadata keys, exported as labels of the same names
  // Rewrites the metadata before tags are read (e.g. a pid -> a name).
  std::function<Metadata(const Metadata&)> tag_values;
  // Only events for which this returns true are counted.
  std::function<bool(const Measurements&, const Metadata&)> keep;
  Unit unit_from = Unit::none;
  Unit unit_to = Unit::none;
  std::string description;
  std::vector<double> buckets;  // distribution upper bounds, ascending
  size_t max_series = 1'000;
  // last_value: the value is a running total; export it as a counter.
  bool monotonic = false;
  // Label values (in `tags` order) whose series exist, at 0, from the first
  // collect: the values known in advance (a counter's reasons), so rate() and
  // alerts see a series before the first event.
  std::vector<std::vector<std::string>> initial_series;
  // last_value: a series not updated for this long disappears (0 = never).
  // For gauges fed by a poller: no frozen values for things that went away.
  std::chrono::milliseconds stale_after{0};
};

class Metric;

class Metrics final : public Collectable {
 public:
  // Handlers attach to `bus`, which must outlive this object.
  explicit Metrics(Bus& bus);
  ~Metrics() override;
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Adds a definition and attaches it; returns an error text ("" on success)
  // naming the metric and what is wrong (bad name, unit mismatch, ...).
  std::string add(MetricDef def) EXCLUDES(mu_);
  // Detaches and forgets a metric.
  bool remove(const std::string& name) EXCLUDES(mu_);
  std::vector<std::string> names() const EXCLUDES(mu_);

  std::vector<Family> collect() const override EXCLUDES(mu_);
  // The same, streamed: no per-series objects (what a scrape uses).
  void collect_into(FamilySink& sink) const override EXCLUDES(mu_);

  // Series dropped by the cardinality guard, per metric name.
  std::map<std::string, uint64_t> series_dropped() const EXCLUDES(mu_);

 private:
  Bus& bus_;
  mutable detail::Mutex mu_;
  std::vector<std::shared_ptr<Metric>> metrics_ GUARDED_BY(mu_);
  std::vector<std::shared_ptr<Metric>> retired_ GUARDED_BY(mu_);  // removed, maybe still running
};

// Conversion factor between two units; nullopt when they do not convert.
std::optional<double> unit_factor(Unit from, Unit to);
// "seconds", "bytes", ...: the unit suffix Prometheus names use.
const char* unit_suffix(Unit unit);
bool valid_metric_name(const std::string& name);
bool valid_label_name(const std::string& name);

}  // namespace canopy::telemetry
