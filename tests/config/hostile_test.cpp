// Hostile configs: names a megabyte long, control characters in values,
// mappings with very many keys. Each gets a short, clear error (and quickly:
// nothing here is quadratic in the input any more).
#include <catch2/catch.hpp>

#include "support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_config_hostile_test {

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
               "(faults: mailbox_flood, table_leak, orphans, crash_loop, runaway, boot_failure, heap_leak)"});
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
    // The name is cut short, and there is no did-you-mean.
    CHECK(e.message == "unknown metric '" + std::string(80, 'a') +
                           "\u2026' (1000000 bytes): use a canopy metric, one of telemetry.metrics, or `up` (or "
                           "write expr)");
  }
}

TEST_CASE("a 1 MB name that starts like a known one is not suggested that one", "[config][errors][hostile]") {
  // One word a prefix of the other counts as close ("warning" -> "warn"); a
  // megabyte past the prefix does not.
  const ConfigError e = only_error("alerts:\n  rules:\n    - name: Big\n      metric: canopy_process_usage_ratio" +
                                   kMegabyte + "\n      threshold: 1\n");
  CHECK(starts_with(e.message, "unknown metric 'canopy_process_usage_ratioaaaa"));
  CHECK(e.message.size() < 300);
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

// ---------------------------------------------------------------- control characters and long values

TEST_CASE("a value with a newline cannot forge an error line of its own", "[config][errors][hostile]") {
  const LoadResult r = load_string(lines({
                                       "logging:",
                                       R"(  level: "loud\ntest.yaml:1:1: node.name: forged")",
                                   }),
                                   "test.yaml");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].to_string() ==
        "test.yaml:2:10: logging.level: expected one of trace, debug, info, warn, error, critical, off, got "
        "'loud\\ntest.yaml:1:1: node.name: forged'");
}

TEST_CASE("control characters in values and keys are escaped in errors", "[config][errors][hostile]") {
  CHECK(errors_of(lines({"runtime:", R"(  schedulers: "1\t2\r3\x01\x1f\x7f")"})) ==
        Errors{R"(test.yaml:2:15: runtime.schedulers: expected a whole number, got '1\t2\r3\x01\x1f\x7f')"});
  // A key with a newline: in the key path and in the message.
  CHECK(errors_of(lines({"node:", R"(  labels: {"a\nb": x})"})) ==
        Errors{R"(test.yaml:2:12: node.labels.a\nb: 'a\nb' is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, )"
               "not starting with __)"});
  CHECK(errors_of(lines({"server:", R"(  ? "list\nen")", "  : 1"})) ==
        Errors{R"(test.yaml:2:5: server.list\nen: unknown key 'list\nen' (did you mean 'listen'?))"});
  // yaml-cpp's own messages quote the input too.
  CHECK(errors_of(lines({"server:", "  listen: \"a\\\x01\""})) ==
        Errors{R"(test.yaml:2:15: unknown escape character: \x01)"});
  // Backslashes and UTF-8 are left as they are.
  CHECK(errors_of(lines({"logging:", "  level: 'a\\b \u00e9'"})) ==
        Errors{"test.yaml:2:10: logging.level: expected one of trace, debug, info, warn, error, critical, off, "
               "got 'a\\b \u00e9'"});
}

TEST_CASE("long values show their first 80 bytes and their length", "[config][errors][hostile]") {
  CHECK(errors_of(lines({"runtime:", ("  schedulers: " + std::string(1000, '7') + "x").c_str()})) ==
        Errors{"test.yaml:2:15: runtime.schedulers: expected a whole number, got '" + std::string(80, '7') +
               "\u2026' (1001 bytes)"});
  // Exactly 80 bytes: shown whole.
  CHECK(errors_of(lines({"runtime:", ("  schedulers: " + std::string(79, '7') + "x").c_str()})) ==
        Errors{"test.yaml:2:15: runtime.schedulers: expected a whole number, got '" + std::string(79, '7') + "x'"});
  // The cut does not split a UTF-8 character: 'a' and 39 two-byte characters.
  std::string e_acute;
  for (int i = 0; i < 100; ++i) e_acute += "\u00e9";
  const ConfigError e = only_error("logging:\n  level: a" + e_acute + "\n");
  std::string shown = "a";
  for (int i = 0; i < 39; ++i) shown += "\u00e9";
  CHECK(ends_with(e.message, "got '" + shown + "\u2026' (201 bytes)"));
  // The cut is in bytes of the value, before escaping: 200 control characters.
  std::string controls, escaped;
  for (int i = 0; i < 200; ++i) controls += "\\x01";
  for (int i = 0; i < 80; ++i) escaped += "\\x01";
  const ConfigError ctl = only_error("logging:\n  level: \"" + controls + "\"\n");
  CHECK(ends_with(ctl.message, "got '" + escaped + "\u2026' (200 bytes)"));
  // Numbers, out of range, are cut the same way (they are not quoted).
  CHECK(errors_of(lines({"runtime:", ("  schedulers: " + std::string(1000, '9')).c_str()})) ==
        Errors{"test.yaml:2:15: runtime.schedulers: must be from 0 to 4096, got " + std::string(80, '9') +
               "\u2026 (1000 bytes)"});
}

