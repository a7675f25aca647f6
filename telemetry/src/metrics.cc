#include "canopy/telemetry/metrics.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <unordered_map>
#include <unordered_set>

namespace canopy::telemetry {

namespace {

constexpr size_t kShards = 16;
constexpr size_t kMaxTags = 8;
const char* const kOverflow = "__overflow__";

size_t shard_index() {
  static std::atomic<size_t> next{0};
  thread_local const size_t index = next.fetch_add(1, std::memory_order_relaxed) % kShards;
  return index;
}

uint64_t now_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

void add_double(std::atomic<double>& a, double v) {
  double old = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(old, old + v, std::memory_order_relaxed)) {
  }
}

// One series' aggregate as one shard sees it.
struct Cells {
  explicit Cells(size_t buckets) : bucket_counts(buckets ? new std::atomic<uint64_t>[buckets + 1] : nullptr) {
    for (size_t i = 0; bucket_counts && i <= buckets; ++i) bucket_counts[i].store(0, std::memory_order_relaxed);
  }
  std::atomic<uint64_t> count{0};
  std::atomic<double> sum{0};
  std::atomic<double> last{0};
  std::atomic<uint64_t> last_ns{0};
  std::unique_ptr<std::atomic<uint64_t>[]> bucket_counts;  // per bucket, +Inf last
};

struct TaggedSeries {
  TaggedSeries(std::vector<std::string> v, uint64_t h, size_t buckets)
      : values(std::move(v)), hash(h), cells(buckets) {}
  std::vector<std::string> values;
  uint64_t hash;
  Cells cells;
};

struct alignas(64) Shard {
  explicit Shard(size_t buckets) : untagged(buckets) {}
  Cells untagged;
  detail::Mutex mu;
  std::unordered_multimap<uint64_t, std::unique_ptr<TaggedSeries>> tagged GUARDED_BY(mu);
};

uint64_t hash_values(const std::array<std::string_view, kMaxTags>& values, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) {
    for (char c : values[i]) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    h = (h ^ 0x1f) * 1099511628211ull;
  }
  return h;
}

}  // namespace

class Metric {
 public:
  Metric(MetricDef def, double factor) : def_(std::move(def)), factor_(factor) {
    for (size_t i = 0; i < kShards; ++i) shards_.push_back(std::make_unique<Shard>(def_.buckets.size()));
    for (const auto& labels : def_.initial_series) {
      if (labels.size() != def_.tags.size() || labels.size() > kMaxTags) continue;
      std::array<std::string_view, kMaxTags> values{};
      for (size_t i = 0; i < labels.size(); ++i) values[i] = labels[i];
      Shard& shard = *shards_[0];
      detail::MutexLock lock(&shard.mu);
      series_in(shard, values, labels.size(), hash_values(values, labels.size()));
    }
  }

  const MetricDef& def() const { return def_; }

  void handle(const Measurements& m, const Metadata& md) {
    if (def_.keep && !def_.keep(m, md)) return;
    double v = 1;
    if (def_.type != MetricType::counter) {
      if (def_.measure) {
        std::optional<double> r = def_.measure(m, md);
        if (!r) return;
        v = *r;
      } else {
        const double* p = m.find(def_.measurement);
        if (p == nullptr) return;
        v = *p;
      }
      v *= factor_;
    }
    Shard& shard = *shards_[shard_index()];
    if (def_.tags.empty()) {
      apply(shard.untagged, v);
      return;
    }
    Metadata rewritten;
    const Metadata* meta = &md;
    if (def_.tag_values) {
      rewritten = def_.tag_values(md);
      meta = &rewritten;
    }
    std::array<std::string_view, kMaxTags> values{};
    char numbers[kMaxTags][32];
    const size_t n = std::min(def_.tags.size(), kMaxTags);
    for (size_t i = 0; i < n; ++i) {
      const MetaValue* mv = meta->find(def_.tags[i]);
      if (mv == nullptr) {
        values[i] = "";
      } else if (mv->is_number()) {
        const double d = mv->number();
        std::to_chars_result r = (std::floor(d) == d && std::fabs(d) < 1e15)
                                     ? std::to_chars(numbers[i], numbers[i] + 32, static_cast<int64_t>(d))
                                     : std::to_chars(numbers[i], numbers[i] + 32, d);
        values[i] = std::string_view(numbers[i], static_cast<size_t>(r.ptr - numbers[i]));
      } else {
        values[i] = mv->text();
      }
    }
    const uint64_t h = hash_values(values, n);
    detail::MutexLock lock(&shard.mu);
    apply(series_in(shard, values, n, h)->cells, v);
  }

