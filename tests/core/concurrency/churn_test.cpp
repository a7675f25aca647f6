// Spawn/exit churn from several threads while other threads send to random,
// often stale, pids in a small process table (so slots are reused a lot).
#include <latch>
#include <random>

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "test_support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_core_concurrency_churn_test {

using namespace canopy;
using namespace canopy_test;

namespace {

struct Hit {
  uint64_t target_raw;  // the pid the sender meant
};
struct Quit {};
struct Boom {};

// Recently spawned pids, shared by the test threads.
class PidPool {
 public:
  void add(Pid p) {
    std::lock_guard lock(mu_);
    if (pids_.size() < kMax) {
      pids_.push_back(p);
    } else {
      pids_[next_++ % kMax] = p;
    }
  }
  Pid pick(std::mt19937& rng) const {
    std::lock_guard lock(mu_);
    if (pids_.empty()) return Pid();
    return pids_[rng() % pids_.size()];
  }

 private:
  static constexpr size_t kMax = 512;
  mutable std::mutex mu_;
  std::vector<Pid> pids_;
  size_t next_ = 0;
};

std::shared_ptr<spdlog::logger> quiet_logger() {
  return std::make_shared<spdlog::logger>("canopy-test-quiet", std::make_shared<spdlog::sinks::null_sink_mt>());
}

}  // namespace

