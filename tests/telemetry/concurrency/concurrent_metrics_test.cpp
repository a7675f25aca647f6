// Metric aggregation under concurrency: exact totals from several emitting
// threads while another thread scrapes, the cardinality guard under
// concurrent emitters, a live series never lost by a scrape racing its
// update, and the runtime's poller racing scrapes and a changing workload.
#include <stdexcept>

#include "canopy/core/core.hpp"
#include "telemetry_test_support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_telemetry_concurrency_concurrent_metrics_test {

using namespace canopy::telemetry;
using namespace telemetry_test;

namespace {

MetricDef make(MetricType type, std::string name, EventName event, std::string measurement = "",
               std::vector<std::string> tags = {}) {
  MetricDef d;
  d.type = type;
  d.name = std::move(name);
  d.event = std::move(event);
  d.measurement = std::move(measurement);
  d.tags = std::move(tags);
  return d;
}

const char* const kKinds[] = {"a", "b", "c"};

}  // namespace

TEST_CASE("every metric type totals exactly under concurrent emitters while another thread scrapes",
          "[telemetry][metrics][concurrency]") {
  Bus bus;
  Metrics metrics(bus);
  const EventName ev{"work", "done"};
  REQUIRE(metrics.add(make(MetricType::counter, "done_total", ev)).empty());
  REQUIRE(metrics.add(make(MetricType::counter, "done_by_kind_total", ev, "", {"kind"})).empty());
  REQUIRE(metrics.add(make(MetricType::sum, "units_total", ev, "units")).empty());
  REQUIRE(metrics.add(make(MetricType::sum, "units_by_kind_total", ev, "units", {"kind"})).empty());
  REQUIRE(metrics.add(make(MetricType::summary, "units_summary", ev, "units", {"kind"})).empty());
  MetricDef dist = make(MetricType::distribution, "units_dist", ev, "units");
  dist.buckets = {1, 2, 3};
  REQUIRE(metrics.add(dist).empty());
  MetricDef kept = make(MetricType::counter, "odd_total", ev);
  kept.keep = [](const Measurements& m, const Metadata&) { return static_cast<int>(*m.find("units")) % 2 == 1; };
  REQUIRE(metrics.add(kept).empty());
  REQUIRE(metrics.add(make(MetricType::last_value, "last_units", ev, "units", {"thread"})).empty());

  constexpr int kThreads = 4;
  const int per_thread = scaled(30'000) / 12 * 12;  // whole cycles of kinds (3) and units (4)
  std::atomic<bool> emitting{true};
  std::atomic<int> scrapes{0}, went_backwards{0};
  std::thread scraper([&] {
    double last = 0;
    for (int i = 0; i < 100'000 && emitting.load(); ++i) {
      const auto fams = metrics.collect();
      const double now = value(fams, "done_total").value_or(-1);
      if (now < last) went_backwards++;
      last = now;
      scrapes++;
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string thread_label = "t" + std::to_string(t);
      for (int i = 0; i < per_thread; ++i) {
        // units cycle 1, 2, 3, 4: one in each bucket (<=1, <=2, <=3, +Inf).
        bus.execute({"work", "done"}, {{"units", static_cast<double>(i % 4 + 1)}},
                    {{"kind", kKinds[i % 3]}, {"thread", thread_label}});
      }
      bus.execute({"work", "done"}, {{"units", 100 + t}}, {{"kind", "a"}, {"thread", thread_label}});
    });
  }
  for (auto& th : threads) th.join();
  emitting = false;
  scraper.join();

  const auto fams = metrics.collect();
  const uint64_t n = static_cast<uint64_t>(kThreads) * static_cast<uint64_t>(per_thread);
  const uint64_t all = n + kThreads;  // plus one final event per thread
  // Per thread: units 1..4 each per_thread/4 times (per_thread is a multiple of 4 here).
  REQUIRE(per_thread % 12 == 0);
  const double units = static_cast<double>(n / 4) * (1 + 2 + 3 + 4) + (100 + 101 + 102 + 103);

  CHECK(value(fams, "done_total") == static_cast<double>(all));
  CHECK(value(fams, "units_total") == Approx(units));
  const uint64_t per_kind = n / 3;
  CHECK(value(fams, "done_by_kind_total", {{"kind", "a"}}) == static_cast<double>(per_kind + kThreads));
  CHECK(value(fams, "done_by_kind_total", {{"kind", "b"}}) == static_cast<double>(per_kind));
  CHECK(value(fams, "done_by_kind_total", {{"kind", "c"}}) == static_cast<double>(per_kind));
  double by_kind_sum = 0;
  for (const char* k : kKinds) by_kind_sum += value(fams, "units_by_kind_total", {{"kind", k}}).value_or(0);
  CHECK(by_kind_sum == Approx(units));
  uint64_t summary_count = 0;
  double summary_sum = 0;
  for (const char* k : kKinds) {
    auto s = sample(fams, "units_summary", {{"kind", k}});
    REQUIRE(s);
    summary_count += s->count;
    summary_sum += s->sum;
  }
  CHECK(summary_count == all);
  CHECK(summary_sum == Approx(units));
  auto d = sample(fams, "units_dist");
  REQUIRE(d);
  CHECK(d->count == all);
  CHECK(d->sum == Approx(units));
  CHECK(d->bucket_counts == std::vector<uint64_t>{n / 4, n / 2, 3 * n / 4, all});
  // Odd units: 1 and 3, half of the cycle, plus the final 101 and 103.
  CHECK(value(fams, "odd_total") == static_cast<double>(n / 2 + 2));
  for (int t = 0; t < kThreads; ++t) {
    CHECK(value(fams, "last_units", {{"thread", "t" + std::to_string(t)}}) == static_cast<double>(100 + t));
  }
  CHECK(scrapes.load() > 0);
  CHECK(went_backwards.load() == 0);
}

TEST_CASE("the cardinality guard holds under concurrent emitters and conserves every value",
          "[telemetry][metrics][cardinality][concurrency]") {
  Bus bus;
  Metrics metrics(bus);
  MetricDef d = make(MetricType::sum, "per_user_total", {"req"}, "n", {"user"});
  d.max_series = 10;
  REQUIRE(metrics.add(d).empty());
  constexpr int kThreads = 4;
  constexpr int kUsers = 40;
  const int rounds = scaled(500);
  std::vector<std::thread> threads;
  std::vector<std::string> users;
  for (int u = 0; u < kUsers; ++u) users.push_back("user" + std::to_string(u));
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < rounds; ++r) {
        for (int u = 0; u < kUsers; ++u) {
          bus.execute({"req"}, {{"n", 1}}, {{"user", users[static_cast<size_t>((u + t * 7) % kUsers)]}});
        }
      }
    });
  }
  for (auto& th : threads) th.join();

  const auto fams = metrics.collect();
  const Family* f = family(fams, "per_user_total");
  REQUIRE(f);
  double total = 0, overflow = 0;
  size_t real_series = 0;
  for (const auto& s : f->samples) {
    total += s.value;
    REQUIRE(s.labels.size() == 1);
    if (s.labels[0].second == "__overflow__") {
      overflow += s.value;
    } else {
      ++real_series;
    }
  }
  const double emitted = static_cast<double>(kThreads) * rounds * kUsers;
  CHECK(total == emitted);         // nothing lost, nothing counted twice
  CHECK(real_series == 10);        // exactly the cap
  CHECK(f->samples.size() == 11);  // plus one overflow series
  CHECK(overflow == emitted - static_cast<double>(real_series) * kThreads * rounds);
  CHECK(static_cast<double>(metrics.series_dropped().at("per_user_total")) == overflow);
  CHECK(value(fams, "canopy_telemetry_series_dropped_total", {{"metric", "per_user_total"}}) == overflow);
}