  // One scan: every shard's series merged by label set, stale ones dropped,
  // and the cardinality guard's count of live series brought up to date.
  Family collect(uint64_t now) {
    Family f = family_header();
    MergedSeries merged = begin_scan();
    const bool any_untagged = merge_shards(now, merged);
    for (auto& [hash, m] : merged) {
      if (def_.type == MetricType::last_value && m.last_ns == 0) continue;  // never set
      if (any_untagged && m.last_ns != 0 && is_stale(now, m.last_ns)) continue;
      f.samples.push_back(sample_of(m));
    }
    end_scan(merged);
    return f;
  }

  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  // One label set's aggregate across the shards.
  struct Merged {
    std::vector<std::string> values;
    uint64_t count = 0;
    double sum = 0;
    double last = 0;
    uint64_t last_ns = 0;
    std::vector<uint64_t> buckets;  // distributions only
  };
  // One entry per label set across the shards, found by the series' hash
  // (equal values, equal hash; a collision is told apart by the values).
  // No per-series key string: a scrape of 10,000 series spends its time here.
  using MergedSeries = std::unordered_multimap<uint64_t, Merged>;

  // The family without its samples: name, help, unit, type and bounds.
  Family family_header() const {
    Family f;
    f.name = def_.name;
    f.help = def_.description.empty() ? def_.name : def_.description;
    f.unit = unit_suffix(def_.unit_to);
    switch (def_.type) {
      case MetricType::counter:
      case MetricType::sum:
        f.type = FamilyType::counter;
        break;
      case MetricType::last_value:
        f.type = def_.monotonic ? FamilyType::counter : FamilyType::gauge;
        break;
      case MetricType::summary:
        f.type = FamilyType::summary;
        break;
      case MetricType::distribution:
        f.type = FamilyType::histogram;
        f.bounds = def_.buckets;
        break;
    }
    return f;
  }

  // Registers a scan in progress (see created_during_scan_); the map it
  // returns has room for every series known so far.
  MergedSeries begin_scan() EXCLUDES(known_mu_) {
    MergedSeries merged;
    detail::MutexLock lock(&known_mu_);
    merged.reserve(known_.size() + 1);
    ++scans_;
    return merged;
  }

  // `now` was read before the shards: a series updated since is fresh (the
  // unsigned difference would wrap around and call it stale).
  bool is_stale(uint64_t now, uint64_t last_ns) const {
    const uint64_t stale_ns = static_cast<uint64_t>(def_.stale_after.count()) * 1'000'000;
    return stale_ns != 0 && now > last_ns && now - last_ns > stale_ns;
  }

  // Adds one shard's cells of a label set to its merged entry.
  void fold(MergedSeries& merged, uint64_t hash, const std::vector<std::string>& values, const Cells& c) const {
    const size_t nb = def_.buckets.size();
    Merged* found = nullptr;
    auto [b, e] = merged.equal_range(hash);
    for (auto it = b; it != e && found == nullptr; ++it) {
      if (it->second.values == values) found = &it->second;
    }
    if (found == nullptr) {
      found = &merged.emplace(hash, Merged{})->second;
      found->values = values;
      if (nb > 0) found->buckets.assign(nb + 1, 0);
    }
    Merged& m = *found;
    m.count += c.count.load(std::memory_order_relaxed);
    m.sum += c.sum.load(std::memory_order_relaxed);
    const uint64_t t = c.last_ns.load(std::memory_order_relaxed);
    if (t >= m.last_ns) {
      m.last_ns = t;
      m.last = c.last.load(std::memory_order_relaxed);
    }
    for (size_t i = 0; c.bucket_counts && i <= nb; ++i)
      m.buckets[i] += c.bucket_counts[i].load(std::memory_order_relaxed);
  }

