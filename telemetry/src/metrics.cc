#include "canopy/telemetry/metrics.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cmath>
#include <unordered_map>

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

// One label set of a tagged metric, held by the shards that have a series
// of it. Created and released under the metric's known_mu_; freed only by a
// scan (the one that erases its last series), so a scan may read it freely.
struct SeriesKey {
  std::vector<std::string> values;
  uint64_t hash = 0;
  uint32_t id = 0;    // its slot in a scan's accumulator (reused once freed)
  uint32_t refs = 0;  // shards holding a series of it
};

// The fields an event touches first (values, hash, cells), in the order they
// had before the scan's fields were added after them.
struct TaggedSeries {
  TaggedSeries(std::vector<std::string> v, uint64_t h, size_t buckets, SeriesKey* k)
      : values(std::move(v)), hash(h), cells(buckets), key(k), id(k->id) {}
  std::vector<std::string> values;
  uint64_t hash;
  Cells cells;
  SeriesKey* key;   // outlives this series
  uint32_t id;      // key->id
  uint32_t at = 0;  // its place in the shard's `order`
};

struct alignas(64) Shard {
  explicit Shard(size_t buckets) : untagged(buckets) {}
  Cells untagged;
  detail::Mutex mu;
  std::unordered_multimap<uint64_t, std::unique_ptr<TaggedSeries>> tagged GUARDED_BY(mu);
  // The same series in the order they were made: what a scan walks (in
  // memory order, rather than hopping between hash nodes).
  std::vector<TaggedSeries*> order GUARDED_BY(mu);
};

