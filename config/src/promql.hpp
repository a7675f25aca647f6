#pragma once
// Just enough PromQL reading for canopy's checks: identifiers outside quoted
// strings, and bracket balance. Not a parser; promtool has the last word.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace canopy::config::promql {

// Identifiers ([a-zA-Z_:][a-zA-Z0-9_:]*) starting with `prefix`, outside
// quoted strings, in order of appearance (duplicates kept).
std::vector<std::string> identifiers_with_prefix(std::string_view expr, std::string_view prefix);

// The built-in family a series name belongs to: the name itself when it is
// in canopy::exporters::served_metric_names() (the runtime's families and
// the exporter's), or the histogram/summary it is a _bucket, _sum
// or _count series of; nullopt for anything else.
std::optional<std::string> builtin_family(const std::string& series);

// nullopt when (), [] and {} balance outside strings and every string is
// closed; otherwise what is wrong.
std::optional<std::string> check_brackets(std::string_view expr);

}  // namespace canopy::config::promql