TEST_CASE("a 1 MB key is cut short in the key path too", "[config][errors][hostile]") {
  const ConfigError e = only_error("server:\n  ? " + kMegabyte + "\n  : 1\n");
  CHECK(e.path == "server." + std::string(193, 'a') + "\u2026 (1000007 bytes)");
  CHECK(e.message == "unknown key '" + std::string(80, 'a') + "\u2026' (1000000 bytes)");
}

TEST_CASE("the admin token file's name is escaped in its errors", "[config][errors][hostile]") {
  canopy::config::test::ScopedEnv no_env("CANOPY_ADMIN_TOKEN", nullptr);
  LoadResult r = load_string(lines({"server:", R"(  admin_token_file: "/nonexistent/a\nb")"}), "test.yaml");
  REQUIRE_LOADS(r);
  const auto e = apply_admin_token(*r.config);
  REQUIRE(e.has_value());
  CHECK(e->to_string() ==
        R"(test.yaml:2:3: server.admin_token_file: cannot read admin token file '/nonexistent/a\nb': No such file )"
        "or directory");
}

TEST_CASE("a ConfigError made anywhere prints on one line", "[config][errors][hostile]") {
  const ConfigError e{"a\nb.yaml", 1, 2, "x\ry", "one\ntwo\x1b[31m"};
  CHECK(e.to_string() == R"(a\nb.yaml:1:2: x\ry: one\ntwo\x1b[31m)");
  Config c;
  c.source = "c.yaml";
  CHECK(c.error_at("telemetry.metrics[0]", "bad\nthing").message == R"(bad\nthing)");
}

// ---------------------------------------------------------------- nesting and aliases

TEST_CASE("nesting 10,000 levels deep is one error naming the parser's limit", "[config][errors][hostile]") {
  // yaml-cpp stops at 500 levels (it does not recurse on) but said only "bad file".
  const std::string limit =
      "nested deeper than 500 levels, the YAML parser's limit (a canopy config nests a few levels)";
  const std::string deep = std::string(10'000, '[') + std::string(10'000, ']');
  CHECK(errors_of("node:\n  labels: " + deep + "\n") == Errors{"test.yaml:2:20011: " + limit});
  std::string dashes;
  for (int i = 0; i < 10'000; ++i) dashes += "- ";
  CHECK(errors_of(dashes + "x\n") == Errors{"test.yaml:1:1000: " + limit});
  std::string maps;
  for (int i = 0; i < 10'000; ++i) maps += "{a: ";
  CHECK(errors_of("node: " + maps + "\n").size() == 1);
  // Below the limit the document parses, and the schema says what is wrong.
  const std::string shallow = std::string(400, '[') + std::string(400, ']');
  CHECK(errors_of("node:\n  labels: " + shallow + "\n") ==
        Errors{"test.yaml:2:11: node.labels: expected a mapping, got a list"});
}

TEST_CASE("an alias bomb is read as the shared nodes it is, not expanded", "[config][errors][hostile]") {
  // Ten levels of ten aliases each: 10^10 items if anything expanded them.
  std::string text = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int i = 1; i < 10; ++i) {
    text += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int j = 0; j < 10; ++j) text += (j == 0 ? "*a" : ", *a") + std::to_string(i - 1);
    text += "]\n";
  }
  text += "workload:\n  faults: *a9\n";
  const LoadResult r = load_string(text, "test.yaml");
  // The ten unknown top-level keys, and each of the ten items of the list,
  // which are lists where a fault name belongs.
  REQUIRE(r.errors.size() == 20);
  CHECK(r.errors[0].to_string() == "test.yaml:1:1: a0: unknown key 'a0'");
  size_t lists = 0;
  for (const auto& e : r.errors) lists += e.message == "expected a string, got a list" ? 1 : 0;
  CHECK(lists == 10);
}

}  // namespace test_config_hostile_test
