// Concurrent readers and writers (run under ThreadSanitizer by the tsan
// preset). Worker threads only record into atomics; the test thread asserts.
#include <map>
#include <random>
#include <set>

#include "table_test_support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_tables_concurrency_concurrent_table_test {

using namespace canopy;
using namespace table_test;

namespace {

struct Val {
  int key = 0;
  int version = 0;
  std::string pad;  // sometimes long enough to live on the heap
  size_t dynamic_size() const { return canopy::dynamic_size(pad); }
};

using VT = Table<int, Val>;

template <typename Tbl>
Tbl make(Runtime& rt, Pid owner, TableOptions o = {}) {
  o.access = TableAccess::public_;
  o.owner = owner;
  auto t = Tbl::create(rt, std::move(o));
  REQUIRE_OK(t);
  return t.value();
}

}  // namespace

TEST_CASE("concurrent readers and writers see whole values and exact counts") {
  for (auto conc : {TableConcurrency::read_heavy, TableConcurrency::write_heavy}) {
    INFO(to_string(conc));
    Runtime rt(RuntimeOptions{.schedulers = 2});
    const Pid owner = spawn_runner(rt);
    VT t = make<VT>(rt, owner, TableOptions{.concurrency = conc});
    constexpr int kKeys = 4096;
    constexpr int kWriters = 2;
    constexpr int kReaders = 4;
    const int ops = scaled(40'000);
    std::atomic<int> torn{0};
    std::atomic<int> errors{0};
    std::atomic<uint64_t> reader_lookups{0};
    std::atomic<bool> writers_done{false};
    // Each writer owns the keys k % kWriters == w and tracks their state.
    std::vector<std::map<int, Val>> state(kWriters);

    std::vector<std::thread> threads;
    for (int w = 0; w < kWriters; ++w) {
      threads.emplace_back([&, w] {
        std::mt19937 rng(static_cast<unsigned>(w + 1));
        auto& mine = state[static_cast<size_t>(w)];
        for (int i = 0; i < ops; ++i) {
          const int k = static_cast<int>(rng() % (kKeys / kWriters)) * kWriters + w;
          switch (rng() % 5) {
            case 0:
            case 1: {
              Val v{k, i, std::string(rng() % 2 == 0 ? 3 : 40, 'p')};
              if (!t.insert(k, v).ok()) ++errors;  // the table holds a copy
              // So does mine, with the same capacity (assigning into an
              // existing string could keep its old, larger buffer).
              mine.erase(k);
              mine.emplace(k, std::move(v));
              break;
            }
            case 2: {
              auto r = t.update(k, [&](Val& v) { v.version = i; });
              if (r.ok() != (mine.count(k) == 1)) ++errors;
              if (r.ok()) mine[k].version = i;
              break;
            }
            case 3: {
              auto r = t.erase(k);
              if (!r.ok() || r.value() != (mine.erase(k) == 1)) ++errors;
              break;
            }
            default: {
              auto r = t.take(k);
              const bool had = mine.erase(k) == 1;
              if (r.ok() != had || (r.ok() && r.value().key != k)) ++errors;
            }
          }
        }
      });
    }
    for (int r = 0; r < kReaders; ++r) {
      threads.emplace_back([&, r] {
        std::mt19937 rng(static_cast<unsigned>(100 + r));
        uint64_t n = 0;
        while (!writers_done.load(std::memory_order_acquire) || n < 1000) {
          const int k = static_cast<int>(rng() % kKeys);
          auto v = t.lookup(k);
          ++n;
          if (v.ok() && (v.value().key != k || (v.value().pad.size() != 3 && v.value().pad.size() != 40))) ++torn;
          if (!v.ok() && v.code() != Errc::not_registered) ++errors;
          if (n % 512 == 0) {
            // Whole-table reads too.
            auto m = t.match([](const int& key, const Val& val) { return val.key != key; });
            if (!m.ok() || !m.value().empty()) ++torn;
          }
        }
        reader_lookups += n;
      });
    }
    for (int w = 0; w < kWriters; ++w) threads[static_cast<size_t>(w)].join();
    writers_done = true;
    for (size_t i = kWriters; i < threads.size(); ++i) threads[i].join();

    CHECK(torn == 0);
    CHECK(errors == 0);
    size_t expected_size = 0;
    size_t expected_bytes = t.fixed_bytes();
    for (auto& mine : state) {
      expected_size += mine.size();
      for (auto& [k, v] : mine) {
        expected_bytes += VT::entry_bytes(k, v);
        auto got = t.lookup(k);
        REQUIRE_OK(got);
        CHECK(got.value().version == v.version);
      }
    }
    CHECK(t.size() == expected_size);
    CHECK(t.memory() == expected_bytes);
    const TableCounters c = t.counters();
    CHECK(c.lookups == reader_lookups.load() + expected_size);
    CHECK(c.hits + c.misses == c.lookups);
  }
}

TEST_CASE("iteration under concurrent writes returns every stable key exactly once") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  const Pid owner = spawn_runner(rt);
  auto t = make<Table<int, int>>(rt, owner, TableOptions{.stripes = 8});
  for (int i = 0; i < 1000; ++i) REQUIRE_OK(t.insert(i, i));
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0};
  std::thread writer([&] {
    std::mt19937 rng(7);
    int next = 10'000;
    while (!stop.load(std::memory_order_acquire)) {
      // Volatile keys: a sliding window of about 200 (new ones in, old ones out).
      if (!t.insert(next, 0).ok()) ++errors;
      if (next - 10'000 >= 200) {
        (void)t.erase(next - 200);
        (void)t.erase(next - 199 + static_cast<int>(rng() % 199));
      }
      ++next;
      if (!t.insert(static_cast<int>(rng() % 1000), -1).ok()) ++errors;  // overwrites keep their place
    }
  });
  const int rounds = scaled(40);
  int bad_rounds = 0;
  for (int round = 0; round < rounds; ++round) {
    std::map<int, int> seen;
    for (auto c = t.first(); c.ok() && !c->end(); c = t.next(*c)) ++seen[c->key()];
    bool ok = true;
    for (int i = 0; i < 1000; ++i) ok = ok && seen[i] == 1;
    for (auto& [k, n] : seen) ok = ok && n == 1;
    if (!ok) ++bad_rounds;
  }
  stop = true;
  writer.join();
  CHECK(bad_rounds == 0);
  CHECK(errors == 0);
}

