// Per-process heaps (canopy::heap_accounting, linked into this binary): what a
// process allocates through operator new counts to it until freed, whichever
// thread frees it; allocations outside processes count to none.
#include <string>
#include <vector>

#include "test_support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_core_heap_test {

using namespace canopy;
using namespace canopy_test;

namespace {

constexpr uint64_t kMiB = 1024 * 1024;

struct Grow {
  size_t bytes;
};
struct Clear {};
struct Keep {
  std::string payload;
};
struct SendPayload {
  Pid to;
  size_t bytes;
};
struct Drop {};

// Holds strings in a vector, as ordinary C++ state.
class Hoard final : public Actor {
 public:
  void handle(Message& m) override {
    if (auto* g = m.as<Grow>()) {
      size_t held = 0;
      while (held < g->bytes) {
        items_.emplace_back(4096, 'x');
        held += 4096;
      }
    } else if (m.is<Clear>()) {
      std::vector<std::string>().swap(items_);
    } else if (auto* k = m.as<Keep>()) {
      kept_ = std::move(k->payload);
    } else if (m.is<Drop>()) {
      std::string().swap(kept_);
    } else if (auto* s = m.as<SendPayload>()) {
      (void)runtime().send(s->to, Keep{std::string(s->bytes, 'p')});
    }
  }

 private:
  std::vector<std::string> items_;
  std::string kept_;
};

// Builds its state in init, which may run on the thread that spawns it.
class EagerHoard final : public Actor {
 public:
  Status init() override {
    items_.assign(512, std::string(4096, 'i'));  // 2 MB
    return {};
  }
  void handle(Message&) override {}

 private:
  std::vector<std::string> items_;
};

uint64_t heap_of(Runtime& rt, Pid p) {
  auto info = rt.process_info(p);
  return info ? info->heap_bytes : 0;
}

bool idle(Runtime& rt, Pid p) {
  auto info = rt.process_info(p);
  return info && info->mailbox_length == 0 && info->status == ProcessStatus::waiting;
}

}  // namespace

TEST_CASE("a process growing ordinary C++ state shows it as heap, and falls back when it clears", "[core][heap]") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  const Pid p = rt.spawn<Hoard>().value();
  REQUIRE(rt.send(p, Grow{10 * kMiB}).ok());
  REQUIRE(eventually([&] { return heap_of(rt, p) >= 10 * kMiB; }));
  rt.poll_now();
  uint64_t exported = 0;
  for (const auto& f : rt.collect()) {
    if (f.name != "canopy_processes_by_heap_bytes_gsum") continue;
    for (const auto& s : f.samples) exported = static_cast<uint64_t>(s.value);
  }
  CHECK(exported >= 10 * kMiB);
  REQUIRE(rt.send(p, Clear{}).ok());
  REQUIRE(eventually([&] { return idle(rt, p) && heap_of(rt, p) < kMiB; }));
}

TEST_CASE("a payload allocated by A and held by B counts to A until B frees it", "[core][heap]") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  const Pid a = rt.spawn<Hoard>().value();
  const Pid b = rt.spawn<Hoard>().value();
  REQUIRE(eventually([&] { return idle(rt, a) && idle(rt, b); }));
  const uint64_t b_before = heap_of(rt, b);
  REQUIRE(rt.send(a, SendPayload{b, 4 * kMiB}).ok());
  REQUIRE(eventually([&] { return idle(rt, a) && idle(rt, b) && heap_of(rt, a) >= 4 * kMiB; }));
  CHECK(heap_of(rt, b) < b_before + kMiB);
  REQUIRE(rt.send(b, Drop{}).ok());
  REQUIRE(eventually([&] { return idle(rt, b) && heap_of(rt, a) < kMiB; }));
}

TEST_CASE("what init allocates counts to the process, whichever thread ran init", "[core][heap]") {
  Runtime rt(RuntimeOptions{.schedulers = 1});
  const Pid p = rt.spawn<EagerHoard>().value();
  REQUIRE(eventually([&] { return heap_of(rt, p) >= 2 * kMiB; }));
}

TEST_CASE("allocations on a thread outside the runtime count to no process", "[core][heap]") {
  Runtime rt(RuntimeOptions{.schedulers = 1});
  const Pid p = rt.spawn<Hoard>().value();
  REQUIRE(eventually([&] { return idle(rt, p); }));
  const uint64_t before = heap_of(rt, p);
  std::vector<std::string> mine(2048, std::string(4096, 'y'));  // 8 MB on the test thread
  CHECK(heap_of(rt, p) == before);
  CHECK(mine.size() == 2048);
}

TEST_CASE("a process that exits returns its bytes; freeing them later sends nothing negative", "[core][heap]") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  const Pid a = rt.spawn<Hoard>().value();
  const Pid b = rt.spawn<Hoard>().value();
  REQUIRE(rt.send(a, SendPayload{b, 2 * kMiB}).ok());
  REQUIRE(eventually([&] { return idle(rt, a) && idle(rt, b) && heap_of(rt, a) >= 2 * kMiB; }));
  REQUIRE(rt.exit(a, ExitReason::kill()).ok());
  REQUIRE(eventually([&] { return !rt.process_info(a).has_value(); }));
  // New processes may take a's slot: b's late free must not touch them.
  std::vector<Pid> fresh;
  for (int i = 0; i < 8; ++i) fresh.push_back(rt.spawn<Hoard>().value());
  REQUIRE(rt.send(b, Drop{}).ok());
  REQUIRE(eventually([&] { return idle(rt, b); }));
  for (Pid f : fresh) {
    REQUIRE(eventually([&] { return idle(rt, f); }));
    CHECK(heap_of(rt, f) < kMiB);
  }
}

}  // namespace test_core_heap_test
