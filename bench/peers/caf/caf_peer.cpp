// CAF 0.17 peer for the canopy benchmark suite.
//
// Implements the same four workloads as `canopy-bench` and the Erlang peer
// (bench/peers/erlang/peer.escript) and prints exactly one line per run:
//
//   bench=WORKLOAD impl=caf key=value ...
//
// Usage:
//   canopy-caf-peer ring     [--processes 10000] [--hops 10000000]
//   canopy-caf-peer pingpong [--roundtrips 1000000]
//   canopy-caf-peer spawn    [--processes 1000000]
//   canopy-caf-peer fanin    [--producers 8] [--messages 1000000]
//   common: [--schedulers N]   (default: all cores; sets scheduler.max-threads)
//           [--caf-policy stealing|sharing]  (default: stealing, CAF's
//           default; sets scheduler.policy -- for manual experiments only)
//
// All actors are CAF event-based actors. The main thread talks to them via a
// scoped_actor (or, for `spawn`, via anon_send + actor_system::
// await_all_actors_done()).

#include <caf/all.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

// -- atoms (prefixed to avoid clashing with atoms predefined by CAF) ---------

using bench_go_atom = caf::atom_constant<caf::atom("bgo")>;
using bench_done_atom = caf::atom_constant<caf::atom("bdone")>;
using bench_stop_atom = caf::atom_constant<caf::atom("bstop")>;
using bench_next_atom = caf::atom_constant<caf::atom("bnext")>;
using bench_msg_atom = caf::atom_constant<caf::atom("bmsg")>;

// -- helpers ------------------------------------------------------------------

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// Resident set size of this process in bytes (VmRSS from /proc/self/status).
long long rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, 6, "VmRSS:") == 0) return std::atoll(line.c_str() + 6) * 1024LL;  // value is in kB
  }
  return -1;
}

struct options {
  std::string workload;
  long long processes = -1;  // workload-specific default
  long long hops = 10000000;
  long long roundtrips = 1000000;
  long long producers = 8;
  long long messages = 1000000;
  long long schedulers = 0;  // 0 = all cores
  std::string policy;        // empty = CAF default (work stealing)
};

[[noreturn]] void usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s ring|pingpong|spawn|fanin [--processes N] "
               "[--hops N] [--roundtrips N] [--producers N] [--messages N] "
               "[--schedulers N] [--caf-policy stealing|sharing]\n",
               argv0);
  std::exit(2);
}

options parse_args(int argc, char** argv) {
  options opts;
  if (argc < 2) usage(argv[0]);
  opts.workload = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc) usage(argv[0]);
    if (flag == "--caf-policy") {
      opts.policy = argv[++i];
      if (opts.policy != "stealing" && opts.policy != "sharing") usage(argv[0]);
      continue;
    }
    char* end = nullptr;
    long long val = std::strtoll(argv[i + 1], &end, 10);
    if (end == argv[i + 1] || *end != '\0' || val < 0) usage(argv[0]);
    ++i;
    if (flag == "--processes")
      opts.processes = val;
    else if (flag == "--hops")
      opts.hops = val;
    else if (flag == "--roundtrips")
      opts.roundtrips = val;
    else if (flag == "--producers")
      opts.producers = val;
    else if (flag == "--messages")
      opts.messages = val;
    else if (flag == "--schedulers")
      opts.schedulers = val;
    else
      usage(argv[0]);
  }
  return opts;
}

// -- ring ---------------------------------------------------------------------

struct ring_state {
  caf::actor next;
  caf::actor main;
};

// A ring node forwards the token (remaining hop count) to its successor. The
// node receiving the token with value 1 has performed the last hop.
caf::behavior ring_node(caf::stateful_actor<ring_state>* self, caf::actor next, caf::actor main) {
  self->state.next = std::move(next);
  self->state.main = std::move(main);
  return {
      [=](bench_next_atom, caf::actor nxt) { self->state.next = std::move(nxt); },
      [=](int64_t remaining) {
        if (remaining <= 1)
          self->send(self->state.main, bench_done_atom::value);
        else
          self->send(self->state.next, remaining - 1);
      },
  };
}

