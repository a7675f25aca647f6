// The runtime's telemetry: poller measurements against Runtime::process_info
// and Table::size for a known workload, per-process series that vanish when
// the process goes, a runtime poller measurement that throws, scheduler
// utilization idle and busy, runtime events turned into counters, and the
// metric-name contract.
#include <stdexcept>

#include "canopy/core/core.hpp"
#include "telemetry_test_support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_telemetry_runtime_test {

using namespace canopy;
using namespace telemetry_test;
using telemetry::Labels;

namespace {

// A one-shot gate with a bounded wait.
class Gate {
 public:
  void open() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  bool wait(std::chrono::milliseconds bound = 30'000ms) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, bound, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// Parks the handler that receives it until `release` opens.
struct Park {
  std::shared_ptr<Gate> entered;
  std::shared_ptr<Gate> release;
};
// Spins the handler (a busy scheduler) until `stop` is set (at most 30 s).
struct Spin {
  std::shared_ptr<Gate> entered;
  std::shared_ptr<std::atomic<bool>> stop;
};
struct StopNow {};
struct CrashNow {};

Pid spawn_worker(Runtime& rt, SpawnOptions options = {}) {
  auto actor = std::make_unique<FunctionActor>([](FunctionActor& self, Message& m) {
    if (auto* p = m.as<Park>()) {
      p->entered->open();
      (void)p->release->wait();
    } else if (auto* s = m.as<Spin>()) {
      s->entered->open();
      const auto until = Clock::now() + 30s;
      while (!s->stop->load() && Clock::now() < until) {
      }
    } else if (m.is<StopNow>()) {
      self.stop();
    } else if (m.is<CrashNow>()) {
      throw std::runtime_error("crash requested");
    }
  });
  auto r = rt.spawn(std::move(actor), std::move(options));
  if (!r.ok()) FAIL("spawn: " << r.error().to_string());
  return r.value();
}

// Opens the gates when the scope ends, so a failed REQUIRE never leaves a
// handler parked (declare it after the Runtime: it goes first).
struct ReleaseOnExit {
  std::vector<std::shared_ptr<Gate>> gates;
  std::vector<std::shared_ptr<std::atomic<bool>>> flags;
  ~ReleaseOnExit() {
    for (auto& g : gates) g->open();
    for (auto& f : flags) f->store(true);
  }
};

RuntimeOptions options(unsigned schedulers, std::chrono::milliseconds poll_interval) {
  RuntimeOptions o;
  o.schedulers = schedulers;
  o.telemetry.poll_interval = poll_interval;
  o.system_monitor.long_schedule = 0ms;  // parked and spinning handlers are the point here
  return o;
}

// The events of `into` whose metadata `key` is `value`.
std::vector<Seen> with_md(const Recorder<Seen>& into, const std::string& key, const std::string& value) {
  std::vector<Seen> out;
  for (auto& s : into.snapshot()) {
    if (s.md(key) == value) out.push_back(s);
  }
  return out;
}

}  // namespace

TEST_CASE("the poller's process measurements match process_info for parked mailboxes", "[telemetry][runtime][poller]") {
  auto seen = std::make_shared<Recorder<Seen>>();
  Runtime rt(options(2, 1h));  // the background poller never ticks: poll_now() drives every round
  auto named_release = std::make_shared<Gate>();
  auto plain_release = std::make_shared<Gate>();
  ReleaseOnExit guard{{named_release, plain_release}, {}};
  REQUIRE(rt.telemetry_bus().attach("spy", {{"canopy", "process", "info"}}, recording(seen)));

  SpawnOptions named;
  named.name = "parked";
  const Pid a = spawn_worker(rt, named);
  const Pid b = spawn_worker(rt);
  auto a_entered = std::make_shared<Gate>();
  auto b_entered = std::make_shared<Gate>();
  REQUIRE(rt.send(a, Park{a_entered, named_release}).ok());
  REQUIRE(rt.send(b, Park{b_entered, plain_release}).ok());
  REQUIRE(a_entered->wait(kPatience));
  REQUIRE(b_entered->wait(kPatience));
  constexpr int kA = 7, kB = 3;
  for (int i = 0; i < kA; ++i) REQUIRE(rt.send(a, std::string(100 + i, 'x')).ok());
  for (int i = 0; i < kB; ++i) REQUIRE(rt.send(b, i).ok());

  // Let the oldest message age a little, so head-of-line age is not zero.
  REQUIRE(eventually([&] {
    auto i = rt.process_info(a);
    return i && i->mailbox_oldest_age_seconds >= 0.05;
  }));
  const auto ia = rt.process_info(a);
  const auto ib = rt.process_info(b);
  REQUIRE(ia);
  REQUIRE(ib);
  REQUIRE(ia->mailbox_length == static_cast<uint64_t>(kA));
  REQUIRE(ib->mailbox_length == static_cast<uint64_t>(kB));

  rt.poll_now();

  // The event, as a handler sees it.
  const auto ea = with_md(*seen, "process", "parked");
  REQUIRE(ea.size() == 1);
  CHECK(ea[0].m("mailbox_length") == static_cast<double>(ia->mailbox_length));
  CHECK(ea[0].m("mailbox_bytes") == static_cast<double>(ia->mailbox_bytes));
  CHECK(ea[0].m("heap_bytes") == static_cast<double>(ia->heap_bytes));
  CHECK(ea[0].m("reductions") == static_cast<double>(ia->reductions));
  CHECK(ea[0].md("pid") == a.to_string());
  // Same clock, read later: at least the age process_info saw.
  CHECK(ea[0].m("mailbox_oldest_age_seconds").value_or(-1) >= ia->mailbox_oldest_age_seconds);
  CHECK(ia->mailbox_oldest_age_seconds >= 0.05);
  // An unregistered process in the top N is labelled by its pid.
  const auto eb = with_md(*seen, "process", b.to_string());
  REQUIRE(eb.size() == 1);
  CHECK(eb[0].m("mailbox_length") == static_cast<double>(ib->mailbox_length));

  // The metrics, as a scrape sees them.
  auto fams = rt.collect();
  CHECK(value(fams, "canopy_process_mailbox_length", {{"process", "parked"}}) == static_cast<double>(kA));
  CHECK(value(fams, "canopy_process_mailbox_bytes", {{"process", "parked"}}) == static_cast<double>(ia->mailbox_bytes));
  CHECK(value(fams, "canopy_process_mailbox_length", {{"process", b.to_string()}}) == static_cast<double>(kB));
  CHECK(value(fams, "canopy_process_heap_bytes", {{"process", "parked"}}) == static_cast<double>(ia->heap_bytes));
  CHECK(value(fams, "canopy_mailbox_messages") == static_cast<double>(kA + kB));
  CHECK(value(fams, "canopy_processes") == static_cast<double>(rt.process_count()));
  CHECK(value(fams, "canopy_process_limit") == static_cast<double>(rt.options().max_processes));
  CHECK(value(fams, "canopy_process_usage_ratio").value_or(-1) ==
        Approx(static_cast<double>(rt.process_count()) / rt.options().max_processes));
  // Head-of-line age, per process and node-wide.
  CHECK(value(fams, "canopy_process_mailbox_oldest_age_seconds", {{"process", "parked"}}).value_or(-1) >=
        ia->mailbox_oldest_age_seconds);
  CHECK(value(fams, "canopy_mailbox_oldest_age_seconds").value_or(-1) >= ia->mailbox_oldest_age_seconds);
  CHECK(value(fams, "canopy_registered_names").value_or(0) >= 1.0);
  // The whole-population view counts every process once; both parked ones have 1 < length <= 10.
  // Gauges, cumulative by at_most, with the count and the sum beside them.
  const auto* pop_family = family(fams, "canopy_processes_by_mailbox_length");
  REQUIRE(pop_family != nullptr);
  CHECK(pop_family->type == telemetry::FamilyType::gauge);
  CHECK(pop_family->bounds.empty());
  std::vector<std::string> at_most;
  for (const auto& s : pop_family->samples) {
    REQUIRE(s.labels.size() == 1);
    at_most.push_back(s.labels[0].second);
  }
  CHECK(at_most == std::vector<std::string>{"0", "1", "10", "100", "1000", "10000", "100000", "+Inf"});
  auto at = [&](const char* bound) {
    return value(fams, "canopy_processes_by_mailbox_length", {{"at_most", bound}}).value_or(-1);
  };
  CHECK(at("10") - at("1") == 2.0);
  CHECK(at("+Inf") == static_cast<double>(rt.process_count()));
  CHECK(value(fams, "canopy_processes_by_mailbox_length_gcount") == static_cast<double>(rt.process_count()));
  CHECK(value(fams, "canopy_processes_by_mailbox_length_gsum") == static_cast<double>(kA + kB));
  for (const char* name : {"canopy_processes_by_mailbox_length_gcount", "canopy_processes_by_mailbox_length_gsum",
                           "canopy_processes_by_heap_bytes", "canopy_processes_by_heap_bytes_gcount",
                           "canopy_processes_by_heap_bytes_gsum"}) {
    INFO(name);
    REQUIRE(family(fams, name) != nullptr);
    CHECK(family(fams, name)->type == telemetry::FamilyType::gauge);
  }
  CHECK(value(fams, "canopy_processes_by_heap_bytes", {{"at_most", "1073741824"}}).has_value());

  // Released, the mailboxes drain and the next round says so.
  named_release->open();
  plain_release->open();
  REQUIRE(eventually([&] {
    auto x = rt.process_info(a);
    auto y = rt.process_info(b);
    return x && y && x->mailbox_length == 0 && y->mailbox_length == 0;
  }));
  rt.poll_now();
  fams = rt.collect();
  CHECK(value(fams, "canopy_process_mailbox_length", {{"process", "parked"}}) == 0.0);  // registered: still reported
  CHECK(value(fams, "canopy_mailbox_messages") == 0.0);
}

TEST_CASE("the poller's table measurements match Table::size and memory", "[telemetry][runtime][poller][tables]") {
  auto seen = std::make_shared<Recorder<Seen>>();
  Runtime rt(options(2, 1h));
  const Pid owner = spawn_worker(rt);
  using T = Table<int, std::string>;
  auto made = T::create(
      rt, TableOptions{.name = "telemetry_cache", .access = TableAccess::public_, .owner = owner, .max_entries = 100});
  REQUIRE(made.ok());
  T t = made.value();
  auto bounded_made = T::create(rt, TableOptions{.name = "telemetry_lru",
                                                 .access = TableAccess::public_,
                                                 .owner = owner,
                                                 .max_entries = 10,
                                                 .on_full = EvictionPolicy::evict_oldest});
  REQUIRE(bounded_made.ok());
  T lru = bounded_made.value();

  constexpr int kEntries = 25;
  for (int i = 0; i < kEntries; ++i) REQUIRE(t.insert(i, std::string(static_cast<size_t>(i) * 10, 'v')).ok());
  for (int i = 0; i < 15; ++i) REQUIRE(lru.insert(i, "x").ok());  // 5 evictions
  REQUIRE(t.size() == static_cast<size_t>(kEntries));
  REQUIRE(lru.size() == 10u);
  REQUIRE(lru.counters().evictions_max_entries == 5u);

  REQUIRE(rt.telemetry_bus().attach("spy", {{"canopy", "table", "info"}}, recording(seen)));
  rt.poll_now();

  const auto ev = with_md(*seen, "table", "telemetry_cache");
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].m("entries") == static_cast<double>(t.size()));
  CHECK(ev[0].m("bytes") == static_cast<double>(t.memory()));

