#pragma once
// The value syntax of canopy.yaml: durations ("500ms", "1.5s", "5m", "1h30m",
// "250us") and sizes ("64MiB", "10MB", "512"). Plain functions, thread-safe.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace canopy::config {

// One or more <number><unit> groups, unit one of ns, us, ms, s, m, h, d; the
// number may have a fraction ("1.5s"). A bare "0" is zero. nullopt when the
// text is anything else (a bare number other than 0 has no unit: an error).
std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text);

// <number>[unit], unit one of B, KB/kB, MB, GB, TB (powers of 1000) or KiB,
// MiB, GiB, TiB (powers of 1024); no unit = bytes. The result must be a whole
// number of bytes. nullopt when the text is anything else or too large.
std::optional<uint64_t> parse_size(std::string_view text);

// A duration in the form Prometheus reads back: "5m", "1h30m", "1m30s",
// "500ms", "0s".
std::string format_duration(std::chrono::milliseconds duration);

}  // namespace canopy::config
