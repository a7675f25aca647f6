#include "reader.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

#include "canopy/config/units.hpp"

namespace canopy::config::detail {

Mark to_mark(const YAML::Mark& mark) {
  if (mark.is_null()) return {};
  return {mark.line + 1, mark.column + 1};
}

std::string join(const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; }

std::string indexed(const std::string& path, size_t index) { return path + "[" + std::to_string(index) + "]"; }

std::string schema_path(const std::string& path) {
  std::string out;
  out.reserve(path.size());
  for (size_t i = 0; i < path.size(); ++i) {
    out += path[i];
    if (path[i] == '[') {
      while (i + 1 < path.size() && path[i + 1] != ']') ++i;
    }
  }
  return out;
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return quote(node.Scalar());
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

size_t edit_distance(const std::string& a, const std::string& b) {
  // Three rows of the shorter word (a transposition looks two rows back):
  // O(min(n, m)) memory. The distance is symmetric, so which is which does
  // not matter.
  const std::string& row_word = a.size() < b.size() ? a : b;
  const std::string& col_word = a.size() < b.size() ? b : a;
  const size_t m = row_word.size();
  std::vector<size_t> before(m + 1), previous(m + 1), current(m + 1);
  for (size_t j = 0; j <= m; ++j) previous[j] = j;
  for (size_t i = 1; i <= col_word.size(); ++i) {
    current[0] = i;
    for (size_t j = 1; j <= m; ++j) {
      const size_t cost = col_word[i - 1] == row_word[j - 1] ? 0 : 1;
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost});
      if (i > 1 && j > 1 && col_word[i - 1] == row_word[j - 2] && col_word[i - 2] == row_word[j - 1])
        current[j] = std::min(current[j], before[j - 2] + 1);
    }
    std::swap(before, previous);   // before: row i - 1
    std::swap(previous, current);  // previous: row i
  }
  return previous[m];
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  // Close enough: at most a third of the longer word in edits (at least one),
  // or one word a prefix of the other ("warning" -> "warn").
  // A tie between two candidates suggests neither ("drop" -> drop_newest? drop_oldest?).
  // A word longer than kMaxSuggestLength gets no suggestion: no name canopy
  // knows is that long, and the distance costs length times length.
  if (word.size() > kMaxSuggestLength) return "";
  const std::string* best = nullptr;
  size_t best_distance = 0;
  bool tie = false;
  for (const auto& c : candidates) {
    const size_t limit = std::max<size_t>(1, std::max(word.size(), c.size()) / 3);
    const size_t shorter = std::min(word.size(), c.size());
    const size_t length_difference = std::max(word.size(), c.size()) - shorter;
    const bool prefix = word.compare(0, shorter, c, 0, shorter) == 0;
    // Each edit changes the length by at most one: the difference alone can
    // rule a candidate out, and is the distance when one word is a prefix.
    if (length_difference > limit && !(prefix && shorter >= 3)) continue;
    const size_t d = prefix ? length_difference : edit_distance(word, c);
    if (d == 0) return "";
    if (d > limit && !(prefix && shorter >= 3)) continue;
    if (best != nullptr && d == best_distance) tie = true;
    if (best == nullptr || d < best_distance) {
      best = &c;
      best_distance = d;
      tie = false;
    }
  }
  return best == nullptr || tie ? "" : " (did you mean '" + *best + "'?)";
}

void Loader::error(Mark mark, const std::string& path, std::string message) {
  // Values in messages come quote(); this catches what does not (yaml-cpp's
  // own messages), and the keys of the file in the path.
  errors_.push_back(ConfigError{file_, mark.line, mark.column, clipped(path, kPathMax), escape_control(message)});
}

Mark Loader::where(const std::string& path) const {
  auto it = locations_.find(path);
  return it == locations_.end() ? Mark{} : it->second;
}

std::vector<ConfigError> Loader::take_errors() {
  std::stable_sort(errors_.begin(), errors_.end(), [](const ConfigError& a, const ConfigError& b) {
    return std::pair(a.line, a.column) < std::pair(b.line, b.column);
  });
  return std::move(errors_);
}

// ---------------------------------------------------------------- MapReader

MapReader::MapReader(Loader& loader, const YAML::Node& node, std::string path)
    : loader_(loader), path_(std::move(path)), mark_(to_mark(node.Mark())) {
  if (!node.IsDefined() || node.IsNull()) return;
  if (!node.IsMap()) {
    loader_.error(node, path_, "expected a mapping, got " + describe(node));
    ok_ = false;
    return;
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    const YAML::Node k = it->first;
    if (!k.IsScalar()) {
      loader_.error(k, path_, "keys must be strings, got " + describe(k));
      continue;
    }
    const std::string key = k.Scalar();
    auto [at, fresh] = index_.emplace(key, entries_.size());
    if (!fresh) {
      const Entry& first = entries_[at->second];
      loader_.error(k, join(path_, key),
                    "duplicate key " + quote(key) + " (first at line " +
                        std::to_string(to_mark(first.key_node.Mark()).line) + ")");
      continue;
    }
    entries_.push_back(Entry{key, k, it->second});
  }
}

