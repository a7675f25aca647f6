// Pid: text form, parsing, the invalid default.
#include <cstdint>
#include <unordered_set>

#include "test_support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_core_pid_test {

using namespace canopy;
using namespace canopy_test;

TEST_CASE("a pid prints as <0.index.generation> and parses back to the same pid", "[core][pid]") {
  const Pid p = Pid::from_parts(42, 7);
  CHECK(p.index() == 42u);
  CHECK(p.generation() == 7u);
  CHECK(p.valid());
  CHECK(p.to_string() == "<0.42.7>");
  CHECK(Pid::parse(p.to_string()) == p);

  SECTION("the bare raw integer form parses too") {
    CHECK(Pid::parse(std::to_string(p.raw())) == p);
    CHECK(Pid::from_raw(p.raw()) == p);
  }
  SECTION("extreme index and generation values round trip") {
    for (const Pid q : {Pid::from_parts(0, 1), Pid::from_parts(UINT32_MAX, 1), Pid::from_parts(0, UINT32_MAX),
                        Pid::from_parts(UINT32_MAX, UINT32_MAX), Pid::from_parts(123456, 654321)}) {
      INFO(q.to_string());
      CHECK(Pid::parse(q.to_string()) == q);
      CHECK(Pid::parse(std::to_string(q.raw())) == q);
    }
  }
}

TEST_CASE("a default pid is invalid and names no process", "[core][pid]") {
  const Pid p;
  CHECK_FALSE(p.valid());
  CHECK_FALSE(static_cast<bool>(p));
  CHECK(p.raw() == 0u);
  CHECK(p == Pid());
  // Generation 0 is never handed out, whatever the index.
  CHECK_FALSE(Pid::from_parts(17, 0).valid());
  CHECK_FALSE(Pid::parse("<0.17.0>").valid());

  Runtime rt(schedulers(1));
  CHECK_FALSE(rt.alive(p));
  CHECK_FALSE(rt.process_info(p).has_value());
  CHECK(rt.send(p, 1).code() == Errc::dead_process);
}

TEST_CASE("parsing malformed text yields an invalid pid", "[core][pid]") {
  for (const char* text : {"", "pid", "<>", "<0.1>", "<1.2.3>", "<0.1.2>x", "<0.a.2>", "-5", " 12", "12 ",
                           "<0.4294967296.1>", "<0.1.4294967296>"}) {
    INFO("text: '" << text << "'");
    CHECK_FALSE(Pid::parse(text).valid());
  }
}

TEST_CASE("parsing rejects an unterminated pid and an out-of-range raw integer", "[core][pid]") {
  // Neither is the to_string() form nor a raw 64-bit integer: "an invalid Pid on error".
  SECTION("missing the closing '>'") { CHECK_FALSE(Pid::parse("<0.1.2").valid()); }
  SECTION("a raw integer that does not fit in 64 bits") {
    CHECK_FALSE(Pid::parse("18446744073709551616").valid());  // 2^64
    CHECK_FALSE(Pid::parse("99999999999999999999").valid());
  }
}

TEST_CASE("pids order, compare and hash by value", "[core][pid]") {
  const Pid a = Pid::from_parts(1, 1);
  const Pid b = Pid::from_parts(1, 2);  // same slot, later generation
  const Pid c = Pid::from_parts(2, 1);
  CHECK(a != b);
  CHECK(a < b);
  CHECK(a == Pid::from_parts(1, 1));
  std::unordered_set<Pid> set{a, b, c, Pid::from_parts(1, 1)};
  CHECK(set.size() == 3u);
}

TEST_CASE("the pid of a live process survives a trip through its text form", "[core][pid]") {
  Runtime rt(schedulers(1));
  auto p = spawn_probe(rt);
  const Pid parsed = Pid::parse(p.pid.to_string());
  REQUIRE(parsed == p.pid);
  CHECK(rt.alive(parsed));
  REQUIRE_OK(rt.send(parsed, 5));
  REQUIRE(p.state->ints.wait_size(1));
  CHECK(p.state->ints.snapshot() == std::vector<int>{5});
}

}  // namespace test_core_pid_test