TEST_CASE("bounded tables keep exact counts under concurrent inserts") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  const Pid owner = spawn_runner(rt);
  constexpr int kThreads = 4;
  const int per_thread = scaled(5'000);
  using IT = Table<int, int>;
  for (auto policy : {EvictionPolicy::evict_oldest, EvictionPolicy::evict_lru, EvictionPolicy::reject}) {
    for (auto conc : {TableConcurrency::read_heavy, TableConcurrency::write_heavy}) {
      INFO(to_string(policy) << " " << to_string(conc));
      auto t = make<IT>(rt, owner, TableOptions{.concurrency = conc, .max_entries = 1000, .on_full = policy});
      std::atomic<int> accepted{0};
      std::vector<std::thread> threads;
      for (int th = 0; th < kThreads; ++th) {
        threads.emplace_back([&, th] {
          for (int i = 0; i < per_thread; ++i) {
            if (t.insert(th * 1'000'000 + i, i).ok()) ++accepted;
            if (i % 3 == 0) (void)t.lookup(th * 1'000'000 + i / 2);
          }
        });
      }
      for (auto& th : threads) th.join();
      const int total = kThreads * per_thread;
      const TableCounters c = t.counters();
      CHECK(t.size() == static_cast<size_t>(std::min(1000, total)));
      CHECK(t.memory() == t.fixed_bytes() + t.size() * IT::entry_bytes(0, 0));
      if (policy == EvictionPolicy::reject) {
        CHECK(accepted == std::min(1000, total));
        CHECK(c.rejected == static_cast<uint64_t>(total - accepted));
        CHECK(c.evictions() == 0);
      } else {
        CHECK(accepted == total);
        CHECK(c.evictions_max_entries == static_cast<uint64_t>(total - std::min(1000, total)));
      }
    }
  }
}

TEST_CASE("updates are atomic read-modify-writes") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  const Pid owner = spawn_runner(rt);
  for (auto kind : {TableKind::set, TableKind::ordered_set}) {
    for (auto conc : {TableConcurrency::read_heavy, TableConcurrency::write_heavy}) {
      auto t = make<Table<int, long>>(rt, owner, TableOptions{.kind = kind, .concurrency = conc});
      REQUIRE_OK(t.insert(0, 0));
      const int per_thread = scaled(10'000);
      std::vector<std::thread> threads;
      for (int th = 0; th < 4; ++th) {
        threads.emplace_back([&] {
          for (int i = 0; i < per_thread; ++i) (void)t.update(0, [](long& v) { ++v; });
        });
      }
      for (auto& th : threads) th.join();
      CHECK(t.lookup(0).value() == 4L * per_thread);
      CHECK(t.counters().updates == 4U * static_cast<unsigned>(per_thread));
    }
  }
}

