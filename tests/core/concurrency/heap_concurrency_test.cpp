// Exact per-process heaps while many processes allocate, send payloads to each
// other and free them at once (canopy::heap_accounting linked in).
#include <string>
#include <vector>

#include "../test_support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_core_concurrency_heap_concurrency_test {

using namespace canopy;
using namespace canopy_test;

namespace {

struct Churn {
  std::vector<Pid> peers;
  int rounds;
  size_t keep;  // bytes to hold at the end, exactly
};
struct Payload {
  std::string bytes;
};

class Churner final : public Actor {
 public:
  void handle(Message& m) override {
    if (auto* c = m.as<Churn>()) {
      for (int i = 0; i < c->rounds; ++i) {
        std::vector<std::string> scratch;
        for (int k = 0; k < 8; ++k) scratch.emplace_back(64 + 37 * ((i + k) % 11), 's');
        (void)runtime().send(c->peers[static_cast<size_t>(i) % c->peers.size()],
                             Payload{std::string(300 + i % 500, 'p')});
      }
      held_.reserve(c->keep);  // exactly c->keep bytes from operator new
    }
    // A Payload is freed when this handler returns: its bytes leave the sender.
  }

 private:
  std::vector<char> held_;
};

}  // namespace

TEST_CASE("per-process heaps are exact when many processes allocate and free each other's payloads",
          "[core][heap][concurrency]") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  constexpr int kProcesses = 16;
  std::vector<Pid> pids;
  for (int i = 0; i < kProcesses; ++i) pids.push_back(rt.spawn<Churner>().value());
  for (int i = 0; i < kProcesses; ++i) {
    REQUIRE(
        rt.send(pids[static_cast<size_t>(i)], Churn{pids, scaled(2000), static_cast<size_t>(10'000 + i * 1000)}).ok());
  }
  auto quiet = [&] {
    for (Pid p : pids) {
      auto info = rt.process_info(p);
      if (!info || info->mailbox_length != 0 || info->status != ProcessStatus::waiting) return false;
    }
    return true;
  };
  REQUIRE(eventually(quiet));
  // Exact once the schedulers have handed over what they batched (they do
  // when they run out of work).
  auto exact = [&] {
    for (int i = 0; i < kProcesses; ++i) {
      if (rt.process_info(pids[static_cast<size_t>(i)])->heap_bytes != static_cast<uint64_t>(10'000 + i * 1000)) {
        return false;
      }
    }
    return true;
  };
  CHECK(eventually(exact));
  for (int i = 0; i < kProcesses; ++i) {
    INFO("process " << i);
    CHECK(rt.process_info(pids[static_cast<size_t>(i)])->heap_bytes == static_cast<uint64_t>(10'000 + i * 1000));
  }
}

}  // namespace test_core_concurrency_heap_concurrency_test
