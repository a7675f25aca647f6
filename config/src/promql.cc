#include "promql.hpp"

#include "canopy/exporters/metric_names.hpp"

namespace canopy::config::promql {
namespace {

bool ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; }
bool ident_char(char c) { return ident_start(c) || (c >= '0' && c <= '9'); }

// Calls on_code(i) for each character outside strings and comments, and
// returns false when a string is left open.
template <typename F>
bool scan(std::string_view s, F&& on_code) {
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (c == '"' || c == '\'' || c == '`') {
      size_t j = i + 1;
      while (j < s.size() && s[j] != c) {
        if (s[j] == '\\' && c != '`') ++j;
        ++j;
      }
      if (j >= s.size()) return false;
      i = j + 1;
      continue;
    }
    if (c == '#') {
      while (i < s.size() && s[i] != '\n') ++i;
      continue;
    }
    i = on_code(i);
  }
  return true;
}

}  // namespace

std::vector<std::string> identifiers_with_prefix(std::string_view expr, std::string_view prefix) {
  std::vector<std::string> out;
  scan(expr, [&](size_t i) -> size_t {
    if (!ident_start(expr[i]) || (i > 0 && ident_char(expr[i - 1]))) return i + 1;
    size_t j = i;
    while (j < expr.size() && ident_char(expr[j])) ++j;
    const std::string_view word = expr.substr(i, j - i);
    if (word.substr(0, prefix.size()) == prefix) out.emplace_back(word);
    return j;
  });
  return out;
}

std::optional<std::string> builtin_family(const std::string& series) {
  if (canopy::exporters::is_served_metric(series)) return series;
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string_view sv(suffix);
    if (series.size() <= sv.size() || series.compare(series.size() - sv.size(), sv.size(), sv) != 0) continue;
    const std::string base = series.substr(0, series.size() - sv.size());
    for (const auto& m : canopy::exporters::served_metric_names()) {
      if (base != m.name) continue;
      const std::string type = m.type;
      if (type == "histogram" || (type == "summary" && sv != "_bucket")) return base;
    }
  }
  return std::nullopt;
}

std::optional<std::string> check_brackets(std::string_view expr) {
  std::string stack;
  std::optional<std::string> problem;
  const bool closed = scan(expr, [&](size_t i) -> size_t {
    const char c = expr[i];
    if (problem) return i + 1;
    if (c == '(' || c == '[' || c == '{') {
      stack.push_back(c);
    } else if (c == ')' || c == ']' || c == '}') {
      const char open = c == ')' ? '(' : c == ']' ? '[' : '{';
      if (stack.empty() || stack.back() != open) {
        problem = std::string("unbalanced '") + c + "'";
      } else {
        stack.pop_back();
      }
    }
    return i + 1;
  });
  if (!closed) return std::string("unterminated string");
  if (problem) return problem;
  if (!stack.empty()) return std::string("unclosed '") + stack.back() + "'";
  return std::nullopt;
}

}  // namespace canopy::config::promql
