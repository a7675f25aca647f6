// Introspection: process_info accounting (mailbox, heap, reductions, cpu,
// message types, links, monitors, names), processes() and pids().
#include <memory_resource>

#include "test_support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_core_info_test {

using namespace canopy;
using namespace canopy_test;
using Catch::Matchers::Contains;

namespace {

struct Ping {};
struct Grow {
  size_t bytes;
};
struct ReportBytes {
  size_t bytes;
};

// Allocates its state through heap() and reports extra bytes.
class HeapUser final : public Actor {
 public:
  void handle(Message& m) override {
    if (auto* g = m.as<Grow>()) {
      if (!buffer_) buffer_ = std::make_unique<std::pmr::vector<char>>(heap());
      buffer_->resize(g->bytes);
    } else if (auto* r = m.as<ReportBytes>()) {
      report_heap_bytes(r->bytes);
    }
  }

 private:
  std::unique_ptr<std::pmr::vector<char>> buffer_;
};

}  // namespace

TEST_CASE("process_info shows the messages waiting behind a busy handler", "[core][info]") {
  Block block;
  Runtime rt(schedulers(2));
  OpenOnExit guard{block.release};
  auto p = spawn_probe(rt);
  REQUIRE_OK(rt.send(p.pid, block));
  REQUIRE(block.entered->wait());

  uint64_t expected_bytes = 0;
  for (int i = 0; i < 3; ++i) {
    auto m = make_message(std::string(1000 + i, 'x'));
    expected_bytes += m->bytes();
    REQUIRE_OK(rt.send_message(p.pid, std::move(m)));
  }
  CHECK(expected_bytes >= 3 * 1000u);  // the payload's heap bytes are counted

  auto info = info_of(rt, p.pid);
  CHECK(info.mailbox_length == 3u);
  CHECK(info.mailbox_bytes == expected_bytes);
  CHECK(info.status == ProcessStatus::running);
  CHECK_THAT(info.current_message_type, Contains("Block"));
  CHECK(rt.stats().mailbox_messages == 3u);

  // The oldest message ages while it waits.
  REQUIRE(eventually([&] { return info_of(rt, p.pid).mailbox_oldest_age_seconds >= 0.05; }));

  block.release->open();
  REQUIRE(eventually([&] {
    auto i = info_of(rt, p.pid);
    return i.mailbox_length == 0 && i.status == ProcessStatus::waiting;
  }));
  info = info_of(rt, p.pid);
  CHECK(info.mailbox_bytes == 0u);
  CHECK(info.mailbox_oldest_age_seconds == 0.0);
  CHECK_THAT(info.current_message_type, Contains("basic_string"));
}

