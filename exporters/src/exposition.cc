#include "canopy/exporters/exposition.hpp"

#include "canopy/exporters/metric_names.hpp"
#include "canopy/exporters/text_format.hpp"
#include "prometheus_adapter.hpp"

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <limits>

namespace canopy::exporters {

namespace {

prometheus::MetricType to_prometheus_type(telemetry::FamilyType t) {
  switch (t) {
    case telemetry::FamilyType::counter:
      return prometheus::MetricType::Counter;
    case telemetry::FamilyType::gauge:
      return prometheus::MetricType::Gauge;
    case telemetry::FamilyType::histogram:
      return prometheus::MetricType::Histogram;
    case telemetry::FamilyType::summary:
      return prometheus::MetricType::Summary;
  }
  return prometheus::MetricType::Untyped;
}

}  // namespace

std::vector<prometheus::MetricFamily> to_prometheus(std::vector<telemetry::Family>&& families) {
  std::vector<prometheus::MetricFamily> out;
  out.reserve(families.size());
  for (auto& f : families) {
    prometheus::MetricFamily pf;
    pf.name = std::move(f.name);
    pf.help = std::move(f.help);
    pf.type = to_prometheus_type(f.type);
    pf.metric.reserve(f.samples.size());
    for (auto& s : f.samples) {
      prometheus::ClientMetric m;
      m.label.reserve(s.labels.size());
      for (auto& [k, v] : s.labels) m.label.push_back({std::move(k), std::move(v)});
      std::sort(m.label.begin(), m.label.end());
      switch (f.type) {
        case telemetry::FamilyType::counter:
          m.counter.value = s.value;
          break;
        case telemetry::FamilyType::gauge:
          m.gauge.value = s.value;
          break;
        case telemetry::FamilyType::summary:
          m.summary.sample_count = s.count;
          m.summary.sample_sum = s.sum;
          break;
        case telemetry::FamilyType::histogram:
          m.histogram.sample_count = s.count;
          m.histogram.sample_sum = s.sum;
          for (size_t i = 0; i < s.bucket_counts.size(); ++i) {
            const double bound = i < f.bounds.size() ? f.bounds[i] : std::numeric_limits<double>::infinity();
            m.histogram.bucket.push_back({s.bucket_counts[i], bound});
          }
          break;
      }
      pf.metric.push_back(std::move(m));
    }
    out.push_back(std::move(pf));
  }
  return out;
}

const char* version() { return "0.1.0"; }

namespace {

// The node's labels, as gather() adds them to every series.
telemetry::Labels node_labels(const ExpositionOptions& o) {
  telemetry::Labels extra(o.node_labels.begin(), o.node_labels.end());
  if (!o.node_name.empty()) extra.emplace_back("node", o.node_name);
  return extra;
}

}  // namespace

Exposition::Exposition(ExpositionOptions options)
    : options_(std::move(options)), writer_(std::make_unique<TextWriter>(node_labels(options_))) {}
Exposition::~Exposition() = default;

void Exposition::add_source(Source source) {
  add_stream_source([source = std::move(source)](telemetry::FamilySink& sink) {
    for (const telemetry::Family& f : source()) telemetry::emit(f, sink);
  });
}

void Exposition::add_stream_source(StreamSource source) {
  detail::MutexLock lock(&mu_);
  sources_.push_back(std::move(source));
}

std::vector<StreamSource> Exposition::sources() const {
  detail::MutexLock lock(&mu_);
  return sources_;
}

void Exposition::own_families(telemetry::FamilySink& sink) const {
  for (const telemetry::Family& f : process_metrics()) telemetry::emit(f, sink);

  telemetry::Family build = exporter_family("canopy_build_info");
  build.samples.push_back(telemetry::Sample{{{"version", version()}, {"compiler", "g++ " __VERSION__}}, 1, {}, 0, 0});
  telemetry::emit(build, sink);

  telemetry::Family scrapes = exporter_family("canopy_scrapes_total");
  scrapes.samples.push_back(
      telemetry::Sample{{}, static_cast<double>(scrapes_.load(std::memory_order_relaxed)), {}, 0, 0});
  telemetry::emit(scrapes, sink);
  telemetry::Family duration = exporter_family("canopy_scrape_duration_seconds");
  duration.samples.push_back(telemetry::Sample{{}, last_scrape_seconds_.load(std::memory_order_relaxed), {}, 0, 0});
  telemetry::emit(duration, sink);
}

std::vector<telemetry::Family> Exposition::gather() const {
  telemetry::FamilyBuilder builder;
  for (const auto& s : sources()) s(builder);
  own_families(builder);
  std::vector<telemetry::Family>& all = builder.families();

  // Node identity on every series; a series' own label of the same name wins.
  const telemetry::Labels extra = node_labels(options_);
  if (!extra.empty()) {
    for (auto& f : all) {
      for (auto& s : f.samples) {
        // (Not a structured binding: clang 14 cannot capture one in the lambda.)
        for (const auto& label : extra) {
          const bool present =
              std::any_of(s.labels.begin(), s.labels.end(), [&](auto& l) { return l.first == label.first; });
          if (!present) s.labels.emplace_back(label.first, label.second);
        }
      }
    }
  }
  // One family per name (sources may not repeat a name; if one does, merge).
  std::stable_sort(all.begin(), all.end(), [](auto& a, auto& b) { return a.name < b.name; });
  std::vector<telemetry::Family> merged;
  for (auto& f : all) {
    if (!merged.empty() && merged.back().name == f.name) {
      auto& into = merged.back().samples;
      into.insert(into.end(), std::make_move_iterator(f.samples.begin()), std::make_move_iterator(f.samples.end()));
    } else {
      merged.push_back(std::move(f));
    }
  }
  return merged;
}

std::string Exposition::render_text() const {
  std::string out;
  render_text(out);
  return out;
}

void Exposition::recycle(std::string sent) const {
  detail::MutexLock lock(&spare_mu_);
  if (sent.capacity() > spare_.capacity()) spare_.swap(sent);
  // (The smaller of the two is freed as `sent` goes out of scope.)
}

void Exposition::render_text(std::string& out) const {
  const std::vector<StreamSource> streams = sources();
  std::string spare;
  {
    detail::MutexLock lock(&spare_mu_);
    spare.swap(spare_);
  }
  detail::MutexLock lock(&render_mu_);
  writer_->clear();  // what a source that threw may have left
  writer_->adopt(std::move(spare));
  for (const auto& s : streams) s(*writer_);
  own_families(*writer_);
  writer_->finish(out);
}

std::string Exposition::scrape(bool want_gzip, bool* compressed) {
  const auto start = std::chrono::steady_clock::now();
  std::string body = render_text();
  const bool zip = want_gzip && options_.gzip;
  if (zip) {
    std::string text = std::move(body);
    body = gzip(text);
    recycle(std::move(text));
  }
  if (compressed != nullptr) *compressed = zip;
  scrapes_.fetch_add(1, std::memory_order_relaxed);
  last_scrape_seconds_.store(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
                             std::memory_order_relaxed);
  return body;
}

std::string gzip(const std::string& data) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return data;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  std::string out;
  out.resize(deflateBound(&zs, static_cast<uLong>(data.size())));
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

}  // namespace canopy::exporters
