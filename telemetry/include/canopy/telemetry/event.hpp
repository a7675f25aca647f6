#pragma once
// Event names, measurements and metadata: the vocabulary of the telemetry
// bus, as in Erlang's :telemetry. Measurements and metadata live in small
// inline arrays of string_views, so emitting allocates nothing; they borrow
// the caller's strings for the duration of the (synchronous) call.
// Threading rule: plain values; an Event handle is thread-safe.
#include <algorithm>
#include <array>
#include <new>
#include <type_traits>
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
  static_assert(std::is_trivially_destructible_v<Entry>, "entries live in raw storage");
  // User-provided, not defaulted: `Metadata{}` (execute's default argument)
  // would otherwise zero all of the raw storage on every call.
  SmallMap() noexcept {}
  SmallMap(std::initializer_list<Entry> entries) {
    for (const auto& e : entries) set(e.first, e.second);
  }
  SmallMap(const SmallMap& o) : size_(o.size_) { std::copy(o.begin(), o.end(), data()); }
  SmallMap& operator=(const SmallMap& o) {
    size_ = o.size_;
    std::copy(o.begin(), o.end(), data());
    return *this;
  }
  // Replaces the value of `key`, or appends it. Entries past N are ignored
  // (a deliberate bound: events carry a handful of values).
  void set(std::string_view key, V value) {
    for (size_t i = 0; i < size_; ++i) {
      if (data()[i].first == key) {
        data()[i].second = value;
        return;
      }
    }
    if (size_ < N) new (data() + size_++) Entry(key, value);
  }
  const V* find(std::string_view key) const {
    for (size_t i = 0; i < size_; ++i) {
      if (data()[i].first == key) return &data()[i].second;
    }
    return nullptr;
  }
  size_t size() const { return size_; }
  const Entry* begin() const { return data(); }
  const Entry* end() const { return data() + size_; }

 private:
  // Raw storage: building an empty or small map touches only what it uses,
  // so an execute() that finds no handler costs next to nothing.
  Entry* data() { return std::launder(reinterpret_cast<Entry*>(storage_)); }
  const Entry* data() const { return std::launder(reinterpret_cast<const Entry*>(storage_)); }
  size_t size_ = 0;
  alignas(Entry) unsigned char storage_[N * sizeof(Entry)];
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