  auto fams = rt.collect();
  CHECK(value(fams, "canopy_table_entries", {{"table", "telemetry_cache"}}) == static_cast<double>(kEntries));
  CHECK(value(fams, "canopy_table_memory_bytes", {{"table", "telemetry_cache"}}) == static_cast<double>(t.memory()));
  CHECK(value(fams, "canopy_table_usage_ratio", {{"table", "telemetry_cache"}}) == Approx(0.25));
  CHECK(value(fams, "canopy_table_entries", {{"table", "telemetry_lru"}}) == 10.0);
  CHECK(value(fams, "canopy_table_usage_ratio", {{"table", "telemetry_lru"}}) == Approx(1.0));
  // What being at the bound means, for CanopyTableNearBound: only reject refuses writes.
  CHECK(value(fams, "canopy_table_usage_ratio", {{"table", "telemetry_lru"}, {"policy", "evict_oldest"}}) ==
        Approx(1.0));
  CHECK(value(fams, "canopy_table_usage_ratio", {{"table", "telemetry_cache"}, {"policy", "reject"}}) == Approx(0.25));
  CHECK(value(fams, "canopy_tables") == 2.0);
  CHECK(value(fams, "canopy_table_evictions_total", {{"table", "telemetry_lru"}, {"reason", "max_entries"}}) == 5.0);
  // Known before any eviction: a table's expirations, and only the eviction
  // reasons its bounds allow, are series at 0.
  CHECK(value(fams, "canopy_table_expirations_total", {{"table", "telemetry_cache"}}) == 0.0);
  CHECK(value(fams, "canopy_table_evictions_total", {{"table", "telemetry_cache"}, {"reason", "max_entries"}}) == 0.0);
  CHECK_FALSE(value(fams, "canopy_table_evictions_total", {{"table", "telemetry_lru"}, {"reason", "max_bytes"}}));
  CHECK(value(fams, "canopy_memory_bytes", {{"kind", "tables"}}) == static_cast<double>(t.memory() + lru.memory()));

