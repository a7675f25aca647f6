// canopy-bench WORKLOAD [--name value ...]
// Prints one line per run: `bench=WORKLOAD impl=canopy key=value ...`.
// The keys are a fixed interface (bench/compare.sh and the peers use them).
#include <canopy/core/core.hpp>
#include <canopy/core/stage.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "args.hpp"

using namespace canopy;
using Clock = std::chrono::steady_clock;

using canopy::bench::Args;

// bench/table_bench.cc
int table_bench(const Args& args);
// bench/scrape_bench.cc
int scrape_bench(const Args& args);
// bench/http_bench.cc
int http_bench(const Args& args);
// bench/alloc_bench.cc
int alloc_bench(const Args& args);
// bench/poll_bench.cc
int poll_bench(const Args& args);
std::function<uint64_t()> start_scraper(canopy::Runtime& rt, uint64_t every_ms);

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

uint64_t rss_bytes() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
  }
  return 0;
}

RuntimeOptions runtime_options(const Args& args, uint32_t max_processes = 1u << 20) {
  RuntimeOptions o;
  o.schedulers = static_cast<unsigned>(args.number("schedulers", 0));
  o.max_processes = max_processes;
  o.telemetry.enabled = canopy::bench::telemetry_enabled(args);
  // --behaviours off: no per-behaviour counts and timings (to measure their cost).
  o.telemetry.behaviour_metrics = args.one_of("behaviours", {"on", "off"}, "on") == "on";
  return o;
}

unsigned scheduler_count(Runtime& rt) { return static_cast<unsigned>(rt.scheduler_stats().size()); }

// --- ring -----------------------------------------------------------------------

struct Next {
  Pid pid;
};
struct Token {
  uint64_t remaining;
};

class RingNode final : public Actor {
 public:
  explicit RingNode(std::promise<void>* done) : done_(done) {}
  void handle(Message& m) override {
    if (auto* t = m.as<Token>()) {
      if (t->remaining == 0) {
        done_->set_value();
        return;
      }
      (void)send(next_, Token{t->remaining - 1});
    } else if (auto* n = m.as<Next>()) {
      next_ = n->pid;
    }
  }

 private:
  std::promise<void>* done_;
  Pid next_;
};