TEST_CASE("the cardinality guard holds while scrapes race the creation of new series",
          "[telemetry][metrics][cardinality][concurrency]") {
  // The guard fills up while a scraper rebuilds its list of live series; a
  // series created in a shard the scrape already passed must still count.
  // Many short runs: the window is the few microseconds around the cap.
  constexpr int kThreads = 3;
  constexpr int kPerThread = 40;
  constexpr size_t kCap = 10;
  const int runs = scaled(300);
  int over_cap = 0, lost = 0;
  for (int run = 0; run < runs; ++run) {
    Bus bus;
    Metrics metrics(bus);
    MetricDef d = make(MetricType::sum, "new_users_total", {"signup"}, "n", {"user"});
    d.max_series = kCap;
    REQUIRE(metrics.add(d).empty());
    std::atomic<int> running{kThreads};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        while (!go.load()) std::this_thread::yield();
        // Every event a label set never seen before: each one tests the cap.
        for (int i = 0; i < kPerThread; ++i) {
          bus.execute({"signup"}, {{"n", 1}}, {{"user", "u" + std::to_string(t) + "_" + std::to_string(i)}});
        }
        running.fetch_sub(1);
      });
    }
    go = true;
    for (int scrapes = 0; running.load() > 0 && scrapes < 100'000; ++scrapes) (void)metrics.collect();
    for (auto& th : threads) th.join();
    const auto fams = metrics.collect();
    const Family* f = family(fams, "new_users_total");
    REQUIRE(f);
    size_t real = 0;
    double total = 0;
    for (const auto& s : f->samples) {
      total += s.value;
      real += s.labels.at(0).second == "__overflow__" ? 0 : 1;
    }
    over_cap += real > kCap ? 1 : 0;
    lost += total == kThreads * kPerThread ? 0 : 1;
  }
  INFO("runs: " << runs);
  CHECK(over_cap == 0);
  CHECK(lost == 0);
}

