#pragma once
// Loading the shipped dashboards and taking their PromQL apart: the metric
// names, selectors, variables and enclosing functions each query uses.
#include <canopy/exporters/metric_names.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace canopy::dashboard_test {

using nlohmann::json;
namespace fs = std::filesystem;

inline const fs::path& dashboards_dir() {
  static const fs::path dir{CANOPY_DASHBOARDS_DIR};
  return dir;
}

// The dashboards the spec asks for, by uid (= file name without .json).
inline const std::vector<std::string>& expected_uids() {
  static const std::vector<std::string> uids = {"canopy-overview", "canopy-processes", "canopy-tables",
                                                "canopy-supervision", "canopy-stages"};
  return uids;
}

inline std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Dashboard {
  std::string file;  // file name without .json
  json model;
};

// Every *.json file directly in dashboards/, sorted by name.
inline std::vector<Dashboard> load_dashboards() {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dashboards_dir())) {
    if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<Dashboard> out;
  for (const auto& f : files) out.push_back({f.stem().string(), json::parse(read_text(f))});
  return out;
}

// All panels, including those nested in collapsed rows.
inline void collect_panels(const json& panels, std::vector<json>& out) {
  if (!panels.is_array()) return;
  for (const auto& p : panels) {
    out.push_back(p);
    if (p.contains("panels")) collect_panels(p["panels"], out);
  }
}

inline std::vector<json> panels_of(const json& dashboard) {
  std::vector<json> out;
  if (dashboard.contains("panels")) collect_panels(dashboard["panels"], out);
  return out;
}

inline std::string panel_name(const std::string& file, const json& panel) {
  return file + ": panel " + std::to_string(panel.value("id", -1)) + " \"" + panel.value("title", std::string{}) + "\"";
}

inline std::optional<json> variable(const json& dashboard, const std::string& name) {
  if (!dashboard.contains("templating") || !dashboard["templating"].contains("list")) return std::nullopt;
  for (const auto& v : dashboard["templating"]["list"]) {
    if (v.value("name", std::string{}) == name) return v;
  }
  return std::nullopt;
}

// A query variable's PromQL, whether stored as a string or as
// {"query": "...", "refId": ...} (Grafana 10's Prometheus variable editor).
inline std::string variable_query(const json& var) {
  if (!var.contains("query")) return {};
  const json& q = var["query"];
  if (q.is_string()) return q.get<std::string>();
  if (q.is_object() && q.contains("query") && q["query"].is_string()) return q["query"].get<std::string>();
  return {};
}

struct Query {
  std::string where;  // for messages
  std::string expr;
};

// Every PromQL expression of a dashboard: panel targets and query variables.
inline std::vector<Query> queries_of(const Dashboard& d) {
  std::vector<Query> out;
  for (const auto& p : panels_of(d.model)) {
    if (!p.contains("targets")) continue;
    for (const auto& t : p["targets"]) {
      out.push_back(
          {panel_name(d.file, p) + " target " + t.value("refId", std::string{"?"}), t.value("expr", std::string{})});
    }
  }
  if (d.model.contains("templating") && d.model["templating"].contains("list")) {
    for (const auto& v : d.model["templating"]["list"]) {
      if (v.value("type", std::string{}) != "query") continue;
      out.push_back({d.file + ": variable " + v.value("name", std::string{}), variable_query(v)});
    }
  }
  return out;
}

// ------------------------------------------------------------------ PromQL

inline bool ident_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':'; }
inline bool ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':'; }

struct Token {
  std::string text;
  size_t begin;
  size_t end;
  bool in_string;  // inside "..." or '...'
};

// Identifiers of a PromQL expression ([A-Za-z_:][A-Za-z0-9_:]*, not part of a
// longer identifier or number), with whether each sits inside a string.
inline std::vector<Token> identifiers(const std::string& expr) {
  std::vector<Token> out;
  char quote = 0;
  for (size_t i = 0; i < expr.size();) {
    const char c = expr[i];
    if (quote != 0) {
      if (c == '\\' && i + 1 < expr.size()) {
        i += 2;
        continue;
      }
      if (c == quote) {
        quote = 0;
        ++i;
        continue;
      }
    } else if (c == '"' || c == '\'' || c == '`') {
      quote = c;
      ++i;
      continue;
    }
    if (ident_start(c) && (i == 0 || !ident_char(expr[i - 1])) &&
        (i == 0 || !std::isdigit(static_cast<unsigned char>(expr[i - 1])))) {
      size_t j = i;
      while (j < expr.size() && ident_char(expr[j])) ++j;
      out.push_back({expr.substr(i, j - i), i, j, quote != 0});
      i = j;
      continue;
    }
    ++i;
  }
  return out;
}