  // Changes show in the next round; evictions are counted once, not once per round.
  for (int i = 0; i < 5; ++i) REQUIRE(t.erase(i).ok());
  REQUIRE(lru.insert(100, "y").ok());
  rt.poll_now();
  rt.poll_now();
  fams = rt.collect();
  CHECK(value(fams, "canopy_table_entries", {{"table", "telemetry_cache"}}) == static_cast<double>(t.size()));
  CHECK(t.size() == static_cast<size_t>(kEntries - 5));
  CHECK(value(fams, "canopy_table_memory_bytes", {{"table", "telemetry_cache"}}) == static_cast<double>(t.memory()));
  CHECK(value(fams, "canopy_table_evictions_total", {{"table", "telemetry_lru"}, {"reason", "max_entries"}}) == 6.0);
}

TEST_CASE("per-process series vanish when the process exits (no frozen gauges)", "[telemetry][runtime][stale]") {
  Runtime rt(options(2, 50ms));  // the background poller ticks; series go stale after 2.5 intervals
  SpawnOptions named;
  named.name = "ephemeral";
  const Pid p = spawn_worker(rt, named);
  const Labels label{{"process", "ephemeral"}};
  REQUIRE(eventually([&] {
    auto fams = rt.collect();
    return value(fams, "canopy_process_mailbox_length", label) && value(fams, "canopy_process_heap_bytes", label);
  }));

  REQUIRE(rt.send(p, StopNow{}).ok());
  REQUIRE(eventually([&] { return !rt.alive(p); }));
  const std::vector<std::string> per_process = {
      "canopy_process_mailbox_length", "canopy_process_mailbox_bytes",    "canopy_process_mailbox_oldest_age_seconds",
      "canopy_process_heap_bytes",     "canopy_process_reductions_total", "canopy_process_cpu_seconds_total"};
  const auto none_left = [&] {
    const auto fams = rt.collect();
    for (const auto& name : per_process) {
      if (sample(fams, name, label)) return false;
    }
    return true;
  };
  REQUIRE(eventually(none_left));
  // And they stay gone through later rounds.
  const uint64_t polls = rt.poller().polls();
  REQUIRE(eventually([&] { return rt.poller().polls() >= polls + 3; }));
  CHECK(none_left());
}

