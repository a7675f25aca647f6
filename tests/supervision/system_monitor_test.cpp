// The system monitor: long schedules, long message queues and large heaps,
// each counted once per crossing and passed to on_system_event.
#include "support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_supervision_system_monitor_test {

using namespace canopy;
using namespace sup_test;

namespace {

struct Spin {
  std::chrono::milliseconds for_;
};
struct ReportHeap {
  size_t bytes;
};

// Records every system event (the callback runs on whichever thread saw it).
struct EventLog {
  Recorder<SystemEvent> events;
  std::vector<SystemEventKind> kinds_for(Pid pid) const {
    std::vector<SystemEventKind> out;
    for (const auto& e : events.snapshot()) {
      if (e.pid == pid) out.push_back(e.kind);
    }
    return out;
  }
  size_t count(Pid pid, SystemEventKind kind) const {
    size_t n = 0;
    for (const auto& e : events.snapshot()) n += e.pid == pid && e.kind == kind ? 1 : 0;
    return n;
  }
};

RuntimeOptions monitored(const std::shared_ptr<EventLog>& log) {
  RuntimeOptions o = options();
  o.on_system_event = [log](const SystemEvent& e) { log->events.push(e); };
  return o;
}

// A process that spins, parks, or reports heap bytes on command.
class Busy final : public Actor {
 public:
  void handle(Message& m) override {
    if (auto* s = m.as<Spin>()) {
      spin_for(s->for_);
    } else if (auto* b = m.as<Block>()) {
      b->entered->open();
      (void)b->release->wait();
    } else if (auto* h = m.as<ReportHeap>()) {
      report_heap_bytes(h->bytes);
    }
  }
};

}  // namespace

TEST_CASE("a handler running longer than long_schedule is reported exactly once", "[supervision][system_monitor]") {
  auto log = std::make_shared<EventLog>();
  RuntimeOptions o = monitored(log);
  o.system_monitor.long_schedule = 50ms;
  Runtime rt(o);
  auto busy = rt.spawn<Busy>();
  REQUIRE_OK(busy);

  REQUIRE_OK(rt.send(busy.value(), Spin{150ms}));
  REQUIRE(eventually([&] { return log->count(busy.value(), SystemEventKind::long_schedule) >= 1; }));

  // The slice that ran the handler is over: the process waits for more.
  REQUIRE(eventually([&] {
    auto info = rt.process_info(busy.value());
    return info && info->status == ProcessStatus::waiting && info->messages_handled == 1;
  }));
  CHECK(log->count(busy.value(), SystemEventKind::long_schedule) == 1);
  CHECK(rt.stats().long_schedules == 1);
  const auto events = log->events.snapshot();
  REQUIRE(events.size() == 1);
  CHECK(events[0].kind == SystemEventKind::long_schedule);
  CHECK(events[0].value > 50'000'000u);  // the handler's duration in ns, beyond the threshold
  REQUIRE(events[0].message_type != nullptr);
  CHECK(*events[0].message_type == typeid(Spin));
}

TEST_CASE("a mailbox crossing its high watermark is counted once per crossing, cleared in between",
          "[supervision][system_monitor]") {
  auto log = std::make_shared<EventLog>();
  RuntimeOptions o = monitored(log);
  o.system_monitor.long_schedule = 0ms;  // off: the parked handler must not add events
  Runtime rt(o);
  SpawnOptions so;
  so.mailbox = MailboxOptions{.high_watermark = 10, .low_watermark = 2};
  auto busy = rt.spawn_opts<Busy>(so);
  REQUIRE_OK(busy);
  const Pid pid = busy.value();

  // Fill (the process parked, so nothing is taken out), then drain.
  auto fill_and_drain = [&](int round) {
    INFO("round " << round);
    Block block;
    OpenOnExit open{block.release};
    REQUIRE_OK(rt.send(pid, block));
    REQUIRE(block.entered->wait(kPatience));
    for (int i = 0; i < 30; ++i) REQUIRE_OK(rt.send(pid, ReportHeap{0}));
    CHECK(rt.process_info(pid)->mailbox_overloaded);
    CHECK(log->count(pid, SystemEventKind::long_message_queue) == static_cast<size_t>(round));
    CHECK(rt.stats().mailbox_high_watermark_crossings == static_cast<uint64_t>(round));
    block.release->open();
    REQUIRE(eventually(
        [&] { return log->count(pid, SystemEventKind::long_message_queue_cleared) == static_cast<size_t>(round); }));
    REQUIRE(eventually([&] { return rt.process_info(pid)->mailbox_length == 0; }));
    CHECK_FALSE(rt.process_info(pid)->mailbox_overloaded);
  };
  fill_and_drain(1);
  fill_and_drain(2);

  CHECK(rt.stats().mailbox_high_watermark_crossings == 2);
  CHECK(log->kinds_for(pid) ==
        std::vector<SystemEventKind>{SystemEventKind::long_message_queue, SystemEventKind::long_message_queue_cleared,
                                     SystemEventKind::long_message_queue, SystemEventKind::long_message_queue_cleared});
  for (const auto& e : log->events.snapshot()) {
    if (e.kind == SystemEventKind::long_message_queue) CHECK(e.value >= 10u);
    if (e.kind == SystemEventKind::long_message_queue_cleared) CHECK(e.value <= 2u);
  }
}

TEST_CASE("a process heap crossing large_heap_bytes is reported once, and cleared once it shrinks",
          "[supervision][system_monitor]") {
  auto log = std::make_shared<EventLog>();
  RuntimeOptions o = monitored(log);
  o.system_monitor.large_heap_bytes = 1 << 20;
  o.system_monitor.long_schedule = 0ms;  // off: only heap events
  Runtime rt(o);
  auto busy = rt.spawn<Busy>();
  REQUIRE_OK(busy);
  const Pid pid = busy.value();

  REQUIRE_OK(rt.send(pid, ReportHeap{2u << 20}));
  REQUIRE(eventually([&] { return log->count(pid, SystemEventKind::large_heap) == 1; }));
  CHECK(rt.stats().large_heap_crossings == 1);
  CHECK(rt.process_info(pid)->heap_bytes >= (2u << 20));

  // Still large: no second report.
  REQUIRE_OK(rt.send(pid, ReportHeap{3u << 20}));
  REQUIRE(eventually([&] { return rt.process_info(pid)->heap_bytes >= (3u << 20); }));

  REQUIRE_OK(rt.send(pid, ReportHeap{1024}));
  REQUIRE(eventually([&] { return log->count(pid, SystemEventKind::large_heap_cleared) == 1; }));
  CHECK(log->kinds_for(pid) ==
        std::vector<SystemEventKind>{SystemEventKind::large_heap, SystemEventKind::large_heap_cleared});
  CHECK(rt.stats().large_heap_crossings == 1);

  const auto events = log->events.snapshot();
  REQUIRE(events.size() == 2);
  CHECK(events[0].value >= (2u << 20));
  CHECK(events[1].value < (1u << 20) / 4 * 3);
}

}  // namespace test_supervision_system_monitor_test
