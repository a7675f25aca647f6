// Durations and sizes as canopy.yaml writes them.
#include "canopy/config/units.hpp"

#include <charconv>
#include <cmath>
#include <limits>

namespace canopy::config {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads [0-9]+(\.[0-9]+)? at `i`; the integer and fraction digits.
bool read_number(std::string_view t, size_t& i, std::string_view& whole, std::string_view& frac) {
  const size_t start = i;
  while (i < t.size() && is_digit(t[i])) ++i;
  whole = t.substr(start, i - start);
  frac = {};
  if (i < t.size() && t[i] == '.') {
    const size_t f = ++i;
    while (i < t.size() && is_digit(t[i])) ++i;
    frac = t.substr(f, i - f);
    if (frac.empty()) return false;  // "1." is not a number
  }
  return !whole.empty();
}

// whole.frac * multiplier, exactly, when it is an integer that fits.
std::optional<uint64_t> scale(std::string_view whole, std::string_view frac, uint64_t multiplier) {
  if (whole.size() > 20 || frac.size() > 18) return std::nullopt;
  unsigned __int128 w = 0;
  for (char c : whole) w = w * 10 + static_cast<unsigned>(c - '0');
  unsigned __int128 f = 0, denominator = 1;
  for (char c : frac) {
    f = f * 10 + static_cast<unsigned>(c - '0');
    denominator *= 10;
  }
  const unsigned __int128 fraction_scaled = f * multiplier;
  if (fraction_scaled % denominator != 0) return std::nullopt;
  const unsigned __int128 total = w * multiplier + fraction_scaled / denominator;
  if (total > std::numeric_limits<uint64_t>::max()) return std::nullopt;
  return static_cast<uint64_t>(total);
}

}  // namespace

std::optional<std::chrono::nanoseconds> parse_duration(std::string_view t) {
  if (t == "0") return std::chrono::nanoseconds{0};
  if (t.empty()) return std::nullopt;
  struct UnitDef {
    std::string_view name;
    uint64_t ns;
  };
  // Two-letter units first, so "ms" is not read as "m" + "s".
  static constexpr UnitDef kUnits[] = {
      {"ns", 1},
      {"us", 1'000},
      {"\xc2\xb5s", 1'000},  // µs
      {"ms", 1'000'000},
      {"s", 1'000'000'000},
      {"m", 60'000'000'000},
      {"h", 3'600'000'000'000},
      {"d", 86'400'000'000'000},
  };
  unsigned __int128 total = 0;
  size_t i = 0;
  while (i < t.size()) {
    std::string_view whole, frac;
    if (!read_number(t, i, whole, frac)) return std::nullopt;
    const UnitDef* unit = nullptr;
    for (const auto& u : kUnits) {
      if (t.substr(i, u.name.size()) == u.name) {
        unit = &u;
        break;
      }
    }
    if (unit == nullptr) return std::nullopt;
    i += unit->name.size();
    // Fractions finer than a nanosecond are an error rather than rounded.
    const std::optional<uint64_t> part = scale(whole, frac, unit->ns);
    if (!part) return std::nullopt;
    total += *part;
    if (total > static_cast<unsigned __int128>(std::numeric_limits<int64_t>::max())) return std::nullopt;
  }
  return std::chrono::nanoseconds{static_cast<int64_t>(total)};
}

std::optional<uint64_t> parse_size(std::string_view t) {
  size_t i = 0;
  std::string_view whole, frac;
  if (!read_number(t, i, whole, frac)) return std::nullopt;
  const std::string_view unit = t.substr(i);
  struct UnitDef {
    std::string_view name;
    uint64_t bytes;
  };
  static constexpr UnitDef kUnits[] = {
      {"", 1},
      {"B", 1},
      {"KB", 1'000},
      {"kB", 1'000},
      {"MB", 1'000'000},
      {"GB", 1'000'000'000},
      {"TB", 1'000'000'000'000},
      {"KiB", uint64_t{1} << 10},
      {"MiB", uint64_t{1} << 20},
      {"GiB", uint64_t{1} << 30},
      {"TiB", uint64_t{1} << 40},
  };
  for (const auto& u : kUnits) {
    if (unit == u.name) return scale(whole, frac, u.bytes);
  }
  return std::nullopt;
}

std::string format_duration(std::chrono::milliseconds duration) {
  int64_t ms = duration.count();
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) {
    out = "-";
    ms = -ms;
  }
  const int64_t h = ms / 3'600'000;
  const int64_t m = ms / 60'000 % 60;
  const int64_t s = ms / 1'000 % 60;
  const int64_t rest = ms % 1'000;
  if (h != 0) out += std::to_string(h) + "h";
  if (m != 0) out += std::to_string(m) + "m";
  if (s != 0) out += std::to_string(s) + "s";
  if (rest != 0) out += std::to_string(rest) + "ms";
  return out;
}

}  // namespace canopy::config