TEST_CASE("process_info counts heap bytes from heap() and report_heap_bytes", "[core][info]") {
  Runtime rt(schedulers(2));
  auto r = rt.spawn<HeapUser>();
  REQUIRE_OK(r);
  const Pid p = r.value();
  const uint64_t h0 = info_of(rt, p).heap_bytes;

  REQUIRE_OK(rt.send(p, Grow{100'000}));
  REQUIRE(eventually([&] { return info_of(rt, p).heap_bytes >= h0 + 100'000; }));
  const uint64_t h1 = info_of(rt, p).heap_bytes;

  REQUIRE_OK(rt.send(p, ReportBytes{50'000}));
  REQUIRE(eventually([&] { return info_of(rt, p).heap_bytes == h1 + 50'000; }));

  // A new report replaces the old one.
  REQUIRE_OK(rt.send(p, ReportBytes{10'000}));
  REQUIRE(eventually([&] { return info_of(rt, p).heap_bytes == h1 + 10'000; }));
}

TEST_CASE("process_info counts messages handled, reductions and cpu time", "[core][info]") {
  constexpr uint64_t kMessages = 50;
  constexpr uint32_t kExtra = 10;
  Runtime rt(schedulers(1));
  const Pid p = spawn_fn(rt, [](FunctionActor& self, Message& m) {
    if (m.is<int>()) self.add_reductions(kExtra);
    if (m.is<Ping>()) spin_for(3000us);
  });
  for (uint64_t i = 0; i < kMessages; ++i) REQUIRE_OK(rt.send(p, 1));
  REQUIRE(eventually([&] {
    auto i = info_of(rt, p);
    return i.messages_handled == kMessages && i.reductions >= kMessages * (1 + kExtra);
  }));
  auto info = info_of(rt, p);
  CHECK(info.messages_handled == kMessages);
  CHECK(info.reductions == kMessages * (1 + kExtra));
  CHECK_THAT(info.current_message_type, Contains("int"));

  REQUIRE_OK(rt.send(p, Ping{}));
  REQUIRE(eventually([&] { return info_of(rt, p).cpu_ns >= 1'000'000; }));
  REQUIRE(eventually([&] { return info_of(rt, p).messages_handled == kMessages + 1; }));
  CHECK_THAT(info_of(rt, p).current_message_type, Contains("Ping"));
}

TEST_CASE("process_info lists links, monitors, trap_exit, parent and registered name", "[core][info]") {
  auto child_state = std::make_shared<ProbeState>();
  std::atomic<uint64_t> child_raw{0};
  Runtime rt(schedulers(2));
  SpawnOptions named;
  named.name = "info-subject";
  named.trap_exit = true;
  auto a = spawn_probe(rt, named);
  auto b = spawn_probe(rt);
  auto w = spawn_probe(rt);
  REQUIRE_OK(rt.send(a.pid, LinkTo{b.pid}));
  REQUIRE(eventually([&] { return linked(rt, a.pid, b.pid); }));
  watch(rt, w, a.pid);

  const auto before_spawn = std::chrono::system_clock::now();
  const Pid spawner = spawn_fn(rt, [&](FunctionActor& self, Message& m) {
    if (m.is<int>()) {
      auto r = self.spawn<ProbeActor>(child_state);
      if (r.ok()) child_raw = r.value().raw();
    }
  });

  auto ia = info_of(rt, a.pid);
  CHECK(ia.pid == a.pid);
  CHECK(ia.registered_name == "info-subject");
  CHECK(ia.trap_exit);
  CHECK(ia.links == std::vector<Pid>{b.pid});
  CHECK(ia.monitored_by == std::vector<Pid>{w.pid});
  CHECK(ia.monitors.empty());
  CHECK_FALSE(ia.parent.valid());  // spawned from outside the runtime
  CHECK_THAT(ia.behaviour, Contains("ProbeActor"));
  CHECK(ia.age_seconds >= 0.0);
  CHECK(ia.mailbox_capacity == 0u);

  auto ib = info_of(rt, b.pid);
  CHECK(ib.links == std::vector<Pid>{a.pid});
  CHECK(ib.registered_name.empty());
  CHECK_FALSE(ib.trap_exit);

  auto iw = info_of(rt, w.pid);
  CHECK(iw.monitors == std::vector<Pid>{a.pid});
  CHECK(iw.monitored_by.empty());

  auto is = info_of(rt, spawner);
  CHECK_THAT(is.behaviour, Contains("FunctionActor"));
  CHECK(is.spawned_at >= before_spawn - std::chrono::seconds(1));

  REQUIRE_OK(rt.send(spawner, 1));
  REQUIRE(eventually([&] { return child_raw.load() != 0; }));
  CHECK(info_of(rt, Pid::from_raw(child_raw.load())).parent == spawner);

  // processes() and pids() list every live process.
  std::vector<Pid> listed;
  for (auto& i : rt.processes()) listed.push_back(i.pid);
  std::sort(listed.begin(), listed.end());
  auto pids = rt.pids();
  std::sort(pids.begin(), pids.end());
  std::vector<Pid> expected{a.pid, b.pid, w.pid, spawner, Pid::from_raw(child_raw.load())};
  std::sort(expected.begin(), expected.end());
  CHECK(listed == expected);
  CHECK(pids == expected);
  CHECK(rt.process_count() == expected.size());
}

TEST_CASE("process_info of a dead or unknown pid is empty", "[core][info]") {
  Runtime rt(schedulers(1));
  auto p = spawn_probe(rt);
  REQUIRE_OK(rt.send(p.pid, Stop{}));
  REQUIRE(eventually([&] { return !rt.process_info(p.pid).has_value(); }));
  CHECK_FALSE(rt.process_info(Pid::from_parts(12345, 1)).has_value());
}

TEST_CASE("top_processes ranks by the chosen number, limits, filters and counts what matched", "[core][info]") {
  Runtime rt(schedulers(2));
  // Heaps of 1, 2 and 3 KiB reported, plus seven idle processes.
  std::vector<Pid> sized;
  for (size_t kib = 1; kib <= 3; ++kib) {
    auto pid = rt.spawn<HeapUser>().value();
    REQUIRE_OK(rt.send(pid, ReportBytes{kib * 1024}));
    sized.push_back(pid);
  }
  for (int i = 0; i < 7; ++i) (void)rt.spawn<HeapUser>().value();
  REQUIRE_OK(rt.register_name("middle", sized[1]));
  REQUIRE(eventually([&] { return rt.process_info(sized[2])->heap_bytes >= 3 * 1024; }));
  REQUIRE(eventually([&] { return rt.process_info(sized[0])->heap_bytes >= 1024; }));

  const TopProcesses top = rt.top_processes(ProcessRank::heap, 2);
  CHECK(top.matched == 10);
  REQUIRE(top.processes.size() == 2);
  CHECK(top.processes[0].pid == sized[2]);
  CHECK(top.processes[1].pid == sized[1]);
  CHECK(top.processes[1].registered_name == "middle");  // a full snapshot of the winners

  // The filter sees the name and the behaviour's type name.
  const TopProcesses named =
      rt.top_processes(ProcessRank::heap, 5, [](std::string_view name, std::string_view) { return name == "middle"; });
  CHECK(named.matched == 1);
  REQUIRE(named.processes.size() == 1);
  CHECK(named.processes[0].pid == sized[1]);
  const TopProcesses by_type = rt.top_processes(
      ProcessRank::mailbox, 100,
      [](std::string_view, std::string_view behaviour) { return behaviour.find("HeapUser") != std::string_view::npos; });
  CHECK(by_type.matched == 10);
  CHECK(by_type.processes.size() == 10);
  CHECK(rt.top_processes(ProcessRank::cpu, 0).processes.empty());
}

TEST_CASE("trace keeps the traced lines of a process for trace_lines, and process_info says it is traced",
          "[core][info]") {
  Runtime rt(schedulers(1));
  auto p = spawn_probe(rt);
  CHECK_FALSE(rt.process_info(p.pid)->traced);
  REQUIRE_OK(rt.trace(p.pid, true));
  CHECK(rt.process_info(p.pid)->traced);
  for (int i = 0; i < 3; ++i) REQUIRE_OK(rt.send(p.pid, Ping{}));
  REQUIRE(eventually([&] { return rt.trace_lines(p.pid).size() >= 3; }));
  const std::vector<TraceLine> lines = rt.trace_lines(p.pid, 2);
  REQUIRE(lines.size() == 2);  // the last two
  CHECK(lines[0].pid == p.pid);
  CHECK_THAT(lines[1].text, Contains("Ping from outside"));
  CHECK(rt.trace_lines(Pid::from_parts(12345, 1)).empty());
  REQUIRE_OK(rt.trace(p.pid, false));
  CHECK_FALSE(rt.process_info(p.pid)->traced);
}

}  // namespace test_core_info_test
