// canopy-bench alloc: what per-process heap accounting (canopy::heap_accounting,
// linked into canopy-bench) costs an allocation-heavy workload. A token
// travels a ring of processes; at each hop the handler builds and drops a few
// strings and a vector and keeps the last 64 strings it made (state that
// stays). The same workload runs in child processes of this one, alternately
// with the accounting on and off (CANOPY_HEAP_ACCOUNTING=off, read at the
// first allocation), --rounds times each; medians are printed:
//   bench=alloc impl=canopy ... msgs_per_s=… untracked_msgs_per_s=…
//   rss_bytes=… untracked_rss_bytes=… (peak resident size of the child)
#include <canopy/core/core.hpp>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <string>
#include <vector>

#include "args.hpp"

using namespace canopy;
using Clock = std::chrono::steady_clock;

namespace {

struct Hop {
  uint64_t remaining;
};
struct Link {
  Pid next;
};

class Allocator final : public Actor {
 public:
  explicit Allocator(std::promise<void>* done) : done_(done) {}
  void handle(Message& m) override {
    if (auto* l = m.as<Link>()) {
      next_ = l->next;
      return;
    }
    auto* h = m.as<Hop>();
    if (h == nullptr) return;
    // Scratch that is dropped at once, and a string that stays a while.
    std::vector<int> scratch(16, static_cast<int>(h->remaining));
    std::string a = "order-" + std::to_string(h->remaining);
    std::string b(48 + h->remaining % 64, 'b');
    std::string c = a + b;
    kept_[index_++ % kept_.size()] = std::move(c);
    if (h->remaining == 0) {
      done_->set_value();
      return;
    }
    (void)runtime().send(next_, Hop{h->remaining - 1});
  }

 private:
  std::promise<void>* done_;
  Pid next_;
  std::vector<std::string> kept_ = std::vector<std::string>(64);
  size_t index_ = 0;
};

// One run in this process: msgs/s and peak RSS.
int child(uint64_t processes, uint64_t hops) {
  Runtime rt(RuntimeOptions{});
  std::promise<void> done;
  std::vector<Pid> pids;
  for (uint64_t i = 0; i < processes; ++i) pids.push_back(rt.spawn<Allocator>(&done).value());
  for (uint64_t i = 0; i < processes; ++i) (void)rt.send(pids[i], Link{pids[(i + 1) % processes]});
  const auto t0 = Clock::now();
  (void)rt.send(pids[0], Hop{hops});
  done.get_future().wait();
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  std::printf("msgs_per_s=%.0f rss_bytes=%llu\n", static_cast<double>(hops) / wall,
              static_cast<unsigned long long>(u.ru_maxrss) * 1024);
  return 0;
}

struct Run {
  double msgs_per_s = 0;
  double rss = 0;
};

Run run_child(bool tracked, uint64_t processes, uint64_t hops) {
  char self[4096] = {0};
  if (readlink("/proc/self/exe", self, sizeof self - 1) <= 0) return {};
  const std::string cmd = std::string("CANOPY_HEAP_ACCOUNTING=") + (tracked ? "on" : "off") + " '" + self +
                          "' alloc --child 1 --processes " + std::to_string(processes) + " --hops " +
                          std::to_string(hops);
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return {};
  Run r;
  unsigned long long rss = 0;
  if (std::fscanf(p, "msgs_per_s=%lf rss_bytes=%llu", &r.msgs_per_s, &rss) != 2) r = {};
  r.rss = static_cast<double>(rss);
  pclose(p);
  return r;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int alloc_bench(const bench::Args& args) {
  const uint64_t processes = args.count("processes", 1'000);
  const uint64_t hops = args.number("hops", 2'000'000);
  const uint64_t rounds = args.count("rounds", 3);
  if (args.number("child", 0) != 0) return child(processes, hops);
  args.allow_only("alloc", {"processes", "hops", "rounds", "child"});
  std::vector<double> on, off, on_rss, off_rss;
  for (uint64_t r = 0; r < rounds; ++r) {
    const Run a = run_child(true, processes, hops);
    const Run b = run_child(false, processes, hops);
    on.push_back(a.msgs_per_s);
    on_rss.push_back(a.rss);
    off.push_back(b.msgs_per_s);
    off_rss.push_back(b.rss);
  }
  const double m_on = median(on), m_off = median(off);
  const double r_on = median(on_rss), r_off = median(off_rss);
  std::printf(
      "bench=alloc impl=canopy processes=%llu hops=%llu rounds=%llu msgs_per_s=%.0f untracked_msgs_per_s=%.0f "
      "ratio=%.3f rss_bytes=%.0f untracked_rss_bytes=%.0f rss_ratio=%.3f\n",
      static_cast<unsigned long long>(processes), static_cast<unsigned long long>(hops),
      static_cast<unsigned long long>(rounds), m_on, m_off, m_off > 0 ? m_on / m_off : 0, r_on, r_off,
      r_off > 0 ? r_on / r_off : 0);
  return m_on > 0 && m_off > 0 ? 0 : 1;
}