TEST_CASE("a runtime poller measurement that throws is reported and retried on the next tick",
          "[telemetry][runtime][poller][failure]") {
  std::atomic<int> calls{0};  // before the Runtime: its poller thread uses it
  Runtime rt(options(1, 10ms));
  REQUIRE(rt.poller().add("flaky_user_measurement", [&] {
    if (calls.fetch_add(1) < 2) throw std::runtime_error("not yet");
    rt.telemetry_bus().execute({"app", "gauge"}, {{"value", 42}});
  }));
  telemetry::MetricDef d;
  d.type = telemetry::MetricType::last_value;
  d.name = "app_gauge";
  d.event = {"app", "gauge"};
  d.measurement = "value";
  REQUIRE(rt.metrics().add(d).empty());

  REQUIRE(eventually([&] { return calls.load() >= 4; }));
  CHECK(rt.poller().failures() == 2);
  REQUIRE(eventually([&] { return value_of(rt, "canopy_poller_failures_total") == 2.0; }));
  CHECK(value_of(rt, "app_gauge") == 42.0);
  // The runtime's own measurement kept running in every round.
  CHECK(value_of(rt, "canopy_processes").has_value());
}

TEST_CASE("scheduler utilization is near 0 when idle and near 1 when a scheduler is busy",
          "[telemetry][runtime][scheduler]") {
  Runtime rt(options(2, 1h));
  auto util = [&](const std::string& scheduler) {
    return value(rt.collect(), "canopy_scheduler_utilization_ratio", {{"scheduler", scheduler}});
  };

  // Idle: nothing runs between two rounds.
  rt.poll_now();
  std::this_thread::sleep_for(200ms);  // the measurement window; its length is never asserted
  rt.poll_now();
  REQUIRE(util("0"));
  REQUIRE(util("1"));
  CHECK(*util("0") < 0.3);
  CHECK(*util("1") < 0.3);
  CHECK(*util("0") >= 0.0);

  // Busy: one process spins for the whole window on one scheduler.
  auto entered = std::make_shared<Gate>();
  auto stop = std::make_shared<std::atomic<bool>>(false);
  ReleaseOnExit guard{{}, {stop}};
  const Pid spinner = spawn_worker(rt);
  REQUIRE(rt.send(spinner, Spin{entered, stop}).ok());
  REQUIRE(entered->wait(kPatience));
  rt.poll_now();
  const double busy_before =
      value(rt.collect(), "canopy_scheduler_busy_seconds_total", {{"scheduler", "0"}}).value_or(0) +
      value(rt.collect(), "canopy_scheduler_busy_seconds_total", {{"scheduler", "1"}}).value_or(0);
  std::this_thread::sleep_for(200ms);
  rt.poll_now();
  stop->store(true);
  const double u0 = util("0").value_or(-1);
  const double u1 = util("1").value_or(-1);
  INFO("utilization: scheduler 0 = " << u0 << ", scheduler 1 = " << u1);
  CHECK(std::max(u0, u1) > 0.5);
  CHECK(std::max(u0, u1) <= 1.0);
  CHECK(std::min(u0, u1) < 0.3);
  CHECK(std::min(u0, u1) >= 0.0);
  const double busy_after =
      value(rt.collect(), "canopy_scheduler_busy_seconds_total", {{"scheduler", "0"}}).value_or(0) +
      value(rt.collect(), "canopy_scheduler_busy_seconds_total", {{"scheduler", "1"}}).value_or(0);
  CHECK(busy_after > busy_before + 0.1);  // the spin lasted at least the 200 ms window
}