TEST_CASE("a scrape racing an update never drops a live series", "[telemetry][metrics][stale][concurrency]") {
  Bus bus;
  Metrics metrics(bus);
  // Many metrics before the one under test, so each scrape takes a while
  // between reading the clock and reaching it.
  for (int i = 0; i < 200; ++i) {
    REQUIRE(
        metrics.add(make(MetricType::sum, "filler_" + std::to_string(i) + "_total", {"filler"}, "v", {"k"})).empty());
  }
  MetricDef d = make(MetricType::last_value, "live_gauge", {"live"}, "v", {"who"});
  d.stale_after = std::chrono::hours(1);  // nothing here is ever stale
  REQUIRE(metrics.add(d).empty());
  MetricDef u = make(MetricType::last_value, "live_untagged", {"live"}, "v");
  u.stale_after = std::chrono::hours(1);
  REQUIRE(metrics.add(u).empty());
  bus.execute({"filler"}, {{"v", 1}}, {{"k", "x"}});

  // Only the updater thread writes the series (so it lives in one shard only).
  std::atomic<bool> updating{true};
  std::atomic<bool> started{false};
  std::thread updater([&] {
    for (int i = 0; i < 50'000'000 && updating.load(std::memory_order_relaxed); ++i) {
      bus.execute({"live"}, {{"v", static_cast<double>(i % 1000 + 1)}}, {{"who", "me"}});
      if (i == 0) started = true;
    }
  });
  REQUIRE(eventually([&] { return started.load(); }));
  int missing_tagged = 0, missing_untagged = 0;
  const int scrapes = scaled(2'000);
  for (int i = 0; i < scrapes; ++i) {
    const auto fams = metrics.collect();
    if (!value(fams, "live_gauge", {{"who", "me"}})) ++missing_tagged;
    if (!value(fams, "live_untagged")) ++missing_untagged;
  }
  updating = false;
  updater.join();
  INFO("scrapes: " << scrapes);
  CHECK(missing_tagged == 0);
  CHECK(missing_untagged == 0);
}

TEST_CASE("metrics added and removed while threads emit", "[telemetry][metrics][concurrency]") {
  Bus bus;
  Metrics metrics(bus);
  REQUIRE(metrics.add(make(MetricType::counter, "stays_total", {"e"})).empty());
  constexpr int kThreads = 3;
  const int per_thread = scaled(30'000);
  std::atomic<int> add_errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i) bus.execute({"e"}, {{"v", 1}}, {{"k", "x"}});
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < scaled(300); ++i) {
      MetricDef d = make(MetricType::sum, "churn_" + std::to_string(i % 5), {"e"}, "v", {"k"});
      if (!metrics.add(d).empty()) add_errors++;
      (void)metrics.collect();
      if (!metrics.remove(d.name)) add_errors++;
    }
  });
  for (auto& th : threads) th.join();
  CHECK(add_errors.load() == 0);
  CHECK(metrics.names() == std::vector<std::string>{"stays_total"});
  CHECK(value_of(metrics, "stays_total") == static_cast<double>(kThreads) * per_thread);
}

TEST_CASE("the runtime's poller races scrapes and a changing workload", "[telemetry][runtime][concurrency]") {
  using namespace canopy;
  canopy::RuntimeOptions o;
  o.schedulers = 2;
  o.telemetry.poll_interval = 5ms;
  o.telemetry.top_n = 3;
  Runtime rt(o);
  std::atomic<bool> running{true};
  std::atomic<int> scrapes{0}, bad{0};
  std::thread scraper([&] {
    for (int i = 0; i < 100'000 && running.load(); ++i) {
      const auto fams = rt.collect();
      const auto n = value(fams, "canopy_processes");
      if (n && (*n < 0 || *n > 1e6)) bad++;
      // The population snapshot is consistent: its +Inf value is its count.
      const auto all = value(fams, "canopy_processes_by_mailbox_length", {{"at_most", "+Inf"}});
      if (all != value(fams, "canopy_processes_by_mailbox_length_gcount")) bad++;
      scrapes++;
    }
  });
  std::thread poller([&] {
    for (int i = 0; i < scaled(200) && running.load(); ++i) rt.poll_now();
  });
  const int rounds = scaled(200);
  for (int i = 0; i < rounds; ++i) {
    auto r = rt.spawn(std::make_unique<FunctionActor>([](FunctionActor& self, Message& m) {
      if (m.is<int>() && *m.as<int>() < 0) self.stop();
    }));
    REQUIRE(r.ok());
    for (int j = 0; j < 5; ++j) REQUIRE(rt.send(r.value(), j).ok());
    REQUIRE(rt.send(r.value(), -1).ok());
  }
  poller.join();
  REQUIRE(eventually([&] { return rt.process_count() == 0; }));
  REQUIRE(eventually([&] {
    rt.poll_now();
    return value_of(rt, "canopy_processes") == 0.0 && value_of(rt, "canopy_mailbox_messages") == 0.0;
  }));
  running = false;
  scraper.join();
  CHECK(scrapes.load() > 0);
  CHECK(bad.load() == 0);
  CHECK(value_of(rt, "canopy_process_spawns_total") == static_cast<double>(rounds));
  CHECK(value_of(rt, "canopy_process_exits_total", {{"reason", "normal"}}) == static_cast<double>(rounds));
}

}  // namespace test_telemetry_concurrency_concurrent_metrics_test