  // Folds every shard's series into `merged`, erasing the tagged series that
  // went stale. Returns whether the metric is untagged (its series are the
  // shards' untagged cells, judged stale only once merged).
  bool merge_shards(uint64_t now, MergedSeries& merged) {
    bool any_untagged = false;
    for (auto& shard : shards_) {
      if (def_.tags.empty()) {
        fold(merged, 0, {}, shard->untagged);
        any_untagged = true;
        continue;
      }
      detail::MutexLock lock(&shard->mu);
      for (auto it = shard->tagged.begin(); it != shard->tagged.end();) {
        const Cells& c = it->second->cells;
        if (is_stale(now, c.last_ns.load(std::memory_order_relaxed))) {
          it = shard->tagged.erase(it);
          continue;
        }
        fold(merged, it->second->hash, it->second->values, c);
        ++it;
      }
    }
    return any_untagged;
  }

  // The sample of one merged label set (its label values are moved out).
  Sample sample_of(Merged& m) const {
    Sample s;
    for (size_t i = 0; i < def_.tags.size() && i < m.values.size(); ++i)
      s.labels.emplace_back(def_.tags[i], std::move(m.values[i]));
    switch (def_.type) {
      case MetricType::counter:
        s.value = static_cast<double>(m.count);
        break;
      case MetricType::sum:
        s.value = m.sum;
        break;
      case MetricType::last_value:
        s.value = m.last;
        break;
      case MetricType::summary:
        s.count = m.count;
        s.sum = m.sum;
        break;
      case MetricType::distribution: {
        s.count = m.count;
        s.sum = m.sum;
        uint64_t running = 0;
        for (size_t i = 0; i <= def_.buckets.size(); ++i) {
          running += m.buckets[i];
          s.bucket_counts.push_back(running);
        }
        break;
      }
    }
    return s;
  }

  // Ends the scan. The guard counts live series: what went stale frees its
  // place. Series created while this scan ran (perhaps in a shard already
  // scanned) stay.
  void end_scan(const MergedSeries& merged) EXCLUDES(known_mu_) {
    std::unordered_set<uint64_t> live;
    if (!def_.tags.empty()) {
      live.reserve(merged.size());
      for (const auto& entry : merged) live.insert(entry.first);
    }
    detail::MutexLock lock(&known_mu_);
    if (!def_.tags.empty()) {
      live.insert(created_during_scan_.begin(), created_during_scan_.end());
      known_.swap(live);
    }
    if (--scans_ == 0) created_during_scan_.clear();
  }

  void apply(Cells& c, double v) {
    switch (def_.type) {
      case MetricType::counter:
        c.count.fetch_add(1, std::memory_order_relaxed);
        break;
      case MetricType::sum:
        add_double(c.sum, v);
        break;
      case MetricType::last_value:
        c.last.store(v, std::memory_order_relaxed);
        c.last_ns.store(now_ns(), std::memory_order_relaxed);
        break;
      case MetricType::summary:
        c.count.fetch_add(1, std::memory_order_relaxed);
        add_double(c.sum, v);
        break;
      case MetricType::distribution: {
        c.count.fetch_add(1, std::memory_order_relaxed);
        add_double(c.sum, v);
        const size_t i =
            static_cast<size_t>(std::lower_bound(def_.buckets.begin(), def_.buckets.end(), v) - def_.buckets.begin());
        c.bucket_counts[i].fetch_add(1, std::memory_order_relaxed);
        break;
      }
    }
  }

