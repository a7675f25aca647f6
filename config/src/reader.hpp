#pragma once
// Walking a YAML tree with errors as values: every problem is recorded with
// the node's mark and the key path, and reading goes on so that one pass
// reports all of them. Private to canopy::config (yaml-cpp stays in here).
// Owner thread only.
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "canopy/config/config.hpp"
#include "quote.hpp"

namespace canopy::config::detail {

Mark to_mark(const YAML::Mark& mark);
std::string join(const std::string& path, const std::string& key);
std::string indexed(const std::string& path, size_t index);
// "telemetry.metrics[2].name" -> "telemetry.metrics[].name"
std::string schema_path(const std::string& path);
// "nothing", "'text'", "a list", "a mapping": what was found instead.
std::string describe(const YAML::Node& node);
// Optimal string alignment distance (a transposition costs 1); O(n·m) time,
// O(min(n, m)) memory.
size_t edit_distance(const std::string& a, const std::string& b);
// Longer words get no did-you-mean (a 1 MB name must not cost minutes).
inline constexpr size_t kMaxSuggestLength = 256;
// " (did you mean 'x'?)" for the closest candidate when it is close enough; "".
// Candidates whose length alone rules them out are not compared.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

class Loader {
 public:
  explicit Loader(std::string file) : file_(std::move(file)) {}

  void error(Mark mark, const std::string& path, std::string message);
  void error(const YAML::Node& at, const std::string& path, std::string message) {
    error(to_mark(at.Mark()), path, std::move(message));
  }
  void located(const std::string& path, const YAML::Node& at) { locations_[path] = to_mark(at.Mark()); }
  void known(const std::string& path) { known_.insert(schema_path(path)); }
  Mark where(const std::string& path) const;

  const std::string& file() const { return file_; }
  bool failed() const { return !errors_.empty(); }
  std::vector<ConfigError> take_errors();  // sorted by position
  std::map<std::string, Mark> take_locations() { return std::move(locations_); }
  std::vector<std::string> known_keys() const { return {known_.begin(), known_.end()}; }

 private:
  std::string file_;
  std::vector<ConfigError> errors_;
  std::map<std::string, Mark> locations_;
  std::set<std::string> known_;
};

// One mapping: looks keys up, registers the valid ones, and at finish()
// reports every key nobody asked for as unknown (with a did-you-mean over the
// keys that were asked for). A null node reads as an empty mapping.
class MapReader {
 public:
  MapReader(Loader& loader, const YAML::Node& node, std::string path);
  MapReader(const MapReader&) = delete;
  MapReader& operator=(const MapReader&) = delete;

  bool is_map() const { return ok_; }
  const std::string& path() const { return path_; }
  Mark mark() const { return mark_; }
  // Registers `key`; calls fn(value, key_path) when the key is present.
  template <typename F>
  bool field(const char* key, F&& fn) {
    const YAML::Node* v = get(key);
    if (v == nullptr) return false;
    fn(*v, join(path_, key));
    return true;
  }
  // Registers `key`; the value when present, else nullptr.
  const YAML::Node* get(const char* key);
  bool has(const char* key) const;
  // Where `key` (or its value) is; the mapping's place when it is absent.
  Mark key_mark(const char* key) const;
  Mark value_mark(const char* key) const;
  // Reports a missing required key at the mapping.
  void require(const char* key);
  void finish();

