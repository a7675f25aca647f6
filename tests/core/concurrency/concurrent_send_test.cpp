// Many threads sending to one process, through unbounded and bounded mailboxes.
#include <array>
#include <latch>

#include "test_support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_core_concurrency_concurrent_send_test {

using namespace canopy;
using namespace canopy_test;

namespace {

struct Seq {
  int sender;
  int n;
};

// Counts Seq messages and checks that each sender's numbers arrive in order.
struct SeqSink {
  std::atomic<uint64_t> received{0};
  std::atomic<uint64_t> out_of_order{0};
};

FunctionActor::Fn seq_consumer(SeqSink& sink, int senders) {
  return [&sink, last = std::vector<int>(senders, -1)](FunctionActor&, Message& m) mutable {
    if (auto* s = m.as<Seq>()) {
      if (s->sender < 0 || s->sender >= static_cast<int>(last.size()) || s->n <= last[s->sender]) {
        sink.out_of_order.fetch_add(1);
      } else {
        last[s->sender] = s->n;
      }
      sink.received.fetch_add(1);
    }
  };
}

SpawnOptions bounded(uint32_t capacity, OverflowPolicy policy) {
  MailboxOptions m;
  m.capacity = capacity;
  m.overflow = policy;
  SpawnOptions o;
  o.mailbox = m;
  return o;
}

// Runs `threads` senders, each sending `per_thread` Seq messages to `to`.
// Returns the codes counted per kind.
struct SendTally {
  std::atomic<uint64_t> ok{0};
  std::atomic<uint64_t> dropped{0};
  std::atomic<uint64_t> full{0};
  std::atomic<uint64_t> other{0};
};

void blast(Runtime& rt, Pid to, int threads, int per_thread, SendTally& tally) {
  std::latch start(threads);
  std::vector<std::thread> senders;
  for (int t = 0; t < threads; ++t) {
    senders.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int n = 0; n < per_thread; ++n) {
        switch (rt.send(to, Seq{t, n}).code()) {
          case Errc::ok:
            tally.ok.fetch_add(1);
            break;
          case Errc::dropped:
            tally.dropped.fetch_add(1);
            break;
          case Errc::mailbox_full:
            tally.full.fetch_add(1);
            break;
          default:
            tally.other.fetch_add(1);
            break;
        }
      }
    });
  }
  for (auto& s : senders) s.join();
}

}  // namespace

