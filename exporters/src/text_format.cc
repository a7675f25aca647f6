#include "canopy/exporters/text_format.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

namespace canopy::exporters {

namespace {

const char* type_name(telemetry::FamilyType t) {
  switch (t) {
    case telemetry::FamilyType::counter:
      return "counter";
    case telemetry::FamilyType::gauge:
      return "gauge";
    case telemetry::FamilyType::histogram:
      return "histogram";
    case telemetry::FamilyType::summary:
      return "summary";
  }
  return "untyped";
}

// A double as prometheus-cpp writes it: %.16g (std::ostream with precision
// max_digits10 - 1, classic locale), Nan, +Inf, -Inf.
void append_double(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "Nan";
    return;
  }
  if (std::isinf(v)) {
    out += v < 0 ? "-Inf" : "+Inf";
    return;
  }
  if (v == 0 && std::signbit(v)) {
    out += "-0";
    return;
  }
  char buf[32];
  // Whole numbers (most counters and gauges) print the same as integers.
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    const auto r = std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(v));
    out.append(buf, r.ptr);
    return;
  }
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general,
                               std::numeric_limits<double>::max_digits10 - 1);
  out.append(buf, r.ptr);
}

void append_uint(std::string& out, uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// Escapes as the text format requires: backslash and newline always, the
// double quote too in label values (not in HELP text).
enum class Escape : bool { help, label_value };
void append_escaped(std::string& out, std::string_view s, Escape what = Escape::label_value) {
  const bool quote = what == Escape::label_value;
  size_t from = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c != '\\' && c != '\n' && !(quote && c == '"')) continue;
    out.append(s.data() + from, i - from);
    out += c == '\n' ? "\\n" : c == '"' ? "\\\"" : "\\\\";
    from = i + 1;
  }
  out.append(s.data() + from, s.size() - from);
}

// A sample's labels: (name, value), sorted before they are written.
using Labels = std::vector<std::pair<std::string_view, std::string_view>>;

// name[suffix]{labels[,extra="value"]} (the space before the value included).
void append_head(std::string& out, std::string_view name, std::string_view suffix, const Labels& labels,
                 std::string_view extra_name = {}, std::string_view extra_value = {}) {
  out += name;
  out += suffix;
  const bool extra = !extra_name.empty();
  if (!labels.empty() || extra) {
    out += '{';
    const char* sep = "";
    for (const auto& [label, value] : labels) {
      out += sep;
      out += label;
      out += "=\"";
      append_escaped(out, value);
      out += '"';
      sep = ",";
    }
    if (extra) {
      out += sep;
      out += extra_name;
      out += "=\"";
      out += extra_value;
      out += '"';
    }
    out += '}';
  }
  out += ' ';
}

void append_family_head(std::string& out, const telemetry::Family& f) {
  if (!f.help.empty()) {
    out += "# HELP ";
    out += f.name;
    out += ' ';
    // Unescaped, a newline in a description would end the HELP line and
    // turn the rest into a line no parser accepts.
    append_escaped(out, f.help, Escape::help);
    out += '\n';
  }
  out += "# TYPE ";
  out += f.name;
  out += ' ';
  out += type_name(f.type);
  out += '\n';
}

// A histogram's `le` values, written once per family: one per bound, and
// where the first +Inf is (the bounds' count when none is).
struct Bounds {
  const std::vector<std::string>& le;
  size_t first_inf = 0;
};
size_t set_bounds(std::vector<std::string>& le, const std::vector<double>& bounds) {
  le.resize(bounds.size());
  size_t first_inf = bounds.size();
  for (size_t i = 0; i < bounds.size(); ++i) {
    le[i].clear();
    append_double(le[i], bounds[i]);
    if (std::isinf(bounds[i]) && first_inf == bounds.size()) first_inf = i;
  }
  return first_inf;
}

// A summary's or histogram's _count and _sum lines.
void append_count_sum(std::string& out, std::string_view name, const Labels& labels, const telemetry::SampleView& s) {
  append_head(out, name, "_count", labels);
  append_uint(out, s.count);
  out += '\n';
  append_head(out, name, "_sum", labels);
  append_double(out, s.sum);
  out += '\n';
}

// The lines of one sample; `labels` sorted.
void append_sample(std::string& out, std::string_view name, telemetry::FamilyType type, const Labels& labels,
                   const telemetry::SampleView& s, const Bounds& bounds) {
  switch (type) {
    case telemetry::FamilyType::counter:
    case telemetry::FamilyType::gauge:
      append_head(out, name, "", labels);
      append_double(out, s.value);
      out += '\n';
      break;
    case telemetry::FamilyType::summary:
      append_count_sum(out, name, labels, s);
      break;
    case telemetry::FamilyType::histogram: {
      append_count_sum(out, name, labels, s);
      for (size_t i = 0; i < s.buckets; ++i) {
        append_head(out, name, "_bucket", labels, "le", i < bounds.le.size() ? bounds.le[i] : "+Inf");
        append_uint(out, s.bucket_counts[i]);
        out += '\n';
      }
      // Beyond the bounds the upper bound is +Inf: written, or not yet.
      if (s.buckets <= bounds.first_inf) {
        append_head(out, name, "_bucket", labels, "le", "+Inf");
        append_uint(out, s.count);
        out += '\n';
      }
      break;
    }
  }
}

// By name, then value: as prometheus-cpp orders them.
void sort_labels(Labels& labels) { std::sort(labels.begin(), labels.end()); }
}  // namespace

