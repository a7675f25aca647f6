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

}  // namespace canopy::exporters
