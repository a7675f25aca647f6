// A bounded fuzz of the config loader. The shipped configs are mutated with
// a seeded PRNG (the same cases on every run and every machine): lines
// deleted, duplicated and swapped, bytes flipped, control bytes and invalid
// UTF-8 inserted, values replaced with alias bombs (billion laughs), nesting
// 10,000 levels deep, 1 MB strings and values of the wrong type. Each text
// must load or come back with errors: never crash, throw out of load_string,
// hang (ctest's timeout) or take unbounded memory; and no error may hold a
// raw control character or run on for kilobytes.
//
// 400 cases by default (well under 10 s in the release build);
// CANOPY_FUZZ_CASES=N runs N, CANOPY_FUZZ_SEED=S another sequence.
#include <catch2/catch.hpp>

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <optional>

#include "support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_config_fuzz_test {

using namespace canopy::config;
using canopy::config::test::source_path;

namespace {

// splitmix64: the same numbers everywhere (std's distributions are not).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  size_t below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(next() % n); }
  template <typename T>
  const T& pick(const std::vector<T>& items) {
    return items[below(items.size())];
  }

 private:
  uint64_t state_;
};

uint64_t env_number(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::strtoull(v, nullptr, 10);
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

// Lines "  key: value" (or "  - key: value"): where the value starts.
std::vector<std::pair<size_t, size_t>> value_places(const std::vector<std::string>& lines) {
  std::vector<std::pair<size_t, size_t>> out;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    size_t p = l.find_first_not_of(' ');
    if (p == std::string::npos || l[p] == '#') continue;
    if (l.compare(p, 2, "- ") == 0) p += 2;
    const size_t colon = l.find(':', p);
    if (colon == std::string::npos || colon == p) continue;
    bool key = true;
    for (size_t k = p; k < colon; ++k) {
      const char c = l[k];
      key = key && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
    }
    if (key) out.emplace_back(i, colon + 1);
  }
  return out;
}

// Replaces the value of a random "key: value" line.
std::string replace_value(Rng& rng, const std::string& text, const std::string& value) {
  auto lines = split_lines(text);
  const auto places = value_places(lines);
  if (places.empty()) return text + value + "\n";
  const auto [line, at] = rng.pick(places);
  lines[line] = lines[line].substr(0, at) + " " + value;
  return join_lines(lines);
}

// A list whose last item is 10^levels "lol"s when expanded, in flow style.
std::string flow_bomb(size_t levels) {
  std::string out = "[&l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]";
  for (size_t i = 1; i < levels; ++i) {
    const std::string prev = "*l" + std::to_string(i - 1);
    out += ", &l" + std::to_string(i) + " [";
    for (int j = 0; j < 10; ++j) out += (j == 0 ? "" : ", ") + prev;
    out += "]";
  }
  return out + "]";
}

const std::vector<std::string> kControlBytes = {
    std::string(1, '\0'), "\x01", "\x07", "\x08", "\t", "\n", "\x0b", "\x0c", "\r", "\x1b", "\x1f", "\x7f"};
const std::vector<std::string> kBadUtf8 = {"\xff",
                                           "\xfe",
                                           "\xc3",
                                           "\xe2\x28\xa1",
                                           "\xc0\xaf",
                                           "\xed\xa0\x80",
                                           "\x80\x80",
                                           "\xf8\x88\x80\x80\x80",
                                           "\xf4\x90\x80\x80"};
const std::vector<std::string> kWrongTypes = {"[1, 2]",
                                              "{a: b}",
                                              "~",
                                              "null",
                                              "\"\"",
                                              "-1",
                                              "1e309",
                                              "true",
                                              "false",
                                              ".nan",
                                              "-.inf",
                                              "0x10",
                                              "99999999999999999999999",
                                              "!!binary aGVsbG8=",
                                              "*undefined",
                                              "&anchor",
                                              "!tag x",
                                              "|",
                                              ">-",
                                              "[",
                                              "{",
                                              "'unterminated",
                                              "\"unterminated",
                                              "- a",
                                              "? a",
                                              ": b",
                                              "@x",
                                              "`x",
                                              "%YAML 1.2",
                                              "---",
                                              "...",
                                              "[[], {}]",
                                              "{[a]: b}",
                                              "{? a}"};

using Mutation = std::function<std::string(Rng&, const std::string&)>;

struct NamedMutation {
  const char* name;
  Mutation apply;
};