  TaggedSeries* series_in(Shard& shard, const std::array<std::string_view, kMaxTags>& values, size_t n, uint64_t h)
      REQUIRES(shard.mu) EXCLUDES(known_mu_) {
    auto [b, e] = shard.tagged.equal_range(h);
    for (auto it = b; it != e; ++it) {
      const auto& have = it->second->values;
      bool same = have.size() == n;
      for (size_t i = 0; same && i < n; ++i) same = have[i] == values[i];
      if (same) return it->second.get();
    }
    std::vector<std::string> owned(values.begin(), values.begin() + static_cast<long>(n));
    {
      detail::MutexLock lock(&known_mu_);
      if (known_.count(h) == 0) {
        if (known_.size() >= def_.max_series) {
          dropped_.fetch_add(1, std::memory_order_relaxed);
          owned.assign(n, kOverflow);
          std::array<std::string_view, kMaxTags> ov{};
          for (size_t i = 0; i < n; ++i) ov[i] = kOverflow;
          const uint64_t oh = hash_values(ov, n);
          known_.insert(oh);
          if (scans_ > 0) created_during_scan_.insert(oh);
          auto [ob, oe] = shard.tagged.equal_range(oh);
          for (auto it = ob; it != oe; ++it) {
            if (it->second->values == owned) return it->second.get();
          }
          return shard.tagged.emplace(oh, std::make_unique<TaggedSeries>(std::move(owned), oh, def_.buckets.size()))
              ->second.get();
        }
        known_.insert(h);
        if (scans_ > 0) created_during_scan_.insert(h);
      }
    }
    return shard.tagged.emplace(h, std::make_unique<TaggedSeries>(std::move(owned), h, def_.buckets.size()))
        ->second.get();
  }

  const MetricDef def_;
  const double factor_;
  std::vector<std::unique_ptr<Shard>> shards_;
  // Taken after a shard's mu (series_in), never before.
  detail::Mutex known_mu_;
  // The hashes of the live label sets (the cardinality guard counts them; two
  // label sets sharing a 64-bit hash would count once).
  std::unordered_set<uint64_t> known_ GUARDED_BY(known_mu_);
  // Collects in progress, and the label sets created meanwhile (a scan's
  // rebuild of known_ must not forget them).
  int scans_ GUARDED_BY(known_mu_) = 0;
  std::unordered_set<uint64_t> created_during_scan_ GUARDED_BY(known_mu_);
  std::atomic<uint64_t> dropped_{0};
};

const char* to_string(MetricType type) {
  switch (type) {
    case MetricType::counter:
      return "counter";
    case MetricType::sum:
      return "sum";
    case MetricType::last_value:
      return "last_value";
    case MetricType::summary:
      return "summary";
    case MetricType::distribution:
      return "distribution";
  }
  return "unknown";
}

const char* to_string(FamilyType type) {
  switch (type) {
    case FamilyType::counter:
      return "counter";
    case FamilyType::gauge:
      return "gauge";
    case FamilyType::histogram:
      return "histogram";
    case FamilyType::summary:
      return "summary";
  }
  return "untyped";
}

std::optional<double> unit_factor(Unit from, Unit to) {
  auto time_ns = [](Unit u) -> std::optional<double> {
    switch (u) {
      case Unit::native_time:
      case Unit::nanosecond:
        return 1.0;
      case Unit::microsecond:
        return 1e3;
      case Unit::millisecond:
        return 1e6;
      case Unit::second:
        return 1e9;
      default:
        return std::nullopt;
    }
  };
  auto bytes = [](Unit u) -> std::optional<double> {
    switch (u) {
      case Unit::byte:
        return 1.0;
      case Unit::kilobyte:
        return 1024.0;
      case Unit::megabyte:
        return 1024.0 * 1024.0;
      default:
        return std::nullopt;
    }
  };
  if (from == Unit::none || to == Unit::none)
    return from == to || to == Unit::none ? std::optional<double>(1.0) : std::nullopt;
  if (auto a = time_ns(from), b = time_ns(to); a && b) return *a / *b;
  if (auto a = bytes(from), b = bytes(to); a && b) return *a / *b;
  return std::nullopt;
}

const char* unit_suffix(Unit unit) {
  switch (unit) {
    case Unit::native_time:
    case Unit::nanosecond:
      return "nanoseconds";
    case Unit::microsecond:
      return "microseconds";
    case Unit::millisecond:
      return "milliseconds";
    case Unit::second:
      return "seconds";
    case Unit::byte:
      return "bytes";
    case Unit::kilobyte:
      return "kilobytes";
    case Unit::megabyte:
      return "megabytes";
    case Unit::none:
      return "";
  }
  return "";
}

