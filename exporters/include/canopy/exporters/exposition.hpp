#pragma once
// The Prometheus exposition: gathers metric families from its sources at
// scrape time, adds the node labels, the standard process_* metrics, the
// build info and its own scrape statistics, and writes the text format
// (text_format.hpp; gzip when asked). Thread-safe.
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "canopy/exporters/options.hpp"
#include "canopy/telemetry/collect.hpp"
#include "canopy/telemetry/detail/mutex.hpp"

namespace canopy::exporters {

using Source = std::function<std::vector<telemetry::Family>()>;
// A source that streams its families (e.g. Runtime::collect_into): a scrape
// then builds no per-series objects on the way to the text.
using StreamSource = std::function<void(telemetry::FamilySink&)>;

class TextWriter;

class Exposition {
 public:
  explicit Exposition(ExpositionOptions options = {});
  ~Exposition();
  Exposition(const Exposition&) = delete;
  Exposition& operator=(const Exposition&) = delete;

  void add_source(Source source) EXCLUDES(mu_);
  void add_stream_source(StreamSource source) EXCLUDES(mu_);

  // Every family, labelled and sorted by name (what a scrape sees).
  std::vector<telemetry::Family> gather() const EXCLUDES(mu_);
  // The text exposition format (version 0.0.4): the bytes write_text()
  // writes for gather(), streamed from the sources without building it.
  std::string render_text() const EXCLUDES(mu_, render_mu_, spare_mu_);
  // The same, appended to `out` (whose capacity a caller may keep).
  void render_text(std::string& out) const EXCLUDES(mu_, render_mu_, spare_mu_);
  // A scrape: the text, gzip-compressed when `gzip` (and allowed by the
  // options); counts the scrape and its duration.
  std::string scrape(bool gzip, bool* compressed = nullptr) EXCLUDES(mu_, render_mu_, spare_mu_);

  uint64_t scrapes() const { return scrapes_.load(std::memory_order_relaxed); }

  // Hands back a scrape's text once it is sent: the next render writes into
  // its memory (already faulted in) rather than into fresh megabytes. Cheap:
  // the transport's epoll thread calls it.
  void recycle(std::string sent) const EXCLUDES(spare_mu_);

 private:
  std::vector<StreamSource> sources() const EXCLUDES(mu_);
  // The exporter's own families: process_*, build info, scrape statistics.
  void own_families(telemetry::FamilySink& sink) const;

  const ExpositionOptions options_;
  mutable detail::Mutex mu_;
  std::vector<StreamSource> sources_ GUARDED_BY(mu_);
  // The text writer and its buffer, kept from one scrape to the next;
  // scrapes take turns with it.
  mutable detail::Mutex render_mu_;
  const std::unique_ptr<TextWriter> writer_ PT_GUARDED_BY(render_mu_);
  // The largest text handed back, for the next render (a lock of its own,
  // so that recycle() never waits for a render).
  mutable detail::Mutex spare_mu_;
  mutable std::string spare_ GUARDED_BY(spare_mu_);
  std::atomic<uint64_t> scrapes_{0};
  std::atomic<double> last_scrape_seconds_{0};
};

// The standard process metrics every official client library exports
// (process_cpu_seconds_total, process_resident_memory_bytes, ...), from /proc.
std::vector<telemetry::Family> process_metrics();

// gzip (RFC 1952) of `data`.
std::string gzip(const std::string& data);

// "0.1.0"
const char* version();

}  // namespace canopy::exporters