void run_ring(caf::actor_system& sys, const options& opts) {
  long long n = opts.processes < 0 ? 10000 : opts.processes;
  long long hops = opts.hops;
  if (n < 1) n = 1;
  caf::scoped_actor self{sys};
  caf::actor main_hdl{self};
  std::vector<caf::actor> nodes(static_cast<size_t>(n));
  // Spawn node 0 without successor, then nodes n-1 .. 1 each pointing to the
  // previously spawned one, and finally close the ring with one message.
  nodes[0] = sys.spawn(ring_node, caf::actor{}, main_hdl);
  caf::actor succ = nodes[0];
  for (long long i = n - 1; i >= 1; --i) {
    nodes[static_cast<size_t>(i)] = sys.spawn(ring_node, succ, main_hdl);
    succ = nodes[static_cast<size_t>(i)];
  }
  self->send(nodes[0], bench_next_atom::value, n > 1 ? nodes[1] : nodes[0]);
  auto t0 = clock_type::now();
  if (hops > 0) {
    // The injection from main into node 0 counts as the first hop.
    self->send(nodes[0], static_cast<int64_t>(hops));
    self->receive([](bench_done_atom) {});
  }
  double wall = seconds_since(t0);
  for (auto& a : nodes) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  nodes.clear();
  std::printf(
      "bench=ring impl=caf processes=%lld hops=%lld hops_per_s=%.0f "
      "wall_s=%.6f\n",
      n, hops, wall > 0 ? static_cast<double>(hops) / wall : 0.0, wall);
}

// -- pingpong -----------------------------------------------------------------

struct peer_state {
  caf::actor peer;
};

caf::behavior pong_node(caf::stateful_actor<peer_state>* self) {
  return {
      [=](bench_next_atom, caf::actor p) { self->state.peer = std::move(p); },
      [=](int64_t n) { self->send(self->state.peer, n); },
  };
}

// Ping counts completed roundtrips (ping -> pong -> ping).
caf::behavior ping_node(caf::stateful_actor<peer_state>* self, caf::actor pong, caf::actor main, int64_t rounds) {
  self->state.peer = std::move(pong);
  return {
      [=](bench_go_atom) {
        if (rounds <= 0)
          self->send(main, bench_done_atom::value);
        else
          self->send(self->state.peer, int64_t{1});
      },
      [=](int64_t n) {
        if (n >= rounds)
          self->send(main, bench_done_atom::value);
        else
          self->send(self->state.peer, n + 1);
      },
  };
}