int ring(const Args& args) {
  const uint64_t n = args.number("processes", 10'000);
  const uint64_t hops = args.number("hops", 10'000'000);
  Runtime rt(runtime_options(args));
  std::promise<void> done;
  std::vector<Pid> pids;
  for (uint64_t i = 0; i < n; ++i) pids.push_back(rt.spawn<RingNode>(&done).value());
  for (uint64_t i = 0; i < n; ++i) (void)rt.send(pids[i], Next{pids[(i + 1) % n]});
  const uint64_t scrape_every = args.number("scrape-every-ms", 0);
  std::function<uint64_t()> stop_scraper;
  if (scrape_every > 0) stop_scraper = start_scraper(rt, scrape_every);
  const auto t0 = Clock::now();
  (void)rt.send(pids[0], Token{hops});
  done.get_future().wait();
  const double wall = seconds_since(t0);
  const uint64_t scrapes = stop_scraper ? stop_scraper() : 0;
  std::printf(
      "bench=ring impl=canopy processes=%llu hops=%llu hops_per_s=%.0f wall_s=%.3f schedulers=%u telemetry=%s "
      "scrape_every_ms=%llu scrapes=%llu behaviours=%s\n",
      static_cast<unsigned long long>(n), static_cast<unsigned long long>(hops), hops / wall, wall, scheduler_count(rt),
      rt.options().telemetry.enabled ? "full" : "off", static_cast<unsigned long long>(scrape_every),
      static_cast<unsigned long long>(scrapes), rt.options().telemetry.behaviour_metrics ? "on" : "off");
  return 0;
}

// --- pingpong ---------------------------------------------------------------------

struct Ball {
  uint64_t remaining;
};

class Player final : public Actor {
 public:
  explicit Player(std::promise<void>* done) : done_(done) {}
  void handle(Message& m) override {
    if (auto* b = m.as<Ball>()) {
      if (b->remaining == 0) {
        done_->set_value();
        return;
      }
      (void)send(m.sender(), Ball{b->remaining - 1});
    } else if (auto* n = m.as<Next>()) {
      (void)send(n->pid, Ball{remaining_});
    }
  }
  uint64_t remaining_ = 0;

 private:
  std::promise<void>* done_;
};

int pingpong(const Args& args) {
  const uint64_t roundtrips = args.number("roundtrips", 1'000'000);
  Runtime rt(runtime_options(args));
  std::promise<void> done;
  auto ping = std::make_unique<Player>(&done);
  ping->remaining_ = roundtrips * 2;  // a round trip is two messages
  const Pid a = rt.spawn(std::move(ping)).value();
  const Pid b = rt.spawn<Player>(&done).value();
  const auto t0 = Clock::now();
  (void)rt.send(a, Next{b});
  done.get_future().wait();
  const double wall = seconds_since(t0);
  std::printf("bench=pingpong impl=canopy roundtrips=%llu roundtrips_per_s=%.0f wall_s=%.3f schedulers=%u\n",
              static_cast<unsigned long long>(roundtrips), roundtrips / wall, wall, scheduler_count(rt));
  return 0;
}

// --- spawn ---------------------------------------------------------------------------

struct Quit {};

class Idle final : public Actor {
 public:
  explicit Idle(std::atomic<uint64_t>* exited) : exited_(exited) {}
  void handle(Message&) override { stop(); }
  void terminate(const ExitReason&) override { exited_->fetch_add(1, std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t>* exited_;
};

int spawn(const Args& args) {
  const uint64_t n = args.number("processes", 1'000'000);
  Runtime rt(runtime_options(args, static_cast<uint32_t>(n + 16)));
  std::atomic<uint64_t> exited{0};
  std::vector<Pid> pids;
  pids.reserve(n);
  const uint64_t rss0 = rss_bytes();
  const auto t0 = Clock::now();
  for (uint64_t i = 0; i < n; ++i) {
    auto pid = rt.spawn<Idle>(&exited);
    if (!pid.ok()) {
      std::fprintf(stderr, "canopy-bench: spawn %llu failed: %s\n", static_cast<unsigned long long>(i),
                   pid.error().to_string().c_str());
      return 1;
    }
    pids.push_back(*pid);
  }
  const double spawn_s = seconds_since(t0);
  const uint64_t rss1 = rss_bytes();
  // The pid vector is the benchmark's, not the runtime's.
  const uint64_t pid_bytes = pids.capacity() * sizeof(Pid);
  const double per_process = rss1 > rss0 + pid_bytes ? static_cast<double>(rss1 - rss0 - pid_bytes) / n : 0.0;
  const auto t1 = Clock::now();
  for (Pid p : pids) (void)rt.send(p, Quit{});
  while (exited.load(std::memory_order_relaxed) < n) std::this_thread::sleep_for(std::chrono::microseconds(200));
  const double exit_s = seconds_since(t1);
  std::printf(
      "bench=spawn impl=canopy processes=%llu spawn_s=%.3f rss_bytes_per_process=%.0f exit_s=%.3f schedulers=%u\n",
      static_cast<unsigned long long>(n), spawn_s, per_process, exit_s, scheduler_count(rt));
  return 0;
}

// --- fanin -----------------------------------------------------------------------------

struct Go {};
struct Item {
  uint64_t value;
};

class Producer final : public Actor {
 public:
  Producer(Pid consumer, uint64_t messages) : consumer_(consumer), left_(messages) {}
  void handle(Message& m) override {
    if (!m.is<Go>()) return;
    // A batch per slice, then yield, so the consumer and the other producers run.
    for (int i = 0; i < 256 && left_ > 0; ++i, --left_) (void)send(consumer_, Item{left_});
    if (left_ > 0) (void)send(self(), Go{});
  }

 private:
  Pid consumer_;
  uint64_t left_;
};

class Consumer final : public Actor {
 public:
  Consumer(uint64_t expected, std::promise<void>* done) : expected_(expected), done_(done) {}
  void handle(Message& m) override {
    if (!m.is<Item>()) return;
    if ((++count_ & 1023) == 0) {
      if (auto info = runtime().process_info(self())) peak_ = std::max<uint64_t>(peak_, info->mailbox_length);
    }
    if (count_ == expected_) done_->set_value();
  }
  uint64_t peak_ = 0;

 private:
  uint64_t expected_;
  uint64_t count_ = 0;
  std::promise<void>* done_;
};

int fanin(const Args& args) {
  const uint64_t producers = args.number("producers", 8);
  const uint64_t messages = args.number("messages", 1'000'000);
  Runtime rt(runtime_options(args));
  std::promise<void> done;
  auto consumer_actor = std::make_unique<Consumer>(producers * messages, &done);
  Consumer* consumer = consumer_actor.get();
  const Pid c = rt.spawn(std::move(consumer_actor)).value();
  std::vector<Pid> ps;
  for (uint64_t i = 0; i < producers; ++i) ps.push_back(rt.spawn<Producer>(c, messages).value());
  const auto t0 = Clock::now();
  for (Pid p : ps) (void)rt.send(p, Go{});
  done.get_future().wait();
  const double wall = seconds_since(t0);
  // The consumer is idle now; its fields are safe to read after the promise.
  std::printf(
      "bench=fanin impl=canopy producers=%llu messages=%llu msgs_per_s=%.0f peak_mailbox=%llu wall_s=%.3f "
      "schedulers=%u\n",
      static_cast<unsigned long long>(producers), static_cast<unsigned long long>(messages),
      (producers * messages) / wall, static_cast<unsigned long long>(consumer->peak_), wall, scheduler_count(rt));
  return 0;
}

// --- pipeline -------------------------------------------------------------------
// A fast producer, a producer-consumer (+1) and a slow-ish consumer, twice in
// one run: as demand-driven stages, and as the same flow of fire-and-forget
// sends. peak_mailbox is the largest mailbox seen in the middle and last stage.

// The consumer's work per event.
uint64_t churn(uint64_t x) {
  for (int i = 0; i < 64; ++i) x = x * 6364136223846793005ull + 1442695040888963407ull;
  return x;
}

// Samples the mailbox of the calling process every 1024 events.
class MailboxPeak {
 public:
  void sample(Runtime& rt, Pid self) {
    if ((++n_ & 1023) != 0) return;
    if (auto info = rt.process_info(self)) peak_.store(std::max<uint64_t>(peak_.load(), info->mailbox_length));
  }
  uint64_t peak() const { return peak_.load(); }

 private:
  uint64_t n_ = 0;
  std::atomic<uint64_t> peak_{0};
};

class PipelineSource final : public canopy::Producer {
 public:
  PipelineSource(ProducerOptions o, uint64_t events) : Producer(std::move(o)), left_(events) {}
  void handle_demand(size_t demand) override {
    for (size_t i = 0; i < demand && left_ > 0; ++i) (void)emit(StageEvent(left_--));
  }

 private:
  uint64_t left_;
};

class PipelineMiddle final : public canopy::ProducerConsumer {
 public:
  PipelineMiddle(ProducerOptions p, ConsumerOptions c, MailboxPeak* peak)
      : ProducerConsumer(std::move(p), std::move(c)), peak_(peak) {}
  void handle_event(StageEvent& e, std::vector<StageEvent>& out) override {
    peak_->sample(runtime(), self());
    out.emplace_back(std::any_cast<uint64_t>(e) + 1);
  }

 private:
  MailboxPeak* peak_;
};

class PipelineSink final : public canopy::Consumer {
 public:
  PipelineSink(ConsumerOptions o, uint64_t expected, MailboxPeak* peak, std::promise<void>* done)
      : Consumer(std::move(o)), expected_(expected), peak_(peak), done_(done) {}
  void handle_event(StageEvent& e) override {
    peak_->sample(runtime(), self());
    sum_ += churn(std::any_cast<uint64_t>(e));
    if (++count_ == expected_) done_->set_value();
  }
  uint64_t sum_ = 0;

 private:
  uint64_t expected_;
  uint64_t count_ = 0;
  MailboxPeak* peak_;
  std::promise<void>* done_;
};

// The plain flow: the same three steps as fire-and-forget sends; the source
// is fanin's Producer (256 sends per slice, then yield).
class PlainMiddle final : public Actor {
 public:
  PlainMiddle(Pid next, MailboxPeak* peak) : next_(next), peak_(peak) {}
  void handle(Message& m) override {
    auto* item = m.as<Item>();
    if (item == nullptr) return;
    peak_->sample(runtime(), self());
    (void)send(next_, Item{item->value + 1});
  }

 private:
  Pid next_;
  MailboxPeak* peak_;
};

class PlainSink final : public Actor {
 public:
  PlainSink(uint64_t expected, MailboxPeak* peak, std::promise<void>* done)
      : expected_(expected), peak_(peak), done_(done) {}
  void handle(Message& m) override {
    auto* item = m.as<Item>();
    if (item == nullptr) return;
    peak_->sample(runtime(), self());
    sum_ += churn(item->value);
    if (++count_ == expected_) done_->set_value();
  }
  uint64_t sum_ = 0;

 private:
  uint64_t expected_;
  uint64_t count_ = 0;
  MailboxPeak* peak_;
  std::promise<void>* done_;
};

int pipeline(const Args& args) {
  const uint64_t events = args.number("events", 10'000'000);
  const uint32_t max_demand = static_cast<uint32_t>(args.number("max-demand", 1'000));
  double stage_wall = 0;
  uint64_t stage_peak = 0;
  unsigned schedulers = 0;
  {
    Runtime rt(runtime_options(args));
    schedulers = scheduler_count(rt);
    MailboxPeak peak;
    std::promise<void> done;
    ProducerOptions src_opts;
    src_opts.name = "source";
    src_opts.buffer_size = max_demand;
    const Pid src = rt.spawn(std::make_unique<PipelineSource>(src_opts, events)).value();
    ProducerOptions mid_p;
    mid_p.name = "middle";
    mid_p.buffer_size = 2 * max_demand;
    ConsumerOptions mid_c;
    mid_c.name = "middle";
    SubscribeTo to_src;
    to_src.pid = src;
    to_src.max_demand = max_demand;
    mid_c.subscribe_to = {to_src};
    const auto t0 = Clock::now();
    const Pid mid = rt.spawn(std::make_unique<PipelineMiddle>(mid_p, mid_c, &peak)).value();
    ConsumerOptions sink_c;
    sink_c.name = "sink";
    SubscribeTo to_mid;
    to_mid.pid = mid;
    to_mid.max_demand = max_demand;
    sink_c.subscribe_to = {to_mid};
    (void)rt.spawn(std::make_unique<PipelineSink>(sink_c, events, &peak, &done)).value();
    done.get_future().wait();
    stage_wall = seconds_since(t0);
    stage_peak = peak.peak();
  }
  double plain_wall = 0;
  uint64_t plain_peak = 0;
  {
    Runtime rt(runtime_options(args));
    MailboxPeak peak;
    std::promise<void> done;
    const Pid sink = rt.spawn<PlainSink>(events, &peak, &done).value();
    const Pid mid = rt.spawn<PlainMiddle>(sink, &peak).value();
    const Pid src = rt.spawn<Producer>(mid, events).value();
    const auto t0 = Clock::now();
    (void)rt.send(src, Go{});
    done.get_future().wait();
    plain_wall = seconds_since(t0);
    plain_peak = peak.peak();
  }
  std::printf(
      "bench=pipeline impl=canopy events=%llu events_per_s=%.0f peak_mailbox=%llu plain_events_per_s=%.0f "
      "plain_peak_mailbox=%llu max_demand=%u wall_s=%.3f plain_wall_s=%.3f schedulers=%u\n",
      static_cast<unsigned long long>(events), events / stage_wall, static_cast<unsigned long long>(stage_peak),
      events / plain_wall, static_cast<unsigned long long>(plain_peak), max_demand, stage_wall, plain_wall, schedulers);
  return 0;
}

}  // namespace

int upgrade_bench(const canopy::bench::Args& args);
int api_bench(const canopy::bench::Args& args);
int dump_bench(const canopy::bench::Args& args);
int backlog_bench(const canopy::bench::Args& args);
int linetrip_bench(const canopy::bench::Args& args);

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: canopy-bench WORKLOAD [--name value | --name=value ...]\n"
                 "  ring     --processes 10000 --hops 10000000\n"
                 "  pingpong --roundtrips 1000000\n"
                 "  spawn    --processes 1000000\n"
                 "  fanin    --producers 8 --messages 1000000\n"
                 "  pipeline --events 10000000 (--max-demand 1000)\n"
                 "  table    --threads 2 --entries 1000000\n"
                 "  scrape   --series 10000 (--rounds 20)\n"
                 "  poll     --processes 1000000 (--rounds 10): one poller round's cost\n"
                 "  http     --series 2000 --seconds 3 --clients 50 --slow 200: the server under load\n"
                 "  alloc    --processes 1000 --hops 2000000 (--rounds 3): heap accounting on vs off\n"
                 "  upgrade  --processes 100000: hot upgrade of N processes of one module\n"
                 "  api      --processes 1000000 (--rounds 11): the sorted top-50 of /api/v1/processes\n"
                 "  dump     --processes 1000000: time and bytes of a crash dump of N processes\n"
                 "  backlog  --backlog 2000000 (--short 1000): a consumer draining a mailbox of N against short ones\n"
                 "  linetrip --roundtrips 1000000: the machine's cache-line round trip between two cores\n"
                 "  ring also takes --scrape-every-ms N (scrape /metrics while it runs)\n"
                 "  every workload: --schedulers N (default: one per hardware thread),\n"
                 "                  --behaviours on|off (per-behaviour metrics, default on),\n"
                 "                  --telemetry full|off (default full: built-in metrics and the poller)\n");
    return 2;
  }
  const std::string workload = argv[1];
  const Args args(argc, argv, 2);
  if (workload == "ring") return ring(args);
  if (workload == "pingpong") return pingpong(args);
  if (workload == "spawn") return spawn(args);
  if (workload == "fanin") return fanin(args);
  if (workload == "pipeline") return pipeline(args);
  if (workload == "table") return table_bench(args);
  if (workload == "scrape") return scrape_bench(args);
  if (workload == "poll") return poll_bench(args);
  if (workload == "http") return http_bench(args);
  if (workload == "alloc") return alloc_bench(args);
  if (workload == "upgrade") return upgrade_bench(args);
  if (workload == "api") return api_bench(args);
  if (workload == "dump") return dump_bench(args);
  if (workload == "backlog") return backlog_bench(args);
  if (workload == "linetrip") return linetrip_bench(args);
  std::fprintf(stderr,
               "canopy-bench: unknown workload '%s' (ring, pingpong, spawn, fanin, pipeline, table, scrape, poll, "
               "http, alloc, upgrade, api, dump, backlog, linetrip)\n",
               workload.c_str());
  return 2;
}