TEST_CASE("runtime events feed the built-in counters", "[telemetry][runtime][events]") {
  Runtime rt(options(2, 1h));
  const double spawns_before = value_of(rt, "canopy_process_spawns_total").value_or(-1);
  REQUIRE(spawns_before >= 0);
  const Pid a = spawn_worker(rt);
  const Pid b = spawn_worker(rt);
  const Pid c = spawn_worker(rt);
  CHECK(value_of(rt, "canopy_process_spawns_total") == spawns_before + 3);

  REQUIRE(rt.send(a, StopNow{}).ok());
  REQUIRE(rt.send(b, StopNow{}).ok());
  REQUIRE(rt.send(c, CrashNow{}).ok());
  REQUIRE(eventually([&] { return !rt.alive(a) && !rt.alive(b) && !rt.alive(c); }));
  REQUIRE(eventually([&] {
    auto fams = rt.collect();
    return value(fams, "canopy_process_exits_total", {{"reason", "normal"}}) == 2.0 &&
           value(fams, "canopy_process_exits_total", {{"reason", "error"}}) == 1.0;
  }));

  CHECK_FALSE(rt.send(a, 1).ok());  // a dead process: counted as a drop
  CHECK(value_of(rt, "canopy_messages_dropped_total", {{"reason", "dead_process"}}) == 1.0);
}