TEST_CASE("the background sweeper runs while the table is read and written") {
  auto clock = std::make_shared<ManualTableClock>();
  Runtime rt(RuntimeOptions{.schedulers = 2});
  const Pid owner = spawn_runner(rt);
  using IT = Table<int, int>;
  auto t = make<IT>(rt, owner,
                    TableOptions{.default_ttl = 10ms, .clock = clock, .sweep_interval = 1ms, .sweep_batch = 1000});
  const int total = scaled(200'000);
  std::atomic<bool> writing{true};
  std::atomic<int> inserted{0};
  std::atomic<int> wrong{0};
  std::thread writer([&] {
    for (int i = 0; i < total; ++i) {
      if (t.insert(i, i).ok()) ++inserted;
    }
    writing = false;
  });
  std::thread ticker([&] {
    while (writing.load(std::memory_order_acquire)) {
      clock->advance(1ms);
      std::this_thread::yield();
    }
  });
  std::thread reader([&] {
    std::mt19937 rng(3);
    while (writing.load(std::memory_order_acquire)) {
      const int n = inserted.load(std::memory_order_relaxed);
      if (n == 0) continue;
      const int k = static_cast<int>(rng() % static_cast<unsigned>(n));
      auto v = t.lookup(k);
      if (v.ok() && v.value() != k) ++wrong;
    }
  });
  writer.join();
  ticker.join();
  reader.join();
  CHECK(inserted == total);
  clock->advance(1000ms);
  REQUIRE(eventually([&] { return t.size() == 0; }, 60s));
  CHECK(t.counters().expiries == static_cast<uint64_t>(total));
  CHECK(t.memory() == t.fixed_bytes());
  CHECK(wrong == 0);
}

TEST_CASE("a table deleted while threads use it fails cleanly for all of them") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  const Pid owner = spawn_runner(rt);
  auto t = make<Table<int, std::string>>(rt, owner, TableOptions{.name = "busy"});
  for (int i = 0; i < 1000; ++i) REQUIRE_OK(t.insert(i, std::string(30, 'x')));
  std::atomic<int> started{0};
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int th = 0; th < 4; ++th) {
    threads.emplace_back([&, th] {
      ++started;
      const auto deadline = Clock::now() + 60s;
      for (int i = 0; Clock::now() < deadline; ++i) {
        const int k = (i * 31 + th) % 2000;
        if (th % 2 == 0) {
          const Status st = t.insert(k, "y");
          if (!st.ok()) {
            if (st.code() != Errc::not_registered || !t.deleted()) ++bad;
            return;
          }
        } else {
          auto r = t.lookup(k);
          if (!r.ok() && r.code() != Errc::not_registered) ++bad;
          if (!r.ok() && t.deleted()) return;
        }
      }
      ++bad;  // never saw the deletion
    });
  }
  REQUIRE(eventually([&] { return started.load() == 4; }));
  stop_process(rt, owner);
  for (auto& th : threads) th.join();
  CHECK(bad == 0);
  CHECK(t.deleted());
  CHECK(tables(rt).empty());
}

TEST_CASE("tables come and go concurrently") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  constexpr int kThreads = 4;
  const int per_thread = scaled(40);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int th = 0; th < kThreads; ++th) {
    threads.emplace_back([&, th] {
      for (int i = 0; i < per_thread; ++i) {
        auto owner = rt.spawn(std::make_unique<FunctionActor>([](FunctionActor& self, Message& m) {
          if (m.is<StopNow>()) self.stop();
        }));
        if (!owner.ok()) {
          ++failures;
          continue;
        }
        const std::string name = "t" + std::to_string(th) + "-" + std::to_string(i);
        auto t = Table<int, int>::create(rt, TableOptions{.name = name,
                                                          .access = TableAccess::public_,
                                                          .owner = *owner,
                                                          .default_ttl = 1ms,
                                                          .sweep_interval = 1ms});
        if (!t.ok()) {
          ++failures;
          continue;
        }
        for (int k = 0; k < 100; ++k) (void)t->insert(k, k);
        auto found = Table<int, int>::find(rt, name);
        if (!found.ok() || !(*found == *t)) ++failures;
        (void)tables(rt);
        (void)rt.send(*owner, StopNow{});
        if (!eventually([&] { return t->deleted(); })) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  CHECK(tables(rt).empty());
}

}  // namespace test_tables_concurrency_concurrent_table_test
