#include <catch2/catch.hpp>

#include "canopy/config/units.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_config_units_test {

using namespace std::chrono_literals;
using canopy::config::format_duration;
using canopy::config::parse_duration;
using canopy::config::parse_size;

TEST_CASE("durations read as canopy.yaml writes them", "[config][units]") {
  CHECK(parse_duration("500ms") == std::chrono::nanoseconds(500ms));
  CHECK(parse_duration("1s") == std::chrono::nanoseconds(1s));
  CHECK(parse_duration("1.5s") == std::chrono::nanoseconds(1500ms));
  CHECK(parse_duration("5m") == std::chrono::nanoseconds(5min));
  CHECK(parse_duration("1h") == std::chrono::nanoseconds(1h));
  CHECK(parse_duration("1h30m") == std::chrono::nanoseconds(90min));
  CHECK(parse_duration("250us") == std::chrono::nanoseconds(250us));
  CHECK(parse_duration("10ns") == 10ns);
  CHECK(parse_duration("2d") == std::chrono::nanoseconds(48h));
  CHECK(parse_duration("0") == 0ns);
  CHECK(parse_duration("0s") == 0ns);
}

TEST_CASE("durations without a unit or with junk are refused", "[config][units]") {
  for (const char* bad :
       {"", "5", "fast", "1.s", ".5s", "5 m", "-1s", "1sec", "ms", "1.0000000001ns", "99999999999h"}) {
    INFO(bad);
    CHECK_FALSE(parse_duration(bad).has_value());
  }
}

TEST_CASE("sizes read as canopy.yaml writes them", "[config][units]") {
  CHECK(parse_size("512") == 512u);
  CHECK(parse_size("512B") == 512u);
  CHECK(parse_size("1KiB") == 1024u);
  CHECK(parse_size("64MiB") == 64u * 1024 * 1024);
  CHECK(parse_size("1GiB") == 1024u * 1024 * 1024);
  CHECK(parse_size("10MB") == 10'000'000u);
  CHECK(parse_size("1.5KiB") == 1536u);
  CHECK(parse_size("1TiB") == uint64_t{1} << 40);
}

TEST_CASE("sizes that are not whole bytes, too large or misspelt are refused", "[config][units]") {
  for (const char* bad : {"", "big", "64 MiB", "64mib", "1.3B", "-1", "99999999999TiB", "MiB", "1e3"}) {
    INFO(bad);
    CHECK_FALSE(parse_size(bad).has_value());
  }
}

TEST_CASE("durations format the way Prometheus reads them", "[config][units]") {
  CHECK(format_duration(0ms) == "0s");
  CHECK(format_duration(500ms) == "500ms");
  CHECK(format_duration(5min) == "5m");
  CHECK(format_duration(90s) == "1m30s");
  CHECK(format_duration(1h) == "1h");
  CHECK(format_duration(1500ms) == "1s500ms");
}

}  // namespace test_config_units_test