TEST_CASE("many threads sending to one process: every message arrives, each sender's in order",
          "[core][concurrency][mailbox]") {
  constexpr int kThreads = 8;
  const int per_thread = scaled(20'000);
  const uint64_t total = static_cast<uint64_t>(kThreads) * per_thread;
  SeqSink sink;
  SendTally tally;
  Runtime rt(schedulers(2));
  const Pid consumer = spawn_fn(rt, seq_consumer(sink, kThreads));
  blast(rt, consumer, kThreads, per_thread, tally);
  CHECK(tally.ok.load() == total);
  CHECK(tally.other.load() == 0u);
  REQUIRE(eventually([&] { return sink.received.load() == total; }));
  CHECK(sink.out_of_order.load() == 0u);
  CHECK(rt.stats().messages_sent >= total);
  CHECK(info_of(rt, consumer).messages_handled == total);
}

TEST_CASE("processes sending runs to several receivers, with exit signals between: each pair's order holds",
          "[core][concurrency][mailbox]") {
  // A handler's run of sends to one mailbox is batched and pushed as one
  // chain (runtime_impl.cc, SendBatch). Runs of 1 to 300 (past the batch's
  // 256) alternate between two receivers, and an exit signal, which is not
  // batched, carries how many messages its sender had sent that receiver:
  // the receiver must have had exactly those first.
  constexpr int kProducers = 4;
  const int rounds = scaled(400);
  struct Go {};
  struct Sink {
    std::mutex mu;
    std::vector<int> seen = std::vector<int>(kProducers, 0);  // Seq received per sender
    std::atomic<uint64_t> received{0};
    std::atomic<uint64_t> markers{0};
    std::atomic<uint64_t> bad{0};
  };
  Sink sinks[2];
  Runtime rt(schedulers(2));
  std::vector<Pid> producers(kProducers);
  auto receiver = [&](Sink& sink) {
    return [&sink, &producers](FunctionActor&, Message& m) {
      std::lock_guard lock(sink.mu);
      if (auto* s = m.as<Seq>()) {
        if (s->n != sink.seen[s->sender]) sink.bad.fetch_add(1);
        ++sink.seen[s->sender];
        sink.received.fetch_add(1);
      } else if (auto* e = m.as<ExitMessage>()) {
        const auto it = std::find(producers.begin(), producers.end(), e->from);
        if (it == producers.end() || std::to_string(sink.seen[it - producers.begin()]) != e->reason.text()) {
          sink.bad.fetch_add(1);
        }
        sink.markers.fetch_add(1);
      }
    };
  };
  SpawnOptions trapping;
  trapping.trap_exit = true;
  const Pid receivers[2] = {spawn_fn(rt, receiver(sinks[0]), trapping), spawn_fn(rt, receiver(sinks[1]), trapping)};
  std::atomic<uint64_t> sent{0};
  std::atomic<int> finished{0};
  for (int i = 0; i < kProducers; ++i) {
    producers[i] = spawn_fn(rt, [&, i, round = 0, next = std::array<int, 2>{0, 0}](FunctionActor& self,
                                                                                  Message& m) mutable {
      if (!m.is<Go>()) return;
      const int r = round % 2;
      const int run = 1 + (round * 37 + i * 11) % 300;
      for (int k = 0; k < run; ++k) {
        if (self.send(receivers[r], Seq{i, next[r]++}).ok()) sent.fetch_add(1);
      }
      if (round % 3 == 0) {
        (void)self.runtime().exit(receivers[r], ExitReason::error(std::to_string(next[r])));
      }
      if (++round < rounds) {
        (void)self.send(self.self(), Go{});
      } else {
        finished.fetch_add(1);
      }
    });
  }
  for (const Pid p : producers) REQUIRE_OK(rt.send(p, Go{}));
  REQUIRE(eventually([&] { return finished.load() == kProducers; }, std::chrono::seconds(60)));
  REQUIRE(eventually([&] { return sinks[0].received.load() + sinks[1].received.load() == sent.load(); },
                     std::chrono::seconds(60)));
  CHECK(sinks[0].markers.load() + sinks[1].markers.load() ==
        static_cast<uint64_t>(kProducers) * static_cast<uint64_t>((rounds + 2) / 3));
  CHECK(sinks[0].bad.load() == 0u);
  CHECK(sinks[1].bad.load() == 0u);
  CHECK(rt.alive(receivers[0]));
  CHECK(rt.alive(receivers[1]));
}

TEST_CASE("the mailbox length and bytes are exact while threads send and the owner drains",
          "[core][concurrency][mailbox]") {
  // Producers add to one counter and the owner to another (mailbox.hpp):
  // the length read from anywhere is pushed - popped and must never wrap.
  constexpr int kThreads = 4;
  const int per_thread = scaled(20'000);
  const uint64_t total = static_cast<uint64_t>(kThreads) * per_thread;
  struct Hold {};
  std::atomic<bool> release{false};
  std::atomic<uint64_t> received{0};
  Runtime rt(schedulers(2));
  const Pid consumer = spawn_fn(rt, [&](FunctionActor&, Message& m) {
    if (m.is<Hold>()) {
      while (!release.load()) std::this_thread::yield();
      return;
    }
    if (m.is<Seq>()) received.fetch_add(1);
  });
  REQUIRE_OK(rt.send(consumer, Hold{}));
  REQUIRE(eventually([&] { return info_of(rt, consumer).mailbox_length == 0; }));
  SendTally tally;
  blast(rt, consumer, kThreads, per_thread, tally);
  REQUIRE(tally.ok.load() == total);
  // Held: everything sent waits, to the message and the byte.
  const ProcessInfo held = info_of(rt, consumer);
  CHECK(held.mailbox_length == total);
  CHECK(held.mailbox_bytes > 0u);
  CHECK(held.mailbox_bytes % total == 0u);
  CHECK(rt.stats().mailbox_messages == total);
  // Draining while more threads send: every read is within bounds.
  release.store(true);
  std::atomic<bool> done{false};
  std::atomic<uint64_t> bad_reads{0};
  std::thread reader([&] {
    while (!done.load()) {
      const ProcessInfo i = info_of(rt, consumer);
      if (i.mailbox_length > 2 * total || i.mailbox_bytes > 2 * held.mailbox_bytes) bad_reads.fetch_add(1);
    }
  });
  SendTally more;
  blast(rt, consumer, kThreads, per_thread, more);
  REQUIRE(eventually([&] { return received.load() == 2 * total; }));
  done.store(true);
  reader.join();
  CHECK(bad_reads.load() == 0u);
  const ProcessInfo drained = info_of(rt, consumer);
  CHECK(drained.mailbox_length == 0u);
  CHECK(drained.mailbox_bytes == 0u);
}

TEST_CASE("many threads sending into a small block-policy mailbox: nothing is lost", "[core][concurrency][mailbox]") {
  constexpr int kThreads = 4;
  const int per_thread = scaled(5'000);
  const uint64_t total = static_cast<uint64_t>(kThreads) * per_thread;
  SeqSink sink;
  SendTally tally;
  Runtime rt(schedulers(2));
  const Pid consumer = spawn_fn(rt, seq_consumer(sink, kThreads), bounded(8, OverflowPolicy::block));
  blast(rt, consumer, kThreads, per_thread, tally);
  CHECK(tally.ok.load() == total);
  REQUIRE(eventually([&] { return sink.received.load() == total; }));
  CHECK(sink.out_of_order.load() == 0u);
  const auto s = rt.stats();
  CHECK(s.dropped_by(DropReason::rejected) == 0u);
  CHECK(s.dropped_by(DropReason::drop_newest) == 0u);
  CHECK(s.dropped_by(DropReason::drop_oldest) == 0u);
}

TEST_CASE("many threads sending into a small lossy mailbox: sends, drops and receipts add up",
          "[core][concurrency][mailbox]") {
  constexpr int kThreads = 4;
  const int per_thread = scaled(10'000);
  const uint64_t total = static_cast<uint64_t>(kThreads) * per_thread;
  SeqSink sink;
  SendTally tally;
  Runtime rt(schedulers(2));

  SECTION("drop_newest") {
    const Pid consumer = spawn_fn(rt, seq_consumer(sink, kThreads), bounded(8, OverflowPolicy::drop_newest));
    blast(rt, consumer, kThreads, per_thread, tally);
    CHECK(tally.ok.load() + tally.dropped.load() == total);
    CHECK(tally.other.load() + tally.full.load() == 0u);
    REQUIRE(eventually([&] { return sink.received.load() == tally.ok.load(); }));
    CHECK(rt.stats().dropped_by(DropReason::drop_newest) == tally.dropped.load());
    CHECK(info_of(rt, consumer).messages_dropped == tally.dropped.load());
  }
  SECTION("reject") {
    const Pid consumer = spawn_fn(rt, seq_consumer(sink, kThreads), bounded(8, OverflowPolicy::reject));
    blast(rt, consumer, kThreads, per_thread, tally);
    CHECK(tally.ok.load() + tally.full.load() == total);
    CHECK(tally.other.load() + tally.dropped.load() == 0u);
    REQUIRE(eventually([&] { return sink.received.load() == tally.ok.load(); }));
    CHECK(rt.stats().dropped_by(DropReason::rejected) == tally.full.load());
  }
  SECTION("drop_oldest") {
    const Pid consumer = spawn_fn(rt, seq_consumer(sink, kThreads), bounded(8, OverflowPolicy::drop_oldest));
    blast(rt, consumer, kThreads, per_thread, tally);
    CHECK(tally.ok.load() == total);
    REQUIRE(eventually([&] {
      return sink.received.load() + rt.stats().dropped_by(DropReason::drop_oldest) == total &&
             info_of(rt, consumer).mailbox_length == 0;
    }));
    CHECK(info_of(rt, consumer).messages_dropped == rt.stats().dropped_by(DropReason::drop_oldest));
  }
  // Whatever was kept arrived in each sender's order.
  CHECK(sink.out_of_order.load() == 0u);
}

TEST_CASE("many processes sending to many: every message arrives", "[core][concurrency][mailbox]") {
  constexpr int kProcesses = 100;
  const int per_process = scaled(1'000);
  const uint64_t total = static_cast<uint64_t>(kProcesses) * per_process;
  struct Go {};
  auto peers = std::make_shared<std::vector<Pid>>();
  std::atomic<uint64_t> received{0};
  std::atomic<uint64_t> failed{0};
  Runtime rt(schedulers(2));
  for (int i = 0; i < kProcesses; ++i) {
    peers->push_back(spawn_fn(rt, [&, peers, i, per_process](FunctionActor& self, Message& m) {
      if (m.is<Go>()) {
        uint32_t x = static_cast<uint32_t>(i) * 2654435761u + 1;
        for (int n = 0; n < per_process; ++n) {
          x = x * 1664525u + 1013904223u;
          if (!self.send((*peers)[x % peers->size()], n).ok()) failed.fetch_add(1);
        }
      } else if (m.is<int>()) {
        received.fetch_add(1);
      }
    }));
  }
  for (const Pid p : *peers) REQUIRE_OK(rt.send(p, Go{}));
  REQUIRE(eventually([&] { return received.load() == total; }));
  CHECK(failed.load() == 0u);
}

}  // namespace test_core_concurrency_concurrent_send_test