TEST_CASE("spawn/exit churn while others send to random, possibly stale pids: nothing lost or misdelivered",
          "[core][concurrency][churn]") {
  constexpr int kChurners = 2;
  constexpr int kSenders = 2;
  const int churn_rounds = scaled(3'000);
  const int sends_per_sender = scaled(30'000);

  std::atomic<uint64_t> handled{0};
  std::atomic<uint64_t> misdelivered{0};
  std::atomic<uint64_t> attempts{0};
  std::atomic<uint64_t> refused{0};
  std::atomic<uint64_t> unexpected_send_codes{0};
  std::atomic<uint64_t> spawned{0};
  std::atomic<uint64_t> spawn_limited{0};
  std::atomic<uint64_t> unexpected_spawn_codes{0};
  PidPool pool;

  RuntimeOptions o = schedulers(2);
  o.max_processes = 128;
  o.logger = quiet_logger();  // a crash report per Boom would flood the output
  Runtime rt(o);

  const FunctionActor::Fn worker = [&](FunctionActor& self, Message& m) {
    handled.fetch_add(1);
    if (auto* h = m.as<Hit>()) {
      if (h->target_raw != self.self().raw()) misdelivered.fetch_add(1);
    } else if (m.is<Quit>()) {
      self.stop();
    } else if (m.is<Boom>()) {
      throw std::runtime_error("boom");
    }
  };
  auto count_send = [&](const Status& st) {
    attempts.fetch_add(1);
    if (!st.ok()) {
      refused.fetch_add(1);
      if (st.code() != Errc::dead_process) unexpected_send_codes.fetch_add(1);
    }
  };

  std::latch start(kChurners + kSenders);
  std::vector<std::thread> threads;
  for (int c = 0; c < kChurners; ++c) {
    threads.emplace_back([&, c] {
      std::mt19937 rng(1000 + c);
      start.arrive_and_wait();
      for (int i = 0; i < churn_rounds; ++i) {
        auto r = rt.spawn(std::make_unique<FunctionActor>(worker));
        if (r.ok()) {
          spawned.fetch_add(1);
          pool.add(r.value());
        } else if (r.code() == Errc::process_limit) {
          spawn_limited.fetch_add(1);
        } else {
          unexpected_spawn_codes.fetch_add(1);
        }
        const Pid victim = pool.pick(rng);
        switch (rng() % 4) {
          case 0:
            count_send(rt.send(victim, Quit{}));
            break;
          case 1:
            count_send(rt.send(victim, Boom{}));
            break;
          case 2:
            (void)rt.exit(victim, ExitReason::kill());
            break;
          default:
            (void)rt.exit(victim, ExitReason::shutdown());
            break;
        }
      }
    });
  }
  for (int s = 0; s < kSenders; ++s) {
    threads.emplace_back([&, s] {
      std::mt19937 rng(2000 + s);
      start.arrive_and_wait();
      for (int i = 0; i < sends_per_sender; ++i) {
        const Pid target = pool.pick(rng);
        count_send(rt.send(target, Hit{target.raw()}));
      }
    });
  }
  for (auto& t : threads) t.join();

  // Shutting down drains every mailbox: each accepted message is now either
  // handled or counted as dropped.
  rt.shutdown();
  const auto s = rt.stats();
  INFO("attempts " << attempts.load() << ", refused " << refused.load() << ", handled " << handled.load()
                   << ", spawned " << spawned.load() << ", limited " << spawn_limited.load());
  CHECK(misdelivered.load() == 0u);
  CHECK(unexpected_send_codes.load() == 0u);
  CHECK(unexpected_spawn_codes.load() == 0u);
  CHECK(spawned.load() > 0u);
  CHECK(handled.load() + s.dropped_by(DropReason::process_exited) + s.dropped_by(DropReason::dead_process) ==
        attempts.load());
  CHECK(s.dropped_by(DropReason::dead_process) >= refused.load());
  CHECK(s.dropped_by(DropReason::drop_newest) == 0u);
  CHECK(s.dropped_by(DropReason::drop_oldest) == 0u);
  CHECK(s.dropped_by(DropReason::rejected) == 0u);
  CHECK(s.processes == 0u);
  CHECK(s.spawned == spawned.load());
  CHECK(s.exited == s.spawned);
  CHECK(rt.process_count() == 0u);
}

TEST_CASE("a stale pid is refused even while its slot is being reused as fast as possible",
          "[core][concurrency][pid]") {
  // One slot, reused over and over: every old pid must be refused and no
  // message may reach a later occupant.
  const int rounds = scaled(2'000);
  std::atomic<uint64_t> misdelivered{0};
  std::atomic<uint64_t> stale_accepted{0};
  RuntimeOptions o = schedulers(2);
  o.max_processes = 1;
  Runtime rt(o);
  const FunctionActor::Fn worker = [&](FunctionActor& self, Message& m) {
    if (auto* h = m.as<Hit>()) {
      if (h->target_raw != self.self().raw()) misdelivered.fetch_add(1);
    } else if (m.is<Quit>()) {
      self.stop();
    }
  };
  std::vector<Pid> old;
  for (int i = 0; i < rounds; ++i) {
    std::optional<Pid> p;
    REQUIRE(eventually([&] {
      auto r = rt.spawn(std::make_unique<FunctionActor>(worker));
      if (r.ok()) p = r.value();
      return r.ok();
    }));
    // Every earlier pid names this same slot and must be refused.
    for (size_t k = old.size() > 8 ? old.size() - 8 : 0; k < old.size(); ++k) {
      if (rt.send(old[k], Hit{old[k].raw()}).ok()) stale_accepted.fetch_add(1);
    }
    REQUIRE_OK(rt.send(*p, Hit{p->raw()}));
    REQUIRE_OK(rt.send(*p, Quit{}));
    REQUIRE(eventually([&] { return dead(rt, *p); }));
    old.push_back(*p);
  }
  CHECK(stale_accepted.load() == 0u);
  CHECK(misdelivered.load() == 0u);
  // Generations only go up.
  for (size_t k = 1; k < old.size(); ++k) CHECK(old[k].generation() > old[k - 1].generation());
}

TEST_CASE("processes forwarding to random, possibly dying pids during churn: nothing lost or misdelivered",
          "[core][concurrency][churn]") {
  // As above, but most sends come from inside handlers (the scheduler-side
  // send path) and hit processes that are exiting at that very moment.
  struct Relay {
    uint64_t target_raw;
    int ttl;
  };
  constexpr int kChurners = 2;
  constexpr int kInjectors = 1;
  const int churn_rounds = scaled(3'000);
  const int injections = scaled(5'000);

  std::atomic<uint64_t> handled{0};
  std::atomic<uint64_t> misdelivered{0};
  std::atomic<uint64_t> attempts{0};
  std::atomic<uint64_t> refused{0};
  std::atomic<uint64_t> unexpected_send_codes{0};
  std::atomic<uint64_t> spawned{0};
  std::atomic<uint64_t> unexpected_spawn_codes{0};
  PidPool pool;

  RuntimeOptions o = schedulers(2);
  o.max_processes = 128;
  o.logger = quiet_logger();
  Runtime rt(o);

  auto count_send = [&](const Status& st) {
    attempts.fetch_add(1);
    if (!st.ok()) {
      refused.fetch_add(1);
      if (st.code() != Errc::dead_process) unexpected_send_codes.fetch_add(1);
    }
  };
  const FunctionActor::Fn worker = [&](FunctionActor& self, Message& m) {
    handled.fetch_add(1);
    if (auto* r = m.as<Relay>()) {
      if (r->target_raw != self.self().raw()) misdelivered.fetch_add(1);
      if (r->ttl > 0) {
        std::mt19937 rng(static_cast<uint32_t>(self.self().raw() * 31 + static_cast<uint64_t>(r->ttl)));
        const Pid next = pool.pick(rng);
        count_send(self.send(next, Relay{next.raw(), r->ttl - 1}));
      }
    } else if (m.is<Quit>()) {
      self.stop();
    } else if (m.is<Boom>()) {
      throw std::runtime_error("boom");
    }
  };

  std::latch start(kChurners + kInjectors);
  std::vector<std::thread> threads;
  for (int c = 0; c < kChurners; ++c) {
    threads.emplace_back([&, c] {
      std::mt19937 rng(3000 + c);
      start.arrive_and_wait();
      for (int i = 0; i < churn_rounds; ++i) {
        auto r = rt.spawn(std::make_unique<FunctionActor>(worker));
        if (r.ok()) {
          spawned.fetch_add(1);
          pool.add(r.value());
        } else if (r.code() != Errc::process_limit) {
          unexpected_spawn_codes.fetch_add(1);
        }
        const Pid victim = pool.pick(rng);
        switch (rng() % 3) {
          case 0:
            count_send(rt.send(victim, Quit{}));
            break;
          case 1:
            count_send(rt.send(victim, Boom{}));
            break;
          default:
            (void)rt.exit(victim, ExitReason::kill());
            break;
        }
      }
    });
  }
  for (int s = 0; s < kInjectors; ++s) {
    threads.emplace_back([&, s] {
      std::mt19937 rng(4000 + s);
      start.arrive_and_wait();
      for (int i = 0; i < injections; ++i) {
        const Pid target = pool.pick(rng);
        count_send(rt.send(target, Relay{target.raw(), 20}));
      }
    });
  }
  for (auto& t : threads) t.join();
  // Let the relays still in flight run out (each ends within 20 hops) before
  // the shutdown, so most of them finish as handled messages.
  (void)eventually([&] { return rt.stats().mailbox_messages == 0; }, 5'000ms);
  rt.shutdown();

  const auto s = rt.stats();
  INFO("attempts " << attempts.load() << ", refused " << refused.load() << ", handled " << handled.load()
                   << ", spawned " << spawned.load());
  CHECK(misdelivered.load() == 0u);
  CHECK(unexpected_send_codes.load() == 0u);
  CHECK(unexpected_spawn_codes.load() == 0u);
  CHECK(handled.load() + s.dropped_by(DropReason::process_exited) + s.dropped_by(DropReason::dead_process) ==
        attempts.load());
  CHECK(s.dropped_by(DropReason::dead_process) >= refused.load());
  CHECK(s.processes == 0u);
  CHECK(s.exited == s.spawned);
}

}  // namespace test_core_concurrency_churn_test
