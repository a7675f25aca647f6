// Hostile configs: names a megabyte long, control characters in values,
// mappings with very many keys. Each gets a short, clear error (and quickly:
// nothing here is quadratic in the input any more).
#include <catch2/catch.hpp>

#include "support.hpp"

using namespace canopy::config;
using canopy::config::test::errors_of;
using canopy::config::test::lines;
using Errors = std::vector<std::string>;

namespace {

const std::string kMegabyte(1'000'000, 'a');

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The one error of loading `text`.
ConfigError only_error(const std::string& text) {
  const LoadResult r = load_string(text, "test.yaml");
  REQUIRE(r.errors.size() == 1);
  return r.errors[0];
}

}  // namespace

TEST_CASE("did-you-mean still finds typos, transpositions and prefixes", "[config][errors][hostile]") {
  CHECK(errors_of(lines({"logging:", "  level: wran"})) ==
        Errors{"test.yaml:2:10: logging.level: expected one of trace, debug, info, warn, error, critical, off, got "
               "'wran' (did you mean 'warn'?)"});
  CHECK(errors_of(lines({"workload:", "  faults: [table_leak_fault]"})) ==
        Errors{"test.yaml:2:12: workload.faults[0]: unknown fault 'table_leak_fault' (did you mean 'table_leak'?) "
               "(faults: mailbox_flood, table_leak, orphans, crash_loop, runaway, boot_failure)"});
}

TEST_CASE("1 MB alert metric names are errors without a did-you-mean", "[config][errors][hostile]") {
  // Each used to take the edit distance of a million characters against
  // every metric name: 23 s and 380 MB in the release build, so these eight
  // ran into ctest's timeout.
  std::string text = "alerts:\n  rules:\n";
  for (int i = 0; i < 8; ++i)
    text += "    - name: Big" + std::to_string(i) + "\n      metric: " + kMegabyte + "\n      threshold: 1\n";
  const LoadResult r = load_string(text, "test.yaml");
  REQUIRE(r.errors.size() == 8);
  for (int i = 0; i < 8; ++i) {
    const ConfigError& e = r.errors[static_cast<size_t>(i)];
    CHECK(e.line == 4 + 3 * i);
    CHECK(e.path == "alerts.rules[" + std::to_string(i) + "].metric");
    CHECK(starts_with(e.message, "unknown metric 'aaaa"));
    CHECK(e.message.find("did you mean") == std::string::npos);
    CHECK(ends_with(e.message, ": use a canopy metric, one of telemetry.metrics, or `up` (or write expr)"));
  }
}

TEST_CASE("a 1 MB name that starts like a known one is not suggested that one", "[config][errors][hostile]") {
  // One word a prefix of the other counts as close ("warning" -> "warn"); a
  // megabyte past the prefix does not.
  const ConfigError e = only_error("alerts:\n  rules:\n    - name: Big\n      metric: canopy_process_usage_ratio" +
                                   kMegabyte + "\n      threshold: 1\n");
  CHECK(starts_with(e.message, "unknown metric 'canopy_process_usage_ratioaaaa"));
  CHECK(e.message.find("did you mean") == std::string::npos);
}

TEST_CASE("1 MB names everywhere a did-you-mean is offered get plain errors", "[config][errors][hostile]") {
  SECTION("an unknown key") {
    // An explicit key: YAML limits implicit ones to 1024 characters.
    const ConfigError e = only_error("server:\n  ? " + kMegabyte + "\n  : 1\n");
    CHECK(starts_with(e.message, "unknown key 'aaaa"));
    CHECK(e.message.find("did you mean") == std::string::npos);
  }
  SECTION("an enum value") {
    const ConfigError e = only_error("logging:\n  level: " + kMegabyte + "\n");
    CHECK(starts_with(e.message, "expected one of trace, debug, info, warn, error, critical, off, got 'aaaa"));
    CHECK(e.message.find("did you mean") == std::string::npos);
  }
  SECTION("a workload fault") {
    const ConfigError e = only_error("workload:\n  faults: [" + kMegabyte + "]\n");
    CHECK(starts_with(e.message, "unknown fault 'aaaa"));
    CHECK(e.message.find("did you mean") == std::string::npos);
  }
  SECTION("a canopy_ name in expr") {
    const ConfigError e = only_error("alerts:\n  rules:\n    - name: Big\n      expr: canopy_" + kMegabyte + " > 1\n");
    CHECK(starts_with(e.message, "unknown metric 'canopy_aaaa"));
    CHECK(e.message.find("did you mean") == std::string::npos);
  }
}

TEST_CASE("a mapping with 100,000 keys reports each unknown and duplicate key", "[config][errors][hostile]") {
  // Keys used to be looked up (and checked for duplicates) one by one.
  std::string text = "node:\n";
  for (int i = 0; i < 100'000; ++i) text += "  k" + std::to_string(i) + ": 1\n";
  text += "  k7: 2\n";
  const LoadResult r = load_string(text, "test.yaml");
  REQUIRE(r.errors.size() == 100'001);
  CHECK(r.errors[0].to_string() == "test.yaml:2:3: node.k0: unknown key 'k0'");
  CHECK(r.errors.back().to_string() == "test.yaml:100002:3: node.k7: duplicate key 'k7' (first at line 9)");
}