bool valid_metric_name(const std::string& name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool valid_label_name(const std::string& name) {
  if (name.empty() || name.rfind("__", 0) == 0) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

Metrics::Metrics(Bus& bus) : bus_(bus) {}

Metrics::~Metrics() {
  detail::MutexLock lock(&mu_);
  for (auto& m : metrics_) bus_.detach("metrics:" + m->def().name);
}

std::string Metrics::add(MetricDef def) {
  const std::string where = "metric '" + def.name + "'";
  if (!valid_metric_name(def.name)) return where + ": not a valid Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)";
  if (def.event.empty()) return where + ": no event name";
  if (def.type != MetricType::counter && def.measurement.empty() && !def.measure) {
    return where + ": a " + std::string(to_string(def.type)) + " needs a measurement";
  }
  if (def.tags.size() > kMaxTags) return where + ": at most " + std::to_string(kMaxTags) + " tags";
  for (const auto& t : def.tags) {
    if (!valid_label_name(t)) return where + ": tag '" + t + "' is not a valid label name";
  }
  if (def.type == MetricType::distribution) {
    if (def.buckets.empty()) return where + ": a distribution needs buckets";
    if (!std::is_sorted(def.buckets.begin(), def.buckets.end()) ||
        std::adjacent_find(def.buckets.begin(), def.buckets.end()) != def.buckets.end()) {
      return where + ": buckets must be strictly ascending";
    }
  }
  const std::optional<double> factor = unit_factor(def.unit_from, def.unit_to);
  if (!factor) {
    return where + ": cannot convert " + unit_suffix(def.unit_from) + " to " + unit_suffix(def.unit_to);
  }
  if (def.max_series == 0) def.max_series = 1;
  detail::MutexLock lock(&mu_);
  for (auto& m : metrics_) {
    if (m->def().name == def.name) return where + ": already defined";
  }
  auto metric = std::make_shared<Metric>(std::move(def), *factor);
  Metric* raw = metric.get();
  bus_.attach(
      "metrics:" + raw->def().name, {raw->def().event},
      [raw](const EventName&, const Measurements& m, const Metadata& md, const std::any&) { raw->handle(m, md); });
  metrics_.push_back(std::move(metric));
  return "";
}

bool Metrics::remove(const std::string& name) {
  detail::MutexLock lock(&mu_);
  auto it = std::find_if(metrics_.begin(), metrics_.end(), [&](auto& m) { return m->def().name == name; });
  if (it == metrics_.end()) return false;
  bus_.detach("metrics:" + name);
  // An emitter may be inside this metric's handler right now: keep the
  // object alive with the bus's retired handler lists rather than free it.
  retired_.push_back(std::move(*it));
  metrics_.erase(it);
  return true;
}

std::vector<std::string> Metrics::names() const {
  detail::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (auto& m : metrics_) out.push_back(m->def().name);
  return out;
}

std::vector<Family> Metrics::collect() const {
  std::vector<std::shared_ptr<Metric>> copy;
  {
    detail::MutexLock lock(&mu_);
    copy = metrics_;
  }
  const uint64_t now = now_ns();
  std::vector<Family> out;
  out.reserve(copy.size() + 1);
  Family dropped;
  dropped.name = "canopy_telemetry_series_dropped_total";
  dropped.help = "Values that went to a metric's overflow series because it reached its series cap";
  dropped.type = FamilyType::counter;
  for (auto& m : copy) {
    out.push_back(m->collect(now));
    if (m->def().tags.empty()) continue;  // one series: nothing to overflow
    Sample s;
    s.labels.emplace_back("metric", m->def().name);
    s.value = static_cast<double>(m->dropped());
    dropped.samples.push_back(std::move(s));
  }
  out.push_back(std::move(dropped));
  return out;
}

std::map<std::string, uint64_t> Metrics::series_dropped() const {
  detail::MutexLock lock(&mu_);
  std::map<std::string, uint64_t> out;
  for (auto& m : metrics_) out[m->def().name] = m->dropped();
  return out;
}

}  // namespace canopy::telemetry