void write_text(const std::vector<telemetry::Family>& families, std::string& out) {
  Labels labels;
  std::vector<std::string> le;
  size_t first_inf = 0;
  for (const auto& f : families) {
    append_family_head(out, f);
    if (f.type == telemetry::FamilyType::histogram) first_inf = set_bounds(le, f.bounds);
    for (const auto& s : f.samples) {
      labels.clear();
      for (const auto& [label, value] : s.labels) labels.emplace_back(label, value);
      sort_labels(labels);
      telemetry::SampleView v;
      v.value = s.value;
      v.bucket_counts = s.bucket_counts.data();
      v.buckets = s.bucket_counts.size();
      v.count = s.count;
      v.sum = s.sum;
      append_sample(out, f.name, f.type, labels, v, Bounds{le, first_inf});
    }
  }
}

TextWriter::TextWriter(telemetry::Labels extra) : extra_(std::move(extra)) {}

void TextWriter::close_stretch() {
  if (!open_) return;
  stretches_.back().end = buffer_.size();
  open_ = false;
}

void TextWriter::family(const telemetry::Family& header) {
  close_stretch();
  Stretch st;
  st.name = header.name;
  st.type = header.type;
  st.head = buffer_.size();
  append_family_head(buffer_, header);
  st.body = buffer_.size();
  stretches_.push_back(std::move(st));
  open_ = true;
  type_ = header.type;
  if (header.type == telemetry::FamilyType::histogram) first_inf_ = set_bounds(le_, header.bounds);
}

void TextWriter::expect(size_t samples) {
  if (!open_) return;
  // Generous: room reserved and never written costs address space, not
  // memory; growing by doubling would copy and fault in pages several times.
  size_t line = stretches_.back().name.size() + 64;
  for (const auto& [label, value] : extra_) line += label.size() + value.size() + 4;
  if (type_ == telemetry::FamilyType::histogram) line *= le_.size() + 3;
  if (type_ == telemetry::FamilyType::summary) line *= 2;
  buffer_.reserve(buffer_.size() + samples * line);
}

void TextWriter::sample(const telemetry::SampleView& s) {
  if (!open_) return;  // a sample before any family: nowhere to put it
  labels_.clear();
  for (size_t i = 0; i < s.labels; ++i) labels_.emplace_back(s.label_names[i], s.label_values[i]);
  // Node identity on every series; a series' own label of the same name wins.
  for (const auto& [label, value] : extra_) {
    bool present = false;
    for (const auto& l : labels_) present = present || l.first == label;
    if (!present) labels_.emplace_back(label, value);
  }
  sort_labels(labels_);
  const Stretch& st = stretches_.back();
  append_sample(buffer_, st.name, st.type, labels_, s, Bounds{le_, first_inf_});
}

void TextWriter::finish(std::string& out) {
  close_stretch();
  order_.resize(stretches_.size());
  for (size_t i = 0; i < order_.size(); ++i) order_[i] = i;
  std::stable_sort(order_.begin(), order_.end(),
                   [this](size_t a, size_t b) { return stretches_[a].name < stretches_[b].name; });
  // The output as ranges of buffer_, in order. One family per name: the
  // first one's HELP and TYPE, then every body.
  pieces_.clear();
  for (size_t i = 0; i < order_.size(); ++i) {
    const Stretch& st = stretches_[order_[i]];
    if (i == 0 || stretches_[order_[i - 1]].name != st.name) pieces_.push_back({st.head, st.body});
    pieces_.push_back({st.body, st.end});
  }
  if (!out.empty() || pieces_.empty()) {
    out.reserve(out.size() + buffer_.size());
    for (const Piece& p : pieces_) out.append(buffer_, p.from, p.to - p.from);
    clear();
    return;
  }
  // Into an empty `out`: put the pieces in order inside buffer_ and hand it
  // over, rather than copy megabytes into fresh memory. The largest piece
  // (a big family's samples) moves within the buffer; the others, small,
  // go through scratch_. Nothing grows: merged families drop their heads.
  size_t largest = 0;
  for (size_t k = 1; k < pieces_.size(); ++k) {
    if (pieces_[k].to - pieces_[k].from > pieces_[largest].to - pieces_[largest].from) largest = k;
  }
  scratch_.clear();
  size_t at = 0;  // where the largest piece goes
  for (size_t k = 0; k < pieces_.size(); ++k) {
    if (k == largest) continue;
    scratch_.append(buffer_, pieces_[k].from, pieces_[k].to - pieces_[k].from);
    if (k < largest) at += pieces_[k].to - pieces_[k].from;
  }
  const Piece big = pieces_[largest];
  std::memmove(buffer_.data() + at, buffer_.data() + big.from, big.to - big.from);
  size_t pos = 0, from = 0;
  for (size_t k = 0; k < pieces_.size(); ++k) {
    const size_t n = pieces_[k].to - pieces_[k].from;
    if (k != largest) {
      std::memcpy(buffer_.data() + pos, scratch_.data() + from, n);
      from += n;
    }
    pos += n;
  }
  buffer_.resize(pos);
  out.swap(buffer_);
  clear();
}

void TextWriter::adopt(std::string buffer) {
  if (!buffer_.empty() || buffer.capacity() <= buffer_.capacity()) return;
  buffer.clear();
  buffer_.swap(buffer);
}

void TextWriter::clear() {
  buffer_.clear();
  stretches_.clear();
  open_ = false;
}

}  // namespace canopy::exporters