void run_pingpong(caf::actor_system& sys, const options& opts) {
  long long rounds = opts.roundtrips;
  caf::scoped_actor self{sys};
  auto pong = sys.spawn(pong_node);
  auto ping = sys.spawn(ping_node, pong, caf::actor{self}, static_cast<int64_t>(rounds));
  self->send(pong, bench_next_atom::value, ping);
  auto t0 = clock_type::now();
  self->send(ping, bench_go_atom::value);
  self->receive([](bench_done_atom) {});
  double wall = seconds_since(t0);
  caf::anon_send_exit(ping, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(pong, caf::exit_reason::user_shutdown);
  std::printf(
      "bench=pingpong impl=caf roundtrips=%lld roundtrips_per_s=%.0f "
      "wall_s=%.6f\n",
      rounds, wall > 0 ? static_cast<double>(rounds) / wall : 0.0, wall);
}

// -- spawn --------------------------------------------------------------------

void run_spawn(caf::actor_system& sys, const options& opts) {
  long long n = opts.processes < 0 ? 1000000 : opts.processes;
  // Counts actors that have run their initialization, i.e. are blocked
  // waiting for a message. spawn_s covers "spawn returned for all N" plus
  // "all N initialized" (CAF initializes event-based actors asynchronously on
  // a worker thread; the Erlang peer measures the same readiness condition).
  // The actor that completes the count wakes the main thread (no spinning:
  // on a 2-core box a spinning main thread would steal CPU from the workers).
  std::atomic<long long> ready{0};
  std::promise<void> all_ready;
  auto all_ready_future = all_ready.get_future();
  auto idle = [&ready, &all_ready, n](caf::event_based_actor* self) -> caf::behavior {
    if (ready.fetch_add(1, std::memory_order_acq_rel) + 1 == n) all_ready.set_value();
    return {
        [=](bench_stop_atom) { self->quit(); },
    };
  };
  std::vector<caf::actor> handles;
  long long rss0 = rss_bytes();
  auto t0 = clock_type::now();
  handles.reserve(static_cast<size_t>(n));
  for (long long i = 0; i < n; ++i) handles.emplace_back(sys.spawn(idle));
  if (n > 0) all_ready_future.wait();
  double spawn_s = seconds_since(t0);
  long long rss1 = rss_bytes();
  // exit_s: send every actor a stop message, drop our handles and wait until
  // the registry reports no running actors. Note: with CAF 0.17's default
  // work-stealing scheduler this phase is very noisy (seen 2 s .. 67 s for 1M
  // actors on 2 cores): a worker whose own queue is empty steals via
  // double_ended_queue::take_tail(), which walks the victim's queue to find
  // the predecessor (O(queue length)) while holding the victim's head lock.
  // `--caf-policy sharing` avoids that (about 2.3-2.9 s).
  auto t1 = clock_type::now();
  for (auto& a : handles) caf::anon_send(a, bench_stop_atom::value);
  handles.clear();
  handles.shrink_to_fit();
  sys.await_all_actors_done();
  double exit_s = seconds_since(t1);
  double per_proc = n > 0 ? static_cast<double>(rss1 - rss0) / n : 0.0;
  std::printf(
      "bench=spawn impl=caf processes=%lld spawn_s=%.6f "
      "rss_bytes_per_process=%.1f exit_s=%.6f\n",
      n, spawn_s, per_proc, exit_s);
}

// -- fanin --------------------------------------------------------------------

// One counter per producer on its own cache line: number of messages that
// producer has enqueued so far (single writer, so a relaxed store suffices).
struct alignas(64) padded_counter {
  std::atomic<uint64_t> value{0};
};

caf::behavior producer_node(caf::event_based_actor* self, caf::actor consumer, uint64_t count, padded_counter* sent) {
  return {
      [=](bench_go_atom) {
        for (uint64_t i = 1; i <= count; ++i) {
          self->send(consumer, bench_msg_atom::value);
          sent->value.store(i, std::memory_order_relaxed);
        }
        self->quit();
      },
  };
}

struct consumer_state {
  uint64_t received = 0;
  uint64_t peak = 0;
};

// Mailbox length is estimated as (sum of producer send counters) - received,
// sampled every 1024 messages. (scheduled_actor::mailbox().size() exists in
// CAF 0.17 but calls fetch_more() on the inbox, i.e. mutates the actor's
// internal queue; we avoid calling it from inside a handler.)
caf::behavior consumer_node(caf::stateful_actor<consumer_state>* self, caf::actor main, uint64_t total,
                            std::shared_ptr<std::vector<padded_counter>> sent) {
  return {
      [=](bench_msg_atom) {
        auto& st = self->state;
        ++st.received;
        if ((st.received & 1023u) == 0) {
          uint64_t s = 0;
          for (auto& c : *sent) s += c.value.load(std::memory_order_relaxed);
          if (s > st.received && s - st.received > st.peak) st.peak = s - st.received;
        }
        if (st.received == total) {
          self->send(main, bench_done_atom::value, st.peak);
          self->quit();
        }
      },
  };
}

void run_fanin(caf::actor_system& sys, const options& opts) {
  long long p = opts.producers;
  long long m = opts.messages;
  uint64_t total = static_cast<uint64_t>(p) * static_cast<uint64_t>(m);
  caf::scoped_actor self{sys};
  auto sent = std::make_shared<std::vector<padded_counter>>(static_cast<size_t>(p));
  auto consumer = sys.spawn(consumer_node, caf::actor{self}, total, sent);
  std::vector<caf::actor> producers;
  for (long long i = 0; i < p; ++i)
    producers.emplace_back(
        sys.spawn(producer_node, consumer, static_cast<uint64_t>(m), &(*sent)[static_cast<size_t>(i)]));
  uint64_t peak = 0;
  auto t0 = clock_type::now();
  for (auto& a : producers) self->send(a, bench_go_atom::value);
  if (total > 0) self->receive([&](bench_done_atom, uint64_t pk) { peak = pk; });
  double wall = seconds_since(t0);
  if (total == 0) {
    caf::anon_send_exit(consumer, caf::exit_reason::user_shutdown);
  }
  std::printf(
      "bench=fanin impl=caf producers=%lld messages=%lld "
      "msgs_per_s=%.0f peak_mailbox=%" PRIu64 " wall_s=%.6f\n",
      p, m, wall > 0 ? static_cast<double>(total) / wall : 0.0, peak, wall);
}

}  // namespace

int main(int argc, char** argv) {
  options opts = parse_args(argc, argv);
  long long threads = opts.schedulers;
  if (threads <= 0) {
    threads = static_cast<long long>(std::thread::hardware_concurrency());
    if (threads <= 0) threads = 1;
  }
  caf::actor_system_config cfg;
  // CAF's own default is max(hardware_concurrency, 4); set it explicitly so
  // that "all cores" means the same as for the other implementations.
  cfg.set("scheduler.max-threads", static_cast<int64_t>(threads));
  if (!opts.policy.empty()) cfg.set("scheduler.policy", caf::atom_from_string(opts.policy));
  caf::actor_system sys{cfg};
  if (opts.workload == "ring")
    run_ring(sys, opts);
  else if (opts.workload == "pingpong")
    run_pingpong(sys, opts);
  else if (opts.workload == "spawn")
    run_spawn(sys, opts);
  else if (opts.workload == "fanin")
    run_fanin(sys, opts);
  else
    usage(argv[0]);
  std::fflush(stdout);
  return 0;
}