const std::vector<NamedMutation>& mutations() {
  static const std::vector<NamedMutation> all = {
      {"delete a line",
       [](Rng& rng, const std::string& text) {
         auto lines = split_lines(text);
         if (!lines.empty()) lines.erase(lines.begin() + static_cast<long>(rng.below(lines.size())));
         return join_lines(lines);
       }},
      {"duplicate a line",
       [](Rng& rng, const std::string& text) {
         auto lines = split_lines(text);
         if (lines.empty()) return text;
         const std::string line = lines[rng.below(lines.size())];
         lines.insert(lines.begin() + static_cast<long>(rng.below(lines.size() + 1)), line);
         return join_lines(lines);
       }},
      {"swap two lines",
       [](Rng& rng, const std::string& text) {
         auto lines = split_lines(text);
         if (lines.size() < 2) return text;
         std::swap(lines[rng.below(lines.size())], lines[rng.below(lines.size())]);
         return join_lines(lines);
       }},
      {"flip bytes",
       [](Rng& rng, const std::string& text) {
         std::string out = text;
         if (out.empty()) return out;
         const size_t n = 1 + rng.below(8);
         for (size_t i = 0; i < n; ++i) out[rng.below(out.size())] = static_cast<char>(rng.below(256));
         return out;
       }},
      {"insert control bytes",
       [](Rng& rng, const std::string& text) {
         std::string out = text;
         const size_t n = 1 + rng.below(4);
         for (size_t i = 0; i < n; ++i) out.insert(rng.below(out.size() + 1), rng.pick(kControlBytes));
         return out;
       }},
      {"control bytes in a value",
       [](Rng& rng, const std::string& text) {
         std::string value = "v";
         const size_t n = 1 + rng.below(4);
         for (size_t i = 0; i < n; ++i) value += rng.pick(kControlBytes) + "v";
         // Quoted, so that even a newline stays inside the value.
         std::string escaped;
         for (const char c : value) {
           char hex[8];
           std::snprintf(hex, sizeof hex, "\\x%02x", static_cast<unsigned char>(c));
           escaped += c == 'v' ? std::string("v") : std::string(hex);
         }
         return replace_value(rng, text, rng.below(2) == 0 ? value : "\"" + escaped + "\"");
       }},
      {"insert invalid UTF-8",
       [](Rng& rng, const std::string& text) {
         std::string out = text;
         out.insert(rng.below(out.size() + 1), rng.pick(kBadUtf8));
         return out;
       }},
      {"invalid UTF-8 in a value",
       [](Rng& rng, const std::string& text) { return replace_value(rng, text, "x" + rng.pick(kBadUtf8) + "y"); }},
      {"alias bomb in a value",
       [](Rng& rng, const std::string& text) { return replace_value(rng, text, flow_bomb(10)); }},
      {"billion laughs at the top, aliased below",
       [](Rng& rng, const std::string& text) {
         std::string top = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
         for (int i = 1; i < 10; ++i) {
           top += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
           for (int j = 0; j < 10; ++j) top += (j == 0 ? "*a" : ", *a") + std::to_string(i - 1);
           top += "]\n";
         }
         return top + replace_value(rng, text, "*a" + std::to_string(rng.below(10)));
       }},
      {"nesting 10,000 deep",
       [](Rng& rng, const std::string& text) {
         const size_t depth = 10'000;
         std::string value;
         switch (rng.below(5)) {
           case 0:
             value = std::string(depth, '[') + std::string(depth, ']');
             break;
           case 1:
             for (size_t i = 0; i < depth; ++i) value += "{a: ";
             value += "1" + std::string(depth, '}');
             break;
           case 2:
             for (size_t i = 0; i < depth; ++i) value += "- ";
             value += "x";
             return value + "\n" + text;  // block sequences, at the top
           case 3:
             value = std::string(depth, '[');  // never closed
             break;
           default:
             for (size_t i = 0; i < depth; ++i) value += "? ";
             return value + "x\n" + text;
         }
         return replace_value(rng, text, value);
       }},
      {"1 MB string",
       [](Rng& rng, const std::string& text) {
         const std::string big(1'000'000, static_cast<char>('a' + rng.below(26)));
         switch (rng.below(4)) {
           case 0:
             return replace_value(rng, text, big);
           case 1:
             return replace_value(rng, text, "\"" + big + "\\n" + big.substr(0, 10) + "\"");
           case 2:
             return replace_value(rng, text, "canopy_" + big);
           default:
             return "? " + big + "\n: 1\n" + text;  // a 1 MB key
         }
       }},
      {"wrong type", [](Rng& rng, const std::string& text) { return replace_value(rng, text, rng.pick(kWrongTypes)); }},
      {"truncate", [](Rng& rng, const std::string& text) { return text.substr(0, rng.below(text.size() + 1)); }},
  };
  return all;
}