 private:
  struct Entry {
    std::string key;
    YAML::Node key_node;
    YAML::Node value;
    bool used = false;
  };
  Loader& loader_;
  std::string path_;
  Mark mark_;
  bool ok_ = true;
  bool finished_ = false;
  // Looks a key up in entries_ (a mapping may have 100,000 keys).
  const Entry* find(const char* key) const;
  std::vector<Entry> entries_;
  std::unordered_map<std::string, size_t> index_;  // key -> its place in entries_
  std::vector<std::string> registered_;
};

// ---------------------------------------------------------------- scalars
// Each returns false (after recording an error) when the value is unusable;
// `out` is then left alone.
bool read_string(Loader& l, const YAML::Node& v, const std::string& path, std::string& out);
bool read_nonempty_string(Loader& l, const YAML::Node& v, const std::string& path, std::string& out);
bool read_bool(Loader& l, const YAML::Node& v, const std::string& path, bool& out);
bool read_u64(Loader& l, const YAML::Node& v, const std::string& path, uint64_t min, uint64_t max, uint64_t& out);
bool read_double(Loader& l, const YAML::Node& v, const std::string& path, double& out);
bool read_duration(Loader& l, const YAML::Node& v, const std::string& path, std::chrono::milliseconds& out,
                   bool allow_zero = true);
bool read_size(Loader& l, const YAML::Node& v, const std::string& path, uint64_t& out);

template <typename T>
bool read_uint(Loader& l, const YAML::Node& v, const std::string& path, T& out, uint64_t min = 0,
               uint64_t max = std::numeric_limits<T>::max()) {
  uint64_t value = 0;
  if (!read_u64(l, v, path, min, max, value)) return false;
  out = static_cast<T>(value);
  return true;
}

// One of `names` (with a did-you-mean when it is none of them).
template <typename E>
bool read_enum(Loader& l, const YAML::Node& v, const std::string& path,
               const std::vector<std::pair<std::string, E>>& names, E& out, const std::string& hint = {}) {
  std::string text;
  if (!v.IsScalar()) {
    std::string list;
    for (const auto& [n, e] : names) list += (list.empty() ? "" : ", ") + n;
    l.error(v, path, "expected one of " + list + ", got " + describe(v));
    return false;
  }
  text = v.Scalar();
  std::vector<std::string> candidates;
  for (const auto& [n, e] : names) {
    if (n == text) {
      out = e;
      return true;
    }
    candidates.push_back(n);
  }
  std::string list;
  for (const auto& n : candidates) list += (list.empty() ? "" : ", ") + n;
  l.error(v, path, "expected one of " + list + ", got " + quote(text) + did_you_mean(text, candidates) + hint);
  return false;
}

// A list of scalars; each item goes through `check(item, item_path, item_node)`
// which returns false (after recording an error) to leave it out.
template <typename F>
bool read_string_list(Loader& l, const YAML::Node& v, const std::string& path, std::vector<std::string>& out,
                      F&& check) {
  if (v.IsNull()) {
    out.clear();
    return true;
  }
  if (!v.IsSequence()) {
    l.error(v, path, "expected a list, got " + describe(v));
    return false;
  }
  std::vector<std::string> items;
  bool ok = true;
  for (size_t i = 0; i < v.size(); ++i) {
    const YAML::Node item = v[i];
    const std::string item_path = indexed(path, i);
    if (!item.IsScalar()) {
      l.error(item, item_path, "expected a string, got " + describe(item));
      ok = false;
      continue;
    }
    if (!check(item.Scalar(), item_path, item)) {
      ok = false;
      continue;
    }
    items.push_back(item.Scalar());
  }
  if (ok) out = std::move(items);
  return ok;
}

// A mapping of free-form keys to scalars; `check(key, key_path, key_node)`
// validates each key.
template <typename F>
bool read_string_map(Loader& l, const YAML::Node& v, const std::string& path, std::map<std::string, std::string>& out,
                     F&& check) {
  if (v.IsNull()) {
    out.clear();
    return true;
  }
  if (!v.IsMap()) {
    l.error(v, path, "expected a mapping, got " + describe(v));
    return false;
  }
  std::map<std::string, std::string> items;
  bool ok = true;
  for (auto it = v.begin(); it != v.end(); ++it) {
    const YAML::Node k = it->first;
    const YAML::Node val = it->second;
    if (!k.IsScalar()) {
      l.error(k, path, "keys must be strings, got " + describe(k));
      ok = false;
      continue;
    }
    const std::string key_path = join(path, k.Scalar());
    if (items.count(k.Scalar()) != 0) {
      l.error(k, key_path, "duplicate key " + quote(k.Scalar()));
      ok = false;
      continue;
    }
    if (!check(k.Scalar(), key_path, k)) {
      ok = false;
      continue;
    }
    if (!val.IsScalar()) {
      l.error(val, key_path, "expected a string, got " + describe(val));
      ok = false;
      continue;
    }
    items[k.Scalar()] = val.Scalar();
  }
  if (ok) out = std::move(items);
  return ok;
}

}  // namespace canopy::config::detail