const MapReader::Entry* MapReader::find(const char* key) const {
  auto it = index_.find(key);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

const YAML::Node* MapReader::get(const char* key) {
  registered_.emplace_back(key);
  loader_.known(join(path_, key));
  auto it = index_.find(key);
  if (it == index_.end()) return nullptr;
  Entry& e = entries_[it->second];
  e.used = true;
  loader_.located(join(path_, key), e.key_node);
  return &e.value;
}

bool MapReader::has(const char* key) const { return find(key) != nullptr; }

Mark MapReader::value_mark(const char* key) const {
  const Entry* e = find(key);
  return e != nullptr ? to_mark(e->value.Mark()) : mark_;
}

Mark MapReader::key_mark(const char* key) const {
  const Entry* e = find(key);
  return e != nullptr ? to_mark(e->key_node.Mark()) : mark_;
}

void MapReader::require(const char* key) {
  if (ok_ && !has(key)) loader_.error(mark_, path_, std::string("missing required key '") + key + "'");
}

void MapReader::finish() {
  if (finished_) return;
  finished_ = true;
  std::vector<std::string> known_keys;  // copied once, not once per unknown key
  bool have_known_keys = false;
  for (const auto& e : entries_) {
    if (e.used) continue;
    std::string hint = did_you_mean(e.key, registered_);
    if (hint.empty()) {
      // A key of another section ("poll_interval" at the top level).
      if (!have_known_keys) {
        known_keys = loader_.known_keys();
        have_known_keys = true;
      }
      for (const auto& known : known_keys) {
        const size_t dot = known.rfind('.');
        if (dot != std::string::npos && known.compare(dot + 1, std::string::npos, e.key) == 0) {
          hint = " (did you mean '" + known + "'?)";
          break;
        }
      }
    }
    loader_.error(e.key_node, join(path_, e.key), "unknown key " + quote(e.key) + hint);
  }
}

// ---------------------------------------------------------------- scalars

namespace {

bool scalar(Loader& l, const YAML::Node& v, const std::string& path, const std::string& expected) {
  if (v.IsScalar()) return true;
  l.error(v, path, "expected " + expected + ", got " + describe(v));
  return false;
}

}  // namespace

bool read_string(Loader& l, const YAML::Node& v, const std::string& path, std::string& out) {
  if (v.IsNull()) {
    out.clear();
    return true;
  }
  if (!scalar(l, v, path, "a string")) return false;
  out = v.Scalar();
  return true;
}

bool read_nonempty_string(Loader& l, const YAML::Node& v, const std::string& path, std::string& out) {
  if (!scalar(l, v, path, "a non-empty string")) return false;
  if (v.Scalar().empty()) {
    l.error(v, path, "must not be empty");
    return false;
  }
  out = v.Scalar();
  return true;
}

bool read_bool(Loader& l, const YAML::Node& v, const std::string& path, bool& out) {
  if (!scalar(l, v, path, "true or false")) return false;
  std::string t = v.Scalar();
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (t == "true" || t == "yes" || t == "on") {
    out = true;
    return true;
  }
  if (t == "false" || t == "no" || t == "off") {
    out = false;
    return true;
  }
  l.error(v, path, "expected true or false, got " + quote(v.Scalar()));
  return false;
}

bool read_u64(Loader& l, const YAML::Node& v, const std::string& path, uint64_t min, uint64_t max, uint64_t& out) {
  if (!scalar(l, v, path, "a whole number")) return false;
  const std::string& text = v.Scalar();
  // Digits, with "_" allowed between them (1_000_000).
  std::string digits;
  bool ok = !text.empty() && text.front() != '_' && text.back() != '_';
  for (char c : text) {
    if (c >= '0' && c <= '9') {
      digits += c;
    } else if (c != '_') {
      ok = false;
    }
  }
  uint64_t value = 0;
  if (ok) {
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ec == std::errc::result_out_of_range) {
      l.error(v, path, "must be from " + std::to_string(min) + " to " + std::to_string(max) + ", got " + clipped(text));
      return false;
    }
    ok = ec == std::errc() && p == digits.data() + digits.size();
  }
  if (!ok) {
    l.error(v, path, "expected a whole number, got " + quote(text));
    return false;
  }
  if (value < min || value > max) {
    if (max == std::numeric_limits<uint64_t>::max() || max == std::numeric_limits<uint32_t>::max()) {
      l.error(v, path,
              value < min ? "must be at least " + std::to_string(min) + ", got " + clipped(text)
                          : "must be at most " + std::to_string(max) + ", got " + clipped(text));
    } else {
      l.error(v, path, "must be from " + std::to_string(min) + " to " + std::to_string(max) + ", got " + clipped(text));
    }
    return false;
  }
  out = value;
  return true;
}

bool read_double(Loader& l, const YAML::Node& v, const std::string& path, double& out) {
  if (!scalar(l, v, path, "a number")) return false;
  const std::string& text = v.Scalar();
  double value = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || p != text.data() + text.size() || !std::isfinite(value)) {
    l.error(v, path, "expected a number, got " + quote(text));
    return false;
  }
  out = value;
  return true;
}

bool read_duration(Loader& l, const YAML::Node& v, const std::string& path, std::chrono::milliseconds& out,
                   bool allow_zero) {
  if (!scalar(l, v, path, "a duration like 500ms or 5m")) return false;
  const std::string& text = v.Scalar();
  const auto d = parse_duration(text);
  if (!d) {
    l.error(v, path, "expected a duration like 500ms or 5m, got " + quote(text));
    return false;
  }
  if (d->count() % 1'000'000 != 0) {
    l.error(v, path, "must be a whole number of milliseconds, got " + quote(text));
    return false;
  }
  if (!allow_zero && d->count() == 0) {
    l.error(v, path, "must be longer than 0");
    return false;
  }
  out = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
  return true;
}

bool read_size(Loader& l, const YAML::Node& v, const std::string& path, uint64_t& out) {
  if (!scalar(l, v, path, "a size like 64MiB or 512")) return false;
  const auto s = parse_size(v.Scalar());
  if (!s) {
    l.error(v, path, "expected a size like 64MiB or 512, got " + quote(v.Scalar()));
    return false;
  }
  out = *s;
  return true;
}

}  // namespace canopy::config::detail