bool has_control(const std::string& s) {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

// For failure reports: bytes below 0x20, 0x7f and above as \xNN.
std::string printable(const std::string& s, size_t max = 300) {
  std::string out;
  for (const char c : s.substr(0, max)) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", u);
      out += hex;
    } else {
      out += c;
    }
  }
  return s.size() > max ? out + "..." : out;
}

// Peak resident memory since the last reset (Linux); nullopt elsewhere.
[[maybe_unused]] bool reset_peak_memory() { return static_cast<bool>(std::ofstream("/proc/self/clear_refs") << "5"); }
[[maybe_unused]] std::optional<long> peak_memory_kb() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return std::nullopt;
}

// Longest an error line may be: a key path is cut at 200 bytes and quoted
// values at 80 (320 when all are escaped), plus the message's own words.
constexpr size_t kMaxErrorLength = 1024;

}  // namespace

TEST_CASE("mutated configs load or give clean errors: no crash, no throw, no control characters", "[config][fuzz]") {
  const uint64_t cases = env_number("CANOPY_FUZZ_CASES", 400);
  const uint64_t seed = env_number("CANOPY_FUZZ_SEED", 20240611);
  const std::vector<std::pair<std::string, std::string>> seeds = {
      {"canopy.yaml", canopy::config::test::read_text(source_path("config/canopy.yaml"))},
      {"canopy.example.yaml", canopy::config::test::read_text(source_path("config/canopy.example.yaml"))},
  };
  REQUIRE_FALSE(seeds[0].second.empty());
  REQUIRE_FALSE(seeds[1].second.empty());
  // ASan's quarantine and shadow memory would swamp the figure: the plain
  // build measures it.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  const bool measure_memory = false;
#else
  const bool measure_memory = reset_peak_memory() && peak_memory_kb().has_value();
#endif

  std::vector<std::string> failures;
  size_t loaded = 0, refused = 0;
  for (uint64_t i = 0; i < cases; ++i) {
    // Each case from its own stream: case i is the same whatever the count.
    Rng rng(seed * 0x100000001b3ULL + i);
    const auto& [seed_name, seed_text] = seeds[rng.below(seeds.size())];
    std::string text = seed_text;
    std::string applied;
    const size_t rounds = 1 + rng.below(3);
    for (size_t m = 0; m < rounds; ++m) {
      const NamedMutation& mutation = rng.pick(mutations());
      text = mutation.apply(rng, text);
      applied += (applied.empty() ? "" : ", ") + std::string(mutation.name);
    }
    const std::string what = "case " + std::to_string(i) + " (" + seed_name + ": " + applied + ")";

    LoadResult r;
    try {
      r = load_string(text, "fuzz.yaml");
    } catch (const std::exception& e) {
      failures.push_back(what + ": threw " + printable(e.what()));
      continue;
    } catch (...) {
      failures.push_back(what + ": threw something");
      continue;
    }
    if (r.errors.empty()) {
      ++loaded;
      if (!r.config) failures.push_back(what + ": no errors and no config");
      continue;
    }
    ++refused;
    if (r.config) failures.push_back(what + ": errors and a config");
    for (const ConfigError& e : r.errors) {
      const std::string line = e.to_string();
      if (has_control(e.message) || has_control(e.path) || has_control(line)) {
        failures.push_back(what + ": a control character in " + printable(line));
        break;
      }
      if (line.size() > kMaxErrorLength) {
        failures.push_back(what + ": an error of " + std::to_string(line.size()) + " bytes: " + printable(line));
        break;
      }
    }
  }

  INFO(cases << " cases: " << loaded << " loaded, " << refused << " refused with errors");
  for (size_t i = 0; i < failures.size() && i < 20; ++i) UNSCOPED_INFO(failures[i]);
  CHECK(failures.empty());
  // Both outcomes happen: the mutations are neither all harmless nor all fatal.
  CHECK(loaded > 0);
  CHECK(refused > 0);
  if (measure_memory) {
    // Unbounded memory would show here (the old did-you-mean took 380 MB for
    // one 1 MB name); the texts themselves are a few MB.
    const long peak_kb = *peak_memory_kb();
    INFO("peak resident memory " << peak_kb / 1024 << " MiB");
    CHECK(peak_kb < 256 * 1024);
  }
}

}  // namespace test_config_fuzz_test
