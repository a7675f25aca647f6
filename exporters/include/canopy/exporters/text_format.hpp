#pragma once
// The Prometheus text exposition format (0.0.4), written straight from
// telemetry families into one string.
//
// Why not prometheus-cpp's TextSerializer, which canopy used first: it
// streams every character of every label and every number through
// std::ostream, and a 10,000-series scrape spent most of its time there.
// This writer produces the same bytes (a test holds the two equal on every
// family type, label escaping and number formatting) with std::to_chars and
// appends, at a fraction of the cost. One deliberate difference: HELP text
// is escaped as the format requires (backslash, newline), where
// prometheus-cpp 1.0.1 writes it verbatim and a multi-line description
// breaks the whole scrape. prometheus-cpp still carries the push gateway
// mode.
#include <string>
#include <vector>

#include "canopy/telemetry/collect.hpp"

namespace canopy::exporters {

// Appends the families to `out`, in order; labels of each sample sorted by
// name, as prometheus-cpp writes them.
void write_text(const std::vector<telemetry::Family>& families, std::string& out);

// The same text written as the families stream in (a scrape: no Sample
// objects, no label strings copied). Each family goes to its own stretch of
// one buffer; finish() appends them to `out` sorted by name, families of one name
// merged under the first one's HELP and TYPE: the bytes write_text writes
// for what Exposition::gather() returns. `extra` labels (the node's) go on
// every sample that has no label of that name. External synchronization.
class TextWriter final : public telemetry::FamilySink {
 public:
  explicit TextWriter(telemetry::Labels extra = {});

  void family(const telemetry::Family& header) override;
  void expect(size_t samples) override;
  void sample(const telemetry::SampleView& sample) override;
  // Appends everything written since the last finish() to `out`, and
  // empties the writer. Into an empty `out` nothing is copied: the text is
  // put in order inside the writer's buffer, which `out` then takes (the
  // next scrape's buffer is reserved at once from expect()'s hints).
  void finish(std::string& out);
  // Forgets what was written since the last finish().
  void clear();
  // Writes into `buffer`'s memory from now on when it has more room than
  // the writer's own (call when empty: after finish() or clear()).
  void adopt(std::string buffer);

 private:
  struct Stretch {
    std::string name;
    telemetry::FamilyType type;
    size_t head = 0;  // offset of its HELP/TYPE lines in buffer_
    size_t body = 0;  // offset of its samples
    size_t end = 0;
  };
  void close_stretch();

  const telemetry::Labels extra_;
  std::string buffer_;
  std::vector<Stretch> stretches_;
  std::vector<size_t> order_;
  struct Piece {
    size_t from, to;  // a range of buffer_
  };
  std::vector<Piece> pieces_;
  std::string scratch_;  // the small pieces while finish() reorders in place
  // The open family: its type and its histogram's `le` values.
  telemetry::FamilyType type_ = telemetry::FamilyType::gauge;
  std::vector<std::string> le_;
  size_t first_inf_ = 0;  // the index of the first +Inf bound (the bounds' count when none is)
  bool open_ = false;
  std::vector<std::pair<std::string_view, std::string_view>> labels_;
};

}  // namespace canopy::exporters
