// A ring of processes passing tokens: many processes, many hops, no loss.
#include "test_support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_core_concurrency_ring_test {

using namespace canopy;
using namespace canopy_test;

namespace {
struct Token {
  int id;
  int hops_left;
};
}  // namespace

TEST_CASE("a ring of 1000 processes passes tokens for 100k hops without losing one", "[core][concurrency][ring]") {
  constexpr int kProcesses = 1000;
  constexpr int kTokens = 10;
  const int hops_per_token = scaled(10'000);
  const uint64_t total_hops = static_cast<uint64_t>(kTokens) * hops_per_token;
  auto ring = std::make_shared<std::vector<Pid>>(kProcesses);
  std::atomic<uint64_t> hops{0};
  std::atomic<int> finished{0};
  std::atomic<int> send_failures{0};
  Runtime rt(schedulers(2));
  for (int i = 0; i < kProcesses; ++i) {
    (*ring)[i] = spawn_fn(rt, [&, ring, i](FunctionActor& self, Message& m) {
      auto* t = m.as<Token>();
      if (t == nullptr) return;
      hops.fetch_add(1);
      if (t->hops_left == 0) {
        finished.fetch_add(1);
        return;
      }
      if (!self.send((*ring)[(i + 1) % kProcesses], Token{t->id, t->hops_left - 1}).ok()) send_failures.fetch_add(1);
    });
  }
  // The ring is complete before the first token moves.
  for (int t = 0; t < kTokens; ++t)
    REQUIRE_OK(rt.send((*ring)[t * (kProcesses / kTokens)], Token{t, hops_per_token - 1}));
  REQUIRE(eventually([&] { return finished.load() == kTokens; }, 60'000ms));
  CHECK(hops.load() == total_hops);
  CHECK(send_failures.load() == 0);
  CHECK(rt.process_count() == static_cast<size_t>(kProcesses));
  uint64_t handled = 0;
  for (auto& info : rt.processes()) handled += info.messages_handled;
  CHECK(handled == total_hops);
}

}  // namespace test_core_concurrency_ring_test