// Names that look like canopy or process metrics ((canopy|process)_[a-z0-9_]+),
// anywhere in the expression.
inline std::vector<Token> metric_like_names(const std::string& expr) {
  std::vector<Token> out;
  for (const auto& t : identifiers(expr)) {
    if (t.text.rfind("canopy_", 0) == 0 || t.text.rfind("process_", 0) == 0) out.push_back(t);
  }
  return out;
}

// The runtime's families and the exporter's own (build info, scrapes, process_*).
inline const MetricName* find_metric(const std::string& name) { return exporters::find_served_metric(name); }

// The family a series name belongs to: the name itself when it is in the
// list, or the histogram it is a _bucket/_count/_sum series of. nullopt when
// it belongs to no family in the list.
inline std::optional<std::string> family_of(const std::string& name) {
  if (exporters::is_served_metric(name)) return name;
  for (const char* suffix : {"_bucket", "_count", "_sum"}) {
    const std::string s = suffix;
    if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
      const std::string base = name.substr(0, name.size() - s.size());
      const MetricName* m = find_metric(base);
      if (m != nullptr && std::string(m->type) == "histogram") return base;
    }
  }
  return std::nullopt;
}

// Names outside strings used as metric selectors: an identifier followed by
// `{`, or a canopy/process name anywhere.
struct Selector {
  std::string name;
  std::string matchers;  // text between { and }, empty when there are none
  bool has_braces;
  size_t begin;
};

inline std::vector<Selector> selectors(const std::string& expr) {
  std::vector<Selector> out;
  for (const auto& t : identifiers(expr)) {
    if (t.in_string) continue;
    size_t k = t.end;
    while (k < expr.size() && std::isspace(static_cast<unsigned char>(expr[k]))) ++k;
    const bool braces = k < expr.size() && expr[k] == '{';
    const bool metric_like = t.text.rfind("canopy_", 0) == 0 || t.text.rfind("process_", 0) == 0;
    if (!braces && !metric_like) continue;
    std::string matchers;
    if (braces) {
      const size_t close = expr.find('}', k);
      matchers = expr.substr(k + 1, close == std::string::npos ? std::string::npos : close - k - 1);
    }
    out.push_back({t.text, matchers, braces, t.begin});
  }
  return out;
}

// The function whose argument list most closely encloses position `pos`
// ("" at the top level or inside a bare parenthesis).
inline std::string enclosing_function(const std::string& expr, size_t pos) {
  int depth = 0;
  for (size_t i = pos; i-- > 0;) {
    const char c = expr[i];
    if (c == ')') {
      ++depth;
    } else if (c == '(') {
      if (depth == 0) {
        size_t e = i;
        while (e > 0 && std::isspace(static_cast<unsigned char>(expr[e - 1]))) --e;
        size_t b = e;
        while (b > 0 && ident_char(expr[b - 1])) --b;
        return expr.substr(b, e - b);
      }
      --depth;
    }
  }
  return {};
}

// Template variables referenced as $name or ${name} (or ${name:format}).
// Not $1, $2...: label_replace's references to its regex groups, which
// Grafana leaves alone (no variable is named by a number).
inline std::set<std::string> variables_used(const std::string& text) {
  std::set<std::string> out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '$') continue;
    size_t j = i + 1;
    const bool braced = j < text.size() && text[j] == '{';
    if (braced) ++j;
    if (!braced && j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) continue;
    const size_t b = j;
    while (j < text.size() && (std::isalnum(static_cast<unsigned char>(text[j])) || text[j] == '_')) ++j;
    if (j > b) out.insert(text.substr(b, j - b));
  }
  return out;
}

// True when (), [] and {} nest properly outside strings.
inline bool balanced(const std::string& expr) {
  std::string stack;
  char quote = 0;
  for (size_t i = 0; i < expr.size(); ++i) {
    const char c = expr[i];
    if (quote != 0) {
      if (c == '\\') {
        ++i;
      } else if (c == quote) {
        quote = 0;
      }
      continue;
    }
    if (c == '"' || c == '\'' || c == '`') {
      quote = c;
    } else if (c == '(' || c == '[' || c == '{') {
      stack.push_back(c);
    } else if (c == ')' || c == ']' || c == '}') {
      const char open = c == ')' ? '(' : c == ']' ? '[' : '{';
      if (stack.empty() || stack.back() != open) return false;
      stack.pop_back();
    }
  }
  return stack.empty() && quote == 0;
}

}  // namespace canopy::dashboard_test