TEST_CASE("a handler that throws on a runtime event is detached and counted, the runtime carries on",
          "[telemetry][runtime][failure]") {
  std::atomic<int> calls{0};
  Runtime rt(options(2, 1h));
  REQUIRE(rt.telemetry_bus().attach(
      "buggy", {{"canopy", "process", "spawn"}},
      [&](const telemetry::EventName&, const telemetry::Measurements&, const telemetry::Metadata&, const std::any&) {
        calls++;
        throw std::logic_error("buggy handler");
      }));
  CHECK(value_of(rt, "canopy_telemetry_handler_failures_total") == 0.0);
  const Pid a = spawn_worker(rt);
  const Pid b = spawn_worker(rt);
  CHECK(rt.alive(a));
  CHECK(rt.alive(b));
  CHECK(calls.load() == 1);
  CHECK(value_of(rt, "canopy_telemetry_handler_failures_total") == 1.0);
  CHECK(value_of(rt, "canopy_process_spawns_total").value_or(0) >= 2.0);  // the built-in handler was not affected
}

TEST_CASE("every family the runtime exports has the name, type, help and labels of its row in the metric table",
          "[telemetry][runtime][contract]") {
  Runtime rt(options(2, 1h));
  const Pid owner = spawn_worker(rt, SpawnOptions{.name = "contract_owner"});
  auto t = Table<int, int>::create(rt, TableOptions{.name = "contract_table", .owner = owner});
  REQUIRE(t.ok());
  rt.poll_now();
  const auto fams = rt.collect();
  REQUIRE(fams.size() > 20);
  for (const auto& f : fams) {
    INFO("family " << f.name);
    CHECK(is_known_metric(f.name));
    for (const auto& n : metric_names()) {
      if (f.name != n.name) continue;
      CHECK(std::string(telemetry::to_string(f.type)) == n.type);
      CHECK(f.help == n.help);
      for (const auto& s : f.samples) {
        std::vector<std::string> keys;
        for (const auto& [k, v] : s.labels) keys.push_back(k);
        CHECK(keys == n.labels);
      }
    }
  }
  // Every row of the table is a family the runtime exports (the exporter's own
  // families are checked in tests/exporters).
  for (const auto& n : metric_names()) {
    INFO("row " << n.name);
    CHECK(family(fams, n.name) != nullptr);
  }
  for (const auto& name : rt.metrics().names()) {
    INFO("built-in metric " << name);
    CHECK(is_known_metric(name));
  }
  // The families a dashboard needs are present after one round.
  for (const char* name : {"canopy_processes", "canopy_scheduler_utilization_ratio", "canopy_memory_bytes",
                           "canopy_run_queue_length", "canopy_table_entries", "canopy_process_mailbox_length",
                           "canopy_telemetry_series_dropped_total", "canopy_telemetry_handler_failures_total",
                           "canopy_processes_by_heap_bytes", "canopy_poller_duration_seconds"}) {
    INFO("family " << name);
    CHECK(family(fams, name) != nullptr);
  }
}

TEST_CASE("drop reasons and exit reason classes are series at 0 from the first collect", "[telemetry][runtime]") {
  Runtime rt(options(1, 1h));
  const auto fams = rt.collect();
  for (const char* reason : {"dead_process", "drop_newest", "drop_oldest", "rejected", "process_exited"}) {
    INFO(reason);
    CHECK(value(fams, "canopy_messages_dropped_total", {{"reason", reason}}) == 0.0);
  }
  for (const char* kind : {"normal", "shutdown", "kill", "killed", "noproc", "error"}) {
    INFO(kind);
    CHECK(value(fams, "canopy_process_exits_total", {{"reason", kind}}) == 0.0);
  }
}

