#pragma once
// The machine's floor under every cross-core message: one cache line handed
// to another thread and back. On a virtual machine it moves with the host's
// placement of the vCPUs (on a 2-core EPYC VM: 75-97 ns, then 320-360 ns for
// minutes at a time), and every cross-core figure moves with it, so a
// benchmark that compares runs taken minutes apart measures it too
// (canopy-bench linetrip; BM_CacheLineRoundTrip; bench/compare.sh).
// One LineEcho per measuring thread; bounce() from that thread only.
#include <atomic>
#include <cstdint>
#include <thread>

namespace canopy::bench {

class LineEcho {
 public:
  LineEcho() : echo_([this] { run(); }) {}
  ~LineEcho() {
    line_.turn.store(kStop, std::memory_order_release);
    echo_.join();
  }
  LineEcho(const LineEcho&) = delete;
  LineEcho& operator=(const LineEcho&) = delete;

  // Hands the line to the echo thread and waits until it comes back.
  void bounce() {
    line_.turn.store(kTheirs, std::memory_order_release);
    while (line_.turn.load(std::memory_order_acquire) != kOurs) {
    }
  }

 private:
  static constexpr uint32_t kOurs = 0, kTheirs = 1, kStop = 2;
  void run() {
    for (;;) {
      const uint32_t t = line_.turn.load(std::memory_order_acquire);
      if (t == kStop) return;
      if (t == kTheirs) line_.turn.store(kOurs, std::memory_order_release);
    }
  }
  struct alignas(64) Line {
    std::atomic<uint32_t> turn{kOurs};
  };
  Line line_;
  std::thread echo_;  // last: it starts once line_ exists
};

}  // namespace canopy::bench
