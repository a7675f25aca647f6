// canopy-bench table [--threads 2] [--entries 1000000] [--lookups 4000000] [--rounds 3] [--schedulers 1]
//                    [--telemetry full|off]
//
// Lookup and insert throughput of a canopy table (Table<uint64_t, uint64_t>,
// kind set, read_heavy, public, owned by an idle process) against the usual
// hand-rolled alternative, a std::unordered_map behind a std::shared_mutex,
// in the same run:
//   inserts: `threads` threads insert disjoint ranges of `entries` keys into
//            an empty table / map (the map takes the mutex exclusively);
//   lookups: `threads` threads look up `lookups` keys in total, uniformly at
//            random among the `entries` present (the map takes it shared).
// Keys are splitmix64(i): random 64-bit values, as hashes, ids and the like
// are, rather than 0..n-1 (for which std::hash, the identity, lays the map's
// nodes out in lookup order). Each measurement is the best of `rounds`.
// Prints one line:
//   bench=table impl=canopy threads=.. entries=.. lookups_per_s=.. baseline_lookups_per_s=..
//   inserts_per_s=.. baseline_inserts_per_s=.. lookup_ratio=.. insert_ratio=.. memory_bytes=.. rounds=.. telemetry=..
#include <canopy/core/core.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "args.hpp"

int table_bench(const canopy::bench::Args& args);

namespace {

using Clock = std::chrono::steady_clock;

uint64_t key_of(uint64_t i) {
  uint64_t z = i + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Runs body(thread_index) on `threads` threads started together; returns seconds.
template <typename F>
double timed(unsigned threads, F body) {
  std::atomic<unsigned> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> ts;
  for (unsigned t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      body(t);
    });
  }
  while (ready.load() < threads) std::this_thread::yield();
  const auto t0 = Clock::now();
  go.store(true, std::memory_order_release);
  for (auto& t : ts) t.join();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The lookups of thread t: `count` random indexes in [0, entries).
template <typename Find>
uint64_t lookup_loop(unsigned t, uint64_t count, uint64_t entries, Find&& find) {
  uint64_t rng = 0x2545F4914F6CDD1DULL * (t + 1);
  uint64_t sum = 0;
  for (uint64_t i = 0; i < count; ++i) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    sum += find(key_of(rng % entries));
  }
  return sum;
}

struct Baseline {
  std::shared_mutex mu;
  std::unordered_map<uint64_t, uint64_t> map;
};

}  // namespace

int table_bench(const canopy::bench::Args& args) {
  using namespace canopy;
  args.allow_only("table", {"threads", "entries", "lookups", "rounds", "schedulers", "telemetry"});
  const unsigned threads = static_cast<unsigned>(std::max<uint64_t>(1, args.number("threads", 2)));
  const uint64_t entries = std::max<uint64_t>(1, args.number("entries", 1'000'000));
  const uint64_t lookups = std::max<uint64_t>(threads, args.number("lookups", 4 * entries));
  const unsigned rounds = static_cast<unsigned>(std::max<uint64_t>(1, args.number("rounds", 3)));
  RuntimeOptions ro;
  ro.schedulers = static_cast<unsigned>(args.number("schedulers", 1));
  ro.telemetry.enabled = bench::telemetry_enabled(args);
  const std::string telemetry = ro.telemetry.enabled ? "full" : "off";
  Runtime rt(ro);
  using T = Table<uint64_t, uint64_t>;

  const uint64_t per_thread = entries / threads;
  auto range_of = [&](unsigned t) {
    const uint64_t lo = t * per_thread;
    return std::pair<uint64_t, uint64_t>(lo, t + 1 == threads ? entries : lo + per_thread);
  };

  double best_insert = 0, best_base_insert = 0, best_lookup = 0, best_base_lookup = 0;
  size_t memory = 0;
  std::atomic<uint64_t> failures{0};
  std::atomic<uint64_t> sink{0};
  for (unsigned round = 0; round < rounds; ++round) {
    // --- baseline ---------------------------------------------------------------------
    {
      auto base = std::make_unique<Baseline>();
      const double ins = timed(threads, [&](unsigned t) {
        auto [lo, hi] = range_of(t);
        for (uint64_t i = lo; i < hi; ++i) {
          std::unique_lock lock(base->mu);
          base->map.emplace(key_of(i), i);
        }
      });
      best_base_insert = std::max(best_base_insert, entries / ins);
      const double look = timed(threads, [&](unsigned t) {
        sink += lookup_loop(t, lookups / threads, entries, [&](uint64_t k) -> uint64_t {
          std::shared_lock lock(base->mu);
          auto it = base->map.find(k);
          return it == base->map.end() ? 0 : it->second;
        });
      });
      best_base_lookup = std::max(best_base_lookup, (lookups / threads) * threads / look);
    }
    // --- canopy ---------------------------------------------------------------------------
    {
      // The table's owner: an idle process, stopped after the round (which deletes the table).
      const Pid owner =
          rt.spawn(std::make_unique<FunctionActor>([](FunctionActor& self, Message&) { self.stop(); })).value();
      auto table = T::create(
          rt,
          TableOptions{.access = TableAccess::public_, .concurrency = TableConcurrency::read_heavy, .owner = owner});
      if (!table.ok()) {
        std::fprintf(stderr, "canopy-bench table: %s\n", table.error().to_string().c_str());
        return 1;
      }
      T t = table.value();
      const double ins = timed(threads, [&](unsigned th) {
        auto [lo, hi] = range_of(th);
        for (uint64_t i = lo; i < hi; ++i) {
          if (!t.insert(key_of(i), i).ok()) failures.fetch_add(1, std::memory_order_relaxed);
        }
      });
      best_insert = std::max(best_insert, entries / ins);
      const double look = timed(threads, [&](unsigned th) {
        sink += lookup_loop(th, lookups / threads, entries, [&](uint64_t k) -> uint64_t {
          auto r = t.lookup(k);
          if (!r.ok()) {
            failures.fetch_add(1, std::memory_order_relaxed);
            return 0;
          }
          return r.value();
        });
      });
      best_lookup = std::max(best_lookup, (lookups / threads) * threads / look);
      memory = t.memory();
      if (t.size() != entries) failures.fetch_add(1, std::memory_order_relaxed);
      (void)rt.send(owner, 0);  // any message stops the owner
      while (!t.deleted()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  if (failures.load() != 0) {
    std::fprintf(stderr, "canopy-bench table: %llu failed operations\n",
                 static_cast<unsigned long long>(failures.load()));
    return 1;
  }
  std::printf(
      "bench=table impl=canopy threads=%u entries=%llu lookups_per_s=%.0f baseline_lookups_per_s=%.0f "
      "inserts_per_s=%.0f baseline_inserts_per_s=%.0f lookup_ratio=%.2f insert_ratio=%.2f memory_bytes=%zu "
      "rounds=%u telemetry=%s\n",
      threads, static_cast<unsigned long long>(entries), best_lookup, best_base_lookup, best_insert, best_base_insert,
      best_lookup / best_base_lookup, best_insert / best_base_insert, memory, rounds, telemetry.c_str());
  return sink.load() == 42 ? 3 : 0;  // (never: keeps the sums alive)
}