// Forgets one series of a shard.
void erase_series(Shard& shard, TaggedSeries* series) REQUIRES(shard.mu) {
  TaggedSeries* last = shard.order.back();
  shard.order[series->at] = last;
  last->at = series->at;
  shard.order.pop_back();
  auto [b, e] = shard.tagged.equal_range(series->hash);
  for (auto it = b; it != e; ++it) {
    if (it->second.get() == series) {
      shard.tagged.erase(it);
      return;
    }
  }
}

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
  Metric(MetricDef def, double factor) : def_(std::move(def)), factor_(factor), nb_(def_.buckets.size()) {
    tag_names_.assign(def_.tags.begin(), def_.tags.end());
    for (size_t i = 0; i < kShards; ++i) shards_.push_back(std::make_unique<Shard>(nb_));
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

  // Every event of every metric runs through here: aligned to a cache line
  // so that its hot path does not depend on where the linker put it (BM_Counter
  // varied by 10% between builds whose code differed only in its address).
  [[gnu::aligned(64)]] void handle(const Measurements& m, const Metadata& md) {
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

  // One scan: every shard's series folded by label set into the scan's
  // accumulator (no per-series allocation), stale ones dropped and their
  // places in the cardinality guard freed; then each live label set is
  // streamed to `sink` as one sample. Scans of one metric take turns.
  void collect_into(uint64_t now, FamilySink& sink) EXCLUDES(scan_mu_) {
    detail::MutexLock scan(&scan_mu_);
    sink.family(family_header());
    if (def_.tags.empty()) {
      Accumulated a;
      if (nb_ > 0) scan_buckets_.assign(nb_ + 1, 0);
      for (auto& shard : shards_) fold(a, 0, shard->untagged);
      if (def_.type == MetricType::last_value && a.last_ns == 0) return;  // never set
      if (a.last_ns != 0 && is_stale(now, a.last_ns)) return;
      write_sample(sink, a, 0, nullptr);
      return;
    }
    begin_scan();
    merge_shards(now);
    sink.expect(scan_.size());
    std::array<std::string_view, kMaxTags> values{};
    for (size_t id = 0; id < scan_.size(); ++id) {
      const Accumulated& a = scan_[id];
      if (a.key == nullptr) continue;
      if (def_.type == MetricType::last_value && a.last_ns == 0) continue;  // never set
      const size_t n = std::min(a.key->values.size(), tag_names_.size());
      for (size_t i = 0; i < n; ++i) values[i] = a.key->values[i];
      write_sample(sink, a, id, values.data());
    }
  }

  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  // One label set's aggregate across the shards, in a scan.
  struct Accumulated {
    const SeriesKey* key = nullptr;  // null: no live series of this slot
    uint64_t count = 0;
    double sum = 0;
    double last = 0;
    uint64_t last_ns = 0;
  };

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

  // Clears the accumulator (keeping its memory) with a slot for every label
  // set known now; label sets created during the scan grow it in fold().
  void begin_scan() REQUIRES(scan_mu_) EXCLUDES(known_mu_) {
    size_t slots = 0;
    {
      detail::MutexLock lock(&known_mu_);
      slots = next_id_;
    }
    scan_.assign(slots, Accumulated{});
    scan_buckets_.assign(slots * (nb_ + 1), 0);
  }

  // `now` was read before the shards: a series updated since is fresh (the
  // unsigned difference would wrap around and call it stale).
  bool is_stale(uint64_t now, uint64_t last_ns) const {
    const uint64_t stale_ns = static_cast<uint64_t>(def_.stale_after.count()) * 1'000'000;
    return stale_ns != 0 && now > last_ns && now - last_ns > stale_ns;
  }

  // Adds one shard's cells of a label set to its slot `id` (buckets in
  // scan_buckets_ from id * (nb_ + 1)).
  void fold(Accumulated& a, size_t id, const Cells& c) REQUIRES(scan_mu_) {
    a.count += c.count.load(std::memory_order_relaxed);
    a.sum += c.sum.load(std::memory_order_relaxed);
    const uint64_t t = c.last_ns.load(std::memory_order_relaxed);
    if (t >= a.last_ns) {
      a.last_ns = t;
      a.last = c.last.load(std::memory_order_relaxed);
    }
    if (c.bucket_counts) {
      uint64_t* into = scan_buckets_.data() + id * (nb_ + 1);
      for (size_t i = 0; i <= nb_; ++i) into[i] += c.bucket_counts[i].load(std::memory_order_relaxed);
    }
  }

  // Folds every shard's tagged series into scan_, erasing the ones that went
  // stale. Each shard's lock is held only for its own plain additions.
  void merge_shards(uint64_t now) REQUIRES(scan_mu_) EXCLUDES(known_mu_) {
    std::vector<SeriesKey*> released;
    for (auto& shard : shards_) {
      detail::MutexLock lock(&shard->mu);
      for (size_t i = 0; i < shard->order.size();) {
        TaggedSeries& series = *shard->order[i];
        if (is_stale(now, series.cells.last_ns.load(std::memory_order_relaxed))) {
          released.push_back(series.key);
          erase_series(*shard, &series);  // the last one takes its place
          continue;
        }
        const size_t id = series.id;
        if (id >= scan_.size()) {  // created during this scan
          scan_.resize(id + 1);
          scan_buckets_.resize((id + 1) * (nb_ + 1), 0);
        }
        scan_[id].key = series.key;
        fold(scan_[id], id, series.cells);
        ++i;
      }
      if (!released.empty()) {
        // Taken after the shard's mu, as series_in does.
        detail::MutexLock known(&known_mu_);
        for (SeriesKey* k : released) release(k);
        released.clear();
      }
    }
  }

  // Streams the sample of one label set (`values` in tag order).
  void write_sample(FamilySink& sink, const Accumulated& a, size_t id, const std::string_view* values)
      REQUIRES(scan_mu_) {
    SampleView s;
    s.label_names = tag_names_.data();
    s.label_values = values;
    s.labels = values == nullptr ? 0 : std::min(a.key->values.size(), tag_names_.size());
    switch (def_.type) {
      case MetricType::counter:
        s.value = static_cast<double>(a.count);
        break;
      case MetricType::sum:
        s.value = a.sum;
        break;
      case MetricType::last_value:
        s.value = a.last;
        break;
      case MetricType::summary:
        s.count = a.count;
        s.sum = a.sum;
        break;
      case MetricType::distribution: {
        s.count = a.count;
        s.sum = a.sum;
        const uint64_t* counts = scan_buckets_.data() + id * (nb_ + 1);
        cumulative_.resize(nb_ + 1);
        uint64_t running = 0;
        for (size_t i = 0; i <= nb_; ++i) cumulative_[i] = running += counts[i];
        s.bucket_counts = cumulative_.data();
        s.buckets = cumulative_.size();
        break;
      }
    }
    sink.sample(s);
  }

  // One shard lets go of a label set; the last one frees its place in the
  // guard and its slot.
  void release(SeriesKey* key) REQUIRES(known_mu_) {
    if (--key->refs > 0) return;
    free_ids_.push_back(key->id);
    auto [b, e] = known_.equal_range(key->hash);
    for (auto it = b; it != e; ++it) {
      if (it->second.get() == key) {
        known_.erase(it);
        break;
      }
    }
  }

  // The label set `values` in the registry, created (with a slot) when new;
  // nullptr when new and the guard is full. Takes a reference for a shard.
  SeriesKey* acquire(const std::array<std::string_view, kMaxTags>& values, size_t n, uint64_t h, bool capped)
      REQUIRES(known_mu_) {
    auto [b, e] = known_.equal_range(h);
    for (auto it = b; it != e; ++it) {
      const auto& have = it->second->values;
      bool same = have.size() == n;
      for (size_t i = 0; same && i < n; ++i) same = have[i] == values[i];
      if (same) {
        ++it->second->refs;
        return it->second.get();
      }
    }
    if (capped && known_.size() >= def_.max_series) return nullptr;
    auto key = std::make_unique<SeriesKey>();
    key->values.assign(values.begin(), values.begin() + static_cast<long>(n));
    key->hash = h;
    key->refs = 1;
    if (!free_ids_.empty()) {
      key->id = free_ids_.back();
      free_ids_.pop_back();
    } else {
      key->id = next_id_++;
      grow_scan(next_id_);
    }
    return known_.emplace(h, std::move(key))->second.get();
  }

  // Gives the scan's accumulator its slots as label sets are made, unless a
  // scan holds it (that one grows it itself; try_lock: never waits, so the
  // lock order scan_mu_ -> shard.mu -> known_mu_ stands). The first scrape
  // of 100,000 series then finds its megabytes in place, not to be faulted in.
  void grow_scan(size_t slots) REQUIRES(known_mu_) {
    if (!scan_mu_.try_lock()) return;
    if (scan_.size() < slots) {
      scan_.resize(std::max(slots, 2 * scan_.size()));
      scan_buckets_.resize(scan_.size() * (nb_ + 1), 0);
    }
    scan_mu_.unlock();
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

  // Out of line: inlined, it made handle()'s frame heavier for every event,
  // untagged ones included (BM_Counter 7 -> 9.5 ns).
  [[gnu::noinline]] TaggedSeries* series_in(Shard& shard, const std::array<std::string_view, kMaxTags>& values,
                                            size_t n, uint64_t h) REQUIRES(shard.mu) EXCLUDES(known_mu_) {
    auto [b, e] = shard.tagged.equal_range(h);
    for (auto it = b; it != e; ++it) {
      const auto& have = it->second->values;
      bool same = have.size() == n;
      for (size_t i = 0; same && i < n; ++i) same = have[i] == values[i];
      if (same) return it->second.get();
    }
    std::vector<std::string> owned(values.begin(), values.begin() + static_cast<long>(n));
    uint64_t hash = h;
    SeriesKey* key = nullptr;
    {
      detail::MutexLock lock(&known_mu_);
      key = acquire(values, n, h, true);
      if (key == nullptr) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        owned.assign(n, kOverflow);
        std::array<std::string_view, kMaxTags> ov{};
        for (size_t i = 0; i < n; ++i) ov[i] = kOverflow;
        hash = hash_values(ov, n);
        auto [ob, oe] = shard.tagged.equal_range(hash);
        for (auto it = ob; it != oe; ++it) {
          if (it->second->values == owned) return it->second.get();
        }
        key = acquire(ov, n, hash, false);
      }
    }
    TaggedSeries* series =
        shard.tagged.emplace(hash, std::make_unique<TaggedSeries>(std::move(owned), hash, nb_, key))->second.get();
    series->at = static_cast<uint32_t>(shard.order.size());
    shard.order.push_back(series);
    return series;
  }

  const MetricDef def_;
  const double factor_;
  const size_t nb_;                           // distribution bounds (0 otherwise)
  std::vector<std::string_view> tag_names_;   // views of def_.tags; constant after construction
  std::vector<std::unique_ptr<Shard>> shards_;
  // Taken after a shard's mu (series_in, merge_shards), never before.
  detail::Mutex known_mu_;
  // The registry of live label sets, by hash (a collision is told apart by
  // the values): the cardinality guard counts them, and each has a slot in
  // a scan's accumulator. Freed slots are reused.
  std::unordered_multimap<uint64_t, std::unique_ptr<SeriesKey>> known_ GUARDED_BY(known_mu_);
  std::vector<uint32_t> free_ids_ GUARDED_BY(known_mu_);
  uint32_t next_id_ GUARDED_BY(known_mu_) = 0;
  // A scan's working memory, kept between scans (a scrape of 100,000
  // series would otherwise allocate and fault in megabytes each time).
  detail::Mutex scan_mu_;
  std::vector<Accumulated> scan_ GUARDED_BY(scan_mu_);
  std::vector<uint64_t> scan_buckets_ GUARDED_BY(scan_mu_);  // (nb_ + 1) per slot
  std::vector<uint64_t> cumulative_ GUARDED_BY(scan_mu_);
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
  FamilyBuilder builder;
  collect_into(builder);
  return std::move(builder.families());
}

void Metrics::collect_into(FamilySink& sink) const {
  std::vector<std::shared_ptr<Metric>> copy;
  {
    detail::MutexLock lock(&mu_);
    copy = metrics_;
  }
  const uint64_t now = now_ns();
  std::vector<std::pair<std::string_view, uint64_t>> dropped;  // names live in `copy`
  dropped.reserve(copy.size());
  for (auto& m : copy) {
    m->collect_into(now, sink);
    if (m->def().tags.empty()) continue;  // one series: nothing to overflow
    dropped.emplace_back(m->def().name, m->dropped());
  }
  Family header;
  header.name = "canopy_telemetry_series_dropped_total";
  header.help = "Values that went to a metric's overflow series because it reached its series cap";
  header.type = FamilyType::counter;
  sink.family(header);
  const std::string_view label = "metric";
  for (const auto& [name, count] : dropped) {
    SampleView s;
    s.label_names = &label;
    s.label_values = &name;
    s.labels = 1;
    s.value = static_cast<double>(count);
    sink.sample(s);
  }
}

std::map<std::string, uint64_t> Metrics::series_dropped() const {
  detail::MutexLock lock(&mu_);
  std::map<std::string, uint64_t> out;
  for (auto& m : metrics_) out[m->def().name] = m->dropped();
  return out;
}

}  // namespace canopy::telemetry