TEST_CASE("per behaviour: live processes, every message counted, sampled wait and processing histograms",
          "[telemetry][runtime][behaviour]") {
  Runtime rt(options(2, 1h));
  std::vector<Pid> workers;
  for (int i = 0; i < 3; ++i) workers.push_back(spawn_worker(rt));
  constexpr int kMessages = 1280;
  for (int i = 0; i < kMessages; ++i) REQUIRE(rt.send(workers[static_cast<size_t>(i) % workers.size()], i).ok());
  REQUIRE(eventually([&] {
    for (Pid w : workers) {
      auto info = rt.process_info(w);
      if (!info || info->mailbox_length != 0 || info->messages_handled < kMessages / 3) return false;
    }
    return true;
  }));
  rt.poll_now();
  const auto fams = rt.collect();
  const telemetry::Labels mine{{"behaviour", "canopy::FunctionActor"}};
  CHECK(value(fams, "canopy_behaviour_processes", mine) == 3.0);
  CHECK(value(fams, "canopy_behaviour_messages_total", mine) == static_cast<double>(kMessages));
  for (const char* h : {"canopy_behaviour_mailbox_wait_seconds", "canopy_behaviour_processing_seconds"}) {
    INFO(h);
    const auto s = sample(fams, h, mine);
    REQUIRE(s.has_value());
    // One message in 64 per scheduler is timed: at least 1280 / 64 - 2.
    CHECK(s->count >= kMessages / 64 - 2);
    CHECK(s->count <= static_cast<uint64_t>(kMessages));
    REQUIRE(!s->bucket_counts.empty());
    CHECK(s->bucket_counts.back() == s->count);
  }
}

// ASan and TSan keep freed memory in their own allocators (quarantine), which
// malloc_trim does not reach: the plain build checks this.
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
TEST_CASE("after a mailbox flood drains, the freed memory goes back to the system", "[telemetry][runtime][memory]") {
  Runtime rt(options(2, 1h));
  auto release = std::make_shared<Gate>();
  ReleaseOnExit guard{{release}, {}};
  const Pid p = spawn_worker(rt);
  auto entered = std::make_shared<Gate>();
  REQUIRE(rt.send(p, Park{entered, release}).ok());
  REQUIRE(entered->wait(kPatience));
  rt.poll_now();
  const double before = value(rt.collect(), "canopy_memory_bytes", {{"kind", "total"}}).value_or(0);
  // About 100 MB of messages, sent from this (non-runtime) thread.
  int refused = 0;
  for (int i = 0; i < 100'000; ++i) refused += rt.send(p, std::string(1000, 'x')).ok() ? 0 : 1;
  REQUIRE(refused == 0);
  rt.poll_now();
  const double flooded = value(rt.collect(), "canopy_memory_bytes", {{"kind", "total"}}).value_or(0);
  CHECK(value(rt.collect(), "canopy_memory_bytes", {{"kind", "mailboxes"}}).value_or(0) >= 100e6);
  release->open();
  REQUIRE(eventually([&] { return rt.process_info(p)->mailbox_length == 0; }));
  rt.poll_now();  // sees the drain and trims
  rt.poll_now();  // measures after the trim
  const auto fams = rt.collect();
  const double drained = value(fams, "canopy_memory_bytes", {{"kind", "total"}}).value_or(0);
  INFO("resident before " << before << ", flooded " << flooded << ", drained " << drained);
  CHECK(flooded - before >= 100e6);
  // Most of the flood is given back: what stays is under a quarter of it.
  CHECK(drained - before < (flooded - before) / 4);
  CHECK(value(fams, "canopy_memory_bytes", {{"kind", "allocator_free"}}).has_value());
}
#endif

}  // namespace test_telemetry_runtime_test
