#pragma once
// Event names, measurements and metadata: the vocabulary of the telemetry
// bus, as in Erlang's :telemetry. Measurements and metadata live in small
// inline arrays of string_views, so emitting allocates nothing; they borrow
// the caller's strings for the duration of the (synchronous) call.
// Threading rule: plain values; an Event handle is thread-safe.
#include <array>
#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace canopy::telemetry {

// A list of atoms: {"canopy", "process", "spawn"}.
using EventName = std::vector<std::string>;
// "canopy.process.spawn"
std::string to_string(const EventName& name);

template <typename V, size_t N>
class SmallMap {
 public:
  using Entry = std::pair<std::string_view, V>;
  SmallMap() = default;
  SmallMap(std::initializer_list<Entry> entries) {
    for (const auto& e : entries) set(e.first, e.second);
  }
  // Replaces the value of `key`, or appends it. Entries past N are ignored
  // (a deliberate bound: events carry a handful of values).
  void set(std::string_view key, V value) {
    for (size_t i = 0; i < size_; ++i) {
      if (entries_[i].first == key) {
        entries_[i].second = value;
        return;
      }
    }
    if (size_ < N) entries_[size_++] = Entry(key, value);
  }
  const V* find(std::string_view key) const {
    for (size_t i = 0; i < size_; ++i) {
      if (entries_[i].first == key) return &entries_[i].second;
    }
    return nullptr;
  }
  size_t size() const { return size_; }
  const Entry* begin() const { return entries_.data(); }
  const Entry* end() const { return entries_.data() + size_; }

 private:
  std::array<Entry, N> entries_{};
  size_t size_ = 0;
};

// Metadata values: text or a number.
class MetaValue {
 public:
  MetaValue() = default;
  MetaValue(std::string_view text) : text_(text), is_number_(false) {}
  MetaValue(const char* text) : text_(text), is_number_(false) {}
  MetaValue(const std::string& text) : text_(text), is_number_(false) {}
  MetaValue(double number) : number_(number), is_number_(true) {}
  MetaValue(int number) : number_(number), is_number_(true) {}
  MetaValue(int64_t number) : number_(static_cast<double>(number)), is_number_(true) {}
  MetaValue(uint64_t number) : number_(static_cast<double>(number)), is_number_(true) {}
  MetaValue(uint32_t number) : number_(number), is_number_(true) {}
  bool is_number() const { return is_number_; }
  std::string_view text() const { return text_; }
  double number() const { return number_; }
  // Text as is; numbers without a trailing ".0" for whole values.
  std::string to_string() const;

 private:
  std::string_view text_;
  double number_ = 0;
  bool is_number_ = false;
};

using Measurements = SmallMap<double, 8>;
using Metadata = SmallMap<MetaValue, 8>;

}  // namespace canopy::telemetry
