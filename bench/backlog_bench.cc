// canopy-bench backlog --backlog N: what one message costs the consumer when
// its mailbox already holds millions, against the same consumer draining a
// short mailbox (issue: mailboxes that stay fast under backlog).
//
// The consumer is held inside a handler while a thread outside the runtime
// preloads its mailbox, then released; the drain is timed on the consumer's
// own clock, from leaving the hold to its last message (the release's wakeup
// is not counted). `empty_msgs_per_s` is the same consumer draining rounds of
// `--short` (default 1,000) preloaded messages, warm: the cost of a message
// when the mailbox is short; ratio = empty / drain (1.0: a backlog costs
// nothing; the target is at most 1.5). `outside_send_ns` is the mean
// cost of the preload's sends from a non-runtime thread to a receiver that is
// already scheduled (running), so no wakeup is part of it.
// Prints `bench=backlog impl=canopy backlog=N short=S drain_msgs_per_s=X
// empty_msgs_per_s=Y ratio=R outside_send_ns=Z schedulers=K checksum=C`.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <thread>

#include "args.hpp"
#include "canopy/core/runtime.hpp"

int backlog_bench(const canopy::bench::Args& args);

namespace {

using Clock = std::chrono::steady_clock;

struct Hold {};
struct Item {
  uint64_t n;
};

// Owner process only, except `release` and `arm`, which the bench thread sets
// while the consumer spins or is idle (the promise orders the rest).
class Consumer final : public canopy::Actor {
 public:
  std::atomic<bool> release{false};

  // Expect `n` items after the next Hold; `done` is set when the last is handled.
  void arm(uint64_t n, std::promise<Clock::duration>* done) {
    expected_ = n;
    seen_ = 0;
    done_ = done;
  }

  void handle(canopy::Message& m) override {
    if (m.as<Hold>()) {
      // Keeps this process running (so the preload's sends find it scheduled)
      // until the bench thread has filled the mailbox.
      while (!release.load(std::memory_order_acquire)) std::this_thread::yield();
      resumed_ = Clock::now();  // the drain starts here, whatever the release's latency was
      return;
    }
    if (auto* item = m.as<Item>()) {
      sum_ += item->n;
      if (++seen_ == expected_) done_->set_value(Clock::now() - resumed_);
    }
  }

  uint64_t sum() const { return sum_; }

 private:
  uint64_t expected_ = 0;
  uint64_t seen_ = 0;
  uint64_t sum_ = 0;
  Clock::time_point resumed_;
  std::promise<Clock::duration>* done_ = nullptr;
};

struct Round {
  double drain_s = 0;
  double send_s = 0;
};

// One hold, `n` sends from this (non-runtime) thread, one release, one drain.
Round round(canopy::Runtime& rt, canopy::Pid pid, Consumer& c, uint64_t n) {
  std::promise<Clock::duration> done;
  c.release.store(false, std::memory_order_relaxed);
  c.arm(n, &done);
  (void)rt.send(pid, Hold{});
  const auto s0 = Clock::now();
  for (uint64_t i = 0; i < n; ++i) (void)rt.send(pid, Item{i});
  const auto s1 = Clock::now();
  c.release.store(true, std::memory_order_release);
  const Clock::duration drain = done.get_future().get();
  return {std::chrono::duration<double>(drain).count(), std::chrono::duration<double>(s1 - s0).count()};
}

}  // namespace

int backlog_bench(const canopy::bench::Args& args) {
  using namespace canopy;
  args.allow_only("backlog", {"backlog", "short", "schedulers", "telemetry", "behaviours"});
  const uint64_t backlog = args.count("backlog", 2'000'000);
  const uint64_t short_n = std::min<uint64_t>(args.count("short", 1'000), backlog);
  RuntimeOptions ro;
  ro.schedulers = static_cast<unsigned>(args.number("schedulers", 0));
  ro.telemetry.enabled = bench::telemetry_enabled(args);
  ro.telemetry.behaviour_metrics = args.one_of("behaviours", {"on", "off"}, "on") == "on";
  Runtime rt(ro);
  auto owned = std::make_unique<Consumer>();
  Consumer* c = owned.get();
  const Pid pid = rt.spawn(std::move(owned)).value();

  // Short mailboxes first (warm-up included): as many messages in all as the backlog.
  (void)round(rt, pid, *c, short_n);
  double short_s = 0;
  for (uint64_t done = 0; done < backlog; done += short_n) short_s += round(rt, pid, *c, short_n).drain_s;
  const uint64_t short_total = (backlog + short_n - 1) / short_n * short_n;

  const Round big = round(rt, pid, *c, backlog);
  const double drain = static_cast<double>(backlog) / big.drain_s;
  const double empty = static_cast<double>(short_total) / short_s;
  std::printf(
      "bench=backlog impl=canopy backlog=%llu short=%llu drain_msgs_per_s=%.0f empty_msgs_per_s=%.0f ratio=%.2f "
      "outside_send_ns=%.1f schedulers=%u checksum=%llu\n",
      static_cast<unsigned long long>(backlog), static_cast<unsigned long long>(short_n), drain, empty,
      empty / drain, big.send_s * 1e9 / static_cast<double>(backlog),
      static_cast<unsigned>(rt.scheduler_stats().size()), static_cast<unsigned long long>(c->sum()));
  return 0;
}
