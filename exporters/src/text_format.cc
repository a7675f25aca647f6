#include "canopy/exporters/text_format.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
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
void append_escaped(std::string& out, const std::string& s, Escape what = Escape::label_value) {
  const bool quote = what == Escape::label_value;
  size_t from = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c != '\\' && c != '\n' && !(quote && c == '"')) continue;
    out.append(s, from, i - from);
    out += c == '\n' ? "\\n" : c == '"' ? "\\\"" : "\\\\";
    from = i + 1;
  }
  out.append(s, from, std::string::npos);
}

using SortedLabels = std::vector<const std::pair<std::string, std::string>*>;

// name[suffix]{labels[,extra="value"]} (the space before the value included).
void append_head(std::string& out, const std::string& name, const char* suffix, const SortedLabels& labels,
                 const char* extra_name = nullptr, const std::string* extra_value = nullptr) {
  out += name;
  out += suffix;
  if (!labels.empty() || extra_name != nullptr) {
    out += '{';
    const char* sep = "";
    for (const auto* l : labels) {
      out += sep;
      out += l->first;
      out += "=\"";
      append_escaped(out, l->second);
      out += '"';
      sep = ",";
    }
    if (extra_name != nullptr) {
      out += sep;
      out += extra_name;
      out += "=\"";
      out += *extra_value;
      out += '"';
    }
    out += '}';
  }
  out += ' ';
}

}  // namespace

void write_text(const std::vector<telemetry::Family>& families, std::string& out) {
  SortedLabels labels;
  std::string bound;
  for (const auto& f : families) {
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
    for (const auto& s : f.samples) {
      labels.clear();
      for (const auto& l : s.labels) labels.push_back(&l);
      std::sort(labels.begin(), labels.end(), [](auto* a, auto* b) { return *a < *b; });
      switch (f.type) {
        case telemetry::FamilyType::counter:
        case telemetry::FamilyType::gauge:
          append_head(out, f.name, "", labels);
          append_double(out, s.value);
          out += '\n';
          break;
        case telemetry::FamilyType::summary:
          append_head(out, f.name, "_count", labels);
          append_uint(out, s.count);
          out += '\n';
          append_head(out, f.name, "_sum", labels);
          append_double(out, s.sum);
          out += '\n';
          break;
        case telemetry::FamilyType::histogram: {
          append_head(out, f.name, "_count", labels);
          append_uint(out, s.count);
          out += '\n';
          append_head(out, f.name, "_sum", labels);
          append_double(out, s.sum);
          out += '\n';
          bool wrote_inf = false;
          for (size_t i = 0; i < s.bucket_counts.size(); ++i) {
            const double upper = i < f.bounds.size() ? f.bounds[i] : std::numeric_limits<double>::infinity();
            bound.clear();
            append_double(bound, upper);
            wrote_inf = wrote_inf || std::isinf(upper);
            append_head(out, f.name, "_bucket", labels, "le", &bound);
            append_uint(out, s.bucket_counts[i]);
            out += '\n';
          }
          if (!wrote_inf) {
            bound = "+Inf";
            append_head(out, f.name, "_bucket", labels, "le", &bound);
            append_uint(out, s.count);
            out += '\n';
          }
          break;
        }
      }
    }
  }
}

}  // namespace canopy::exporters
