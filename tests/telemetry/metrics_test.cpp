// Metric definitions and their aggregation: each metric type with tags,
// keep/drop and unit conversion; definition errors; removal; the
// cardinality guard; stale series.
#include "telemetry_test_support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_telemetry_metrics_test {

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

#define REQUIRE_ADDED(metrics, def)              \
  do {                                           \
    const std::string err_ = (metrics).add(def); \
    INFO(err_);                                  \
    REQUIRE(err_.empty());                       \
  } while (0)

size_t series_count(const std::vector<Family>& fams, const std::string& name) {
  const Family* f = family(fams, name);
  return f == nullptr ? 0 : f->samples.size();
}

}  // namespace

TEST_CASE("counter counts events, whatever their measurements", "[telemetry][metrics]") {
  Bus bus;
  Metrics metrics(bus);
  MetricDef d = make(MetricType::counter, "jobs_total", {"jobs", "done"});
  d.description = "Jobs done";
  REQUIRE_ADDED(metrics, d);
  CHECK(bus.event({"jobs", "done"}).active());

  const auto empty = metrics.collect();
  REQUIRE(family(empty, "jobs_total"));
  CHECK(value(empty, "jobs_total") == 0.0);

  bus.execute({"jobs", "done"}, {{"count", 100}});
  bus.execute({"jobs", "done"}, {});
  bus.execute({"jobs", "done"}, {{"duration", 5}});
  bus.execute({"jobs", "other"}, {{"count", 1}});
  const auto fams = metrics.collect();
  const Family* f = family(fams, "jobs_total");
  REQUIRE(f);
  CHECK(f->type == FamilyType::counter);
  CHECK(f->help == "Jobs done");
  REQUIRE(f->samples.size() == 1);
  CHECK(f->samples[0].labels.empty());
  CHECK(f->samples[0].value == 3.0);
}

TEST_CASE("counter with tags keeps one series per tag combination", "[telemetry][metrics][tags]") {
  Bus bus;
  Metrics metrics(bus);
  REQUIRE_ADDED(metrics, make(MetricType::counter, "requests_total", {"http", "request"}, "", {"method", "status"}));
  const std::string get = "GET", post = "POST";
  for (int i = 0; i < 3; ++i) bus.execute({"http", "request"}, {}, {{"method", get}, {"status", 200}});
  bus.execute({"http", "request"}, {}, {{"method", post}, {"status", 200}});
  bus.execute({"http", "request"}, {}, {{"method", get}, {"status", 404}, {"extra", "ignored"}});
  bus.execute({"http", "request"}, {}, {{"status", 500}});  // a missing tag is an empty label

  const auto fams = metrics.collect();
  CHECK(series_count(fams, "requests_total") == 4);
  CHECK(value(fams, "requests_total", {{"method", "GET"}, {"status", "200"}}) == 3.0);
  CHECK(value(fams, "requests_total", {{"method", "POST"}, {"status", "200"}}) == 1.0);
  CHECK(value(fams, "requests_total", {{"method", "GET"}, {"status", "404"}}) == 1.0);
  CHECK(value(fams, "requests_total", {{"method", ""}, {"status", "500"}}) == 1.0);
  // Labels come in the order of the tags, named as the tags.
  auto s = sample(fams, "requests_total", {{"method", "POST"}});
  REQUIRE(s);
  CHECK(s->labels == Labels{{"method", "POST"}, {"status", "200"}});
}

TEST_CASE("keep drops the events it rejects, tag_values rewrites the metadata first", "[telemetry][metrics][tags]") {
  Bus bus;
  Metrics metrics(bus);
  MetricDef d = make(MetricType::sum, "bytes_in_total", {"net", "read"}, "bytes", {"peer"});
  d.keep = [](const Measurements& m, const Metadata& md) {
    const MetaValue* local = md.find("local");
    return !(local && !local->is_number() && local->text() == "yes") && m.find("bytes") != nullptr;
  };
  d.tag_values = [](const Metadata& md) {
    Metadata out = md;
    const MetaValue* p = md.find("peer");
    // Collapse every 10.x peer into one label value (a static string: the
    // rewritten metadata borrows, like any metadata).
    if (p && !p->is_number() && p->text().rfind("10.", 0) == 0) out.set("peer", "internal");
    return out;
  };
  REQUIRE_ADDED(metrics, d);

  bus.execute({"net", "read"}, {{"bytes", 100}}, {{"peer", "10.0.0.1"}});
  bus.execute({"net", "read"}, {{"bytes", 50}}, {{"peer", "10.0.0.2"}});
  bus.execute({"net", "read"}, {{"bytes", 7}}, {{"peer", "8.8.8.8"}});
  bus.execute({"net", "read"}, {{"bytes", 1000}}, {{"peer", "10.0.0.3"}, {"local", "yes"}});  // dropped by keep
  bus.execute({"net", "read"}, {{"other", 1}}, {{"peer", "8.8.8.8"}});                        // dropped by keep

  const auto fams = metrics.collect();
  CHECK(series_count(fams, "bytes_in_total") == 2);
  CHECK(value(fams, "bytes_in_total", {{"peer", "internal"}}) == 150.0);
  CHECK(value(fams, "bytes_in_total", {{"peer", "8.8.8.8"}}) == 7.0);
  CHECK_FALSE(value(fams, "bytes_in_total", {{"peer", "10.0.0.1"}}));
  CHECK(family(fams, "bytes_in_total")->type == FamilyType::counter);
}

TEST_CASE("sum adds the measurement and converts native time to milliseconds", "[telemetry][metrics][units]") {
  Bus bus;
  Metrics metrics(bus);
  MetricDef d = make(MetricType::sum, "busy_milliseconds_total", {"worker", "run"}, "duration");
  d.unit_from = Unit::native_time;
  d.unit_to = Unit::millisecond;
  REQUIRE_ADDED(metrics, d);
  bus.execute({"worker", "run"}, {{"duration", 1'500'000}});  // 1.5 ms in ns
  bus.execute({"worker", "run"}, {{"duration", 2'000'000}});
  bus.execute({"worker", "run"}, {{"count", 1}});  // no duration: skipped
  const auto fams = metrics.collect();
  CHECK(value(fams, "busy_milliseconds_total") == Approx(3.5));
  CHECK(family(fams, "busy_milliseconds_total")->unit == "milliseconds");
}

TEST_CASE("last_value keeps the latest value per series, monotonic ones export as counters",
          "[telemetry][metrics][tags]") {
  Bus bus;
  Metrics metrics(bus);
  REQUIRE_ADDED(metrics, make(MetricType::last_value, "queue_length", {"q", "info"}, "length", {"queue"}));
  MetricDef total = make(MetricType::last_value, "q_handled_total", {"q", "info"}, "handled", {"queue"});
  total.monotonic = true;
  REQUIRE_ADDED(metrics, total);

  // A last_value nobody has set has no sample (not a made-up zero).
  auto fams = metrics.collect();
  REQUIRE(family(fams, "queue_length"));
  CHECK(family(fams, "queue_length")->samples.empty());
  CHECK(family(fams, "queue_length")->type == FamilyType::gauge);
  CHECK(family(fams, "q_handled_total")->type == FamilyType::counter);

  bus.execute({"q", "info"}, {{"length", 10}, {"handled", 1}}, {{"queue", "a"}});
  bus.execute({"q", "info"}, {{"length", 4}, {"handled", 5}}, {{"queue", "a"}});
  bus.execute({"q", "info"}, {{"length", 0}, {"handled", 9}}, {{"queue", "b"}});
  bus.execute({"q", "info"}, {{"length", 12}}, {{"queue", "b"}});  // handled missing: that series keeps 9
  fams = metrics.collect();
  CHECK(value(fams, "queue_length", {{"queue", "a"}}) == 4.0);
  CHECK(value(fams, "queue_length", {{"queue", "b"}}) == 12.0);
  CHECK(value(fams, "q_handled_total", {{"queue", "a"}}) == 5.0);
  CHECK(value(fams, "q_handled_total", {{"queue", "b"}}) == 9.0);
}

TEST_CASE("an untagged last_value reports the value set last", "[telemetry][metrics]") {
  Bus bus;
  Metrics metrics(bus);
  REQUIRE_ADDED(metrics, make(MetricType::last_value, "temperature", {"t"}, "celsius"));
  bus.execute({"t"}, {{"celsius", 21.5}});
  bus.execute({"t"}, {{"celsius", -3}});
  CHECK(value_of(metrics, "temperature") == -3.0);
  bus.execute({"t"}, {{"celsius", 8}});
  CHECK(value_of(metrics, "temperature") == 8.0);
}

TEST_CASE("summary keeps count and sum per series", "[telemetry][metrics][tags]") {
  Bus bus;
  Metrics metrics(bus);
  MetricDef d = make(MetricType::summary, "payload_kilobytes", {"msg", "sent"}, "size", {"kind"});
  d.unit_from = Unit::byte;
  d.unit_to = Unit::kilobyte;
  REQUIRE_ADDED(metrics, d);
  bus.execute({"msg", "sent"}, {{"size", 2048}}, {{"kind", "order"}});
  bus.execute({"msg", "sent"}, {{"size", 512}}, {{"kind", "order"}});
  bus.execute({"msg", "sent"}, {{"size", 1024}}, {{"kind", "ping"}});
  const auto fams = metrics.collect();
  const Family* f = family(fams, "payload_kilobytes");
  REQUIRE(f);
  CHECK(f->type == FamilyType::summary);
  CHECK(f->unit == "kilobytes");
  auto order = sample(fams, "payload_kilobytes", {{"kind", "order"}});
  auto ping = sample(fams, "payload_kilobytes", {{"kind", "ping"}});
  REQUIRE(order);
  REQUIRE(ping);
  CHECK(order->count == 2);
  CHECK(order->sum == Approx(2.5));  // (2048 + 512) bytes in kilobytes of 1024 bytes
  CHECK(ping->count == 1);
  CHECK(ping->sum == Approx(1.0));
}

TEST_CASE("distribution fills explicit buckets (upper bound inclusive) after unit conversion",
          "[telemetry][metrics][units]") {
  Bus bus;
  Metrics metrics(bus);
  MetricDef d = make(MetricType::distribution, "latency_seconds", {"rpc", "stop"}, "duration", {"service"});
  d.unit_from = Unit::native_time;
  d.unit_to = Unit::second;
  d.buckets = {0.001, 0.01, 0.1, 1};
  REQUIRE_ADDED(metrics, d);

  // In nanoseconds: 0.5 ms, exactly 1 ms, 5 ms, 50 ms, exactly 1 s, 3 s.
  for (double ns : {5e5, 1e6, 5e6, 5e7, 1e9, 3e9})
    bus.execute({"rpc", "stop"}, {{"duration", ns}}, {{"service", "cart"}});
  bus.execute({"rpc", "stop"}, {{"duration", 2e6}}, {{"service", "auth"}});

  const auto fams = metrics.collect();
  const Family* f = family(fams, "latency_seconds");
  REQUIRE(f);
  CHECK(f->type == FamilyType::histogram);
  CHECK(f->unit == "seconds");
  CHECK(f->bounds == std::vector<double>{0.001, 0.01, 0.1, 1});
  auto cart = sample(fams, "latency_seconds", {{"service", "cart"}});
  REQUIRE(cart);
  CHECK(cart->count == 6);
  CHECK(cart->sum == Approx(0.0005 + 0.001 + 0.005 + 0.05 + 1 + 3));
  // Cumulative: <=1ms: 2, <=10ms: 3, <=100ms: 4, <=1s: 5, +Inf: 6.
  CHECK(cart->bucket_counts == std::vector<uint64_t>{2, 3, 4, 5, 6});
  auto auth = sample(fams, "latency_seconds", {{"service", "auth"}});
  REQUIRE(auth);
  CHECK(auth->bucket_counts == std::vector<uint64_t>{0, 1, 1, 1, 1});
}

TEST_CASE("an untagged distribution with a measure function", "[telemetry][metrics]") {
  Bus bus;
  Metrics metrics(bus);
  MetricDef d = make(MetricType::distribution, "batch_size", {"batch"});
  d.measure = [](const Measurements& m, const Metadata&) -> std::optional<double> {
    const double* n = m.find("items");
    if (n == nullptr) return std::nullopt;  // skip
    return *n * 2;
  };
  d.buckets = {1, 10, 100};
  REQUIRE_ADDED(metrics, d);
  bus.execute({"batch"}, {{"items", 0.5}});  // 1
  bus.execute({"batch"}, {{"items", 3}});    // 6
  bus.execute({"batch"}, {{"items", 60}});   // 120
  bus.execute({"batch"}, {{"other", 1}});    // skipped
  auto s = sample(metrics.collect(), "batch_size");
  REQUIRE(s);
  CHECK(s->labels.empty());
  CHECK(s->count == 3);
  CHECK(s->sum == Approx(127));
  CHECK(s->bucket_counts == std::vector<uint64_t>{1, 2, 2, 3});
}

TEST_CASE("unit conversion factors", "[telemetry][metrics][units]") {
  CHECK(unit_factor(Unit::native_time, Unit::second) == Approx(1e-9));
  CHECK(unit_factor(Unit::native_time, Unit::millisecond) == Approx(1e-6));
  CHECK(unit_factor(Unit::microsecond, Unit::millisecond) == Approx(1e-3));
  CHECK(unit_factor(Unit::second, Unit::millisecond) == Approx(1e3));
  CHECK(unit_factor(Unit::byte, Unit::kilobyte) == Approx(1.0 / 1024));
  CHECK(unit_factor(Unit::byte, Unit::megabyte) == Approx(1.0 / (1024 * 1024)));
  CHECK(unit_factor(Unit::none, Unit::none) == 1.0);
  CHECK_FALSE(unit_factor(Unit::byte, Unit::second).has_value());
  CHECK_FALSE(unit_factor(Unit::second, Unit::kilobyte).has_value());
  CHECK_FALSE(unit_factor(Unit::none, Unit::second).has_value());
  CHECK(std::string(unit_suffix(Unit::second)) == "seconds");
  CHECK(std::string(unit_suffix(Unit::byte)) == "bytes");
  CHECK(std::string(unit_suffix(Unit::none)).empty());
}

TEST_CASE("bad definitions are refused with a reason naming the metric", "[telemetry][metrics]") {
  Bus bus;
  Metrics metrics(bus);
  auto refused = [&](MetricDef d) {
    const std::string name = d.name;
    const std::string err = metrics.add(std::move(d));
    INFO(err);
    CHECK_FALSE(err.empty());
    CHECK(err.find("'" + name + "'") != std::string::npos);
    return err;
  };
  refused(make(MetricType::counter, "9lives", {"e"}));
  refused(make(MetricType::counter, "has-dash", {"e"}));
  refused(make(MetricType::counter, "no_event", {}));
  refused(make(MetricType::sum, "no_measurement", {"e"}));
  refused(make(MetricType::counter, "bad_tag", {"e"}, "", {"__reserved"}));
  refused(make(MetricType::counter, "bad_tag2", {"e"}, "", {"with space"}));
  refused(make(MetricType::distribution, "no_buckets", {"e"}, "v"));
  MetricDef unsorted = make(MetricType::distribution, "unsorted", {"e"}, "v");
  unsorted.buckets = {1, 5, 3};
  refused(unsorted);
  MetricDef dup_bounds = make(MetricType::distribution, "dup_bounds", {"e"}, "v");
  dup_bounds.buckets = {1, 1, 3};
  refused(dup_bounds);
  MetricDef mismatch = make(MetricType::sum, "mismatch", {"e"}, "v");
  mismatch.unit_from = Unit::byte;
  mismatch.unit_to = Unit::second;
  const std::string err = refused(mismatch);
  CHECK(err.find("bytes") != std::string::npos);
  CHECK(metrics.names().empty());
  CHECK_FALSE(bus.event({"e"}).active());  // nothing refused was attached

  REQUIRE_ADDED(metrics, make(MetricType::counter, "ok_total", {"e"}));
  refused(make(MetricType::counter, "ok_total", {"e2"}));  // already defined
  CHECK(metrics.names() == std::vector<std::string>{"ok_total"});
}

TEST_CASE("remove detaches a metric and drops it from collection", "[telemetry][metrics]") {
  Bus bus;
  Metrics metrics(bus);
  REQUIRE_ADDED(metrics, make(MetricType::counter, "a_total", {"e"}));
  REQUIRE_ADDED(metrics, make(MetricType::counter, "b_total", {"e"}));
  bus.execute({"e"}, {});
  CHECK(metrics.remove("a_total"));
  CHECK_FALSE(metrics.remove("a_total"));
  bus.execute({"e"}, {});
  const auto fams = metrics.collect();
  CHECK_FALSE(family(fams, "a_total"));
  CHECK(value(fams, "b_total") == 2.0);
  CHECK(metrics.names() == std::vector<std::string>{"b_total"});
  // The name is free again and starts from zero.
  REQUIRE_ADDED(metrics, make(MetricType::counter, "a_total", {"e"}));
  bus.execute({"e"}, {});
  CHECK(value_of(metrics, "a_total") == 1.0);
}

TEST_CASE("destroying the metrics detaches their handlers", "[telemetry][metrics]") {
  Bus bus;
  {
    Metrics metrics(bus);
    REQUIRE_ADDED(metrics, make(MetricType::counter, "gone_total", {"e"}));
    CHECK(bus.event({"e"}).active());
  }
  CHECK_FALSE(bus.event({"e"}).active());
  CHECK(bus.handler_ids().empty());
  CHECK_NOTHROW(bus.execute({"e"}, {}));
}

TEST_CASE("past max_series, values go to one overflow series and are counted", "[telemetry][metrics][cardinality]") {
  Bus bus;
  Metrics metrics(bus);
  MetricDef d = make(MetricType::sum, "user_bytes_total", {"upload"}, "bytes", {"user"});
  d.max_series = 3;
  REQUIRE_ADDED(metrics, d);
  REQUIRE_ADDED(metrics, make(MetricType::counter, "uploads_total", {"upload"}));  // untagged: cannot overflow

  const std::vector<std::string> users = {"u0", "u1", "u2", "u3", "u4", "u5"};
  for (const auto& u : users) bus.execute({"upload"}, {{"bytes", 10}}, {{"user", u}});
  // A known series keeps working after the cap; new ones keep overflowing.
  bus.execute({"upload"}, {{"bytes", 1}}, {{"user", "u1"}});
  bus.execute({"upload"}, {{"bytes", 5}}, {{"user", "u5"}});

  const auto fams = metrics.collect();
  const Family* f = family(fams, "user_bytes_total");
  REQUIRE(f);
  CHECK(f->samples.size() == 4);  // three real series and the overflow one
  CHECK(value(fams, "user_bytes_total", {{"user", "u0"}}) == 10.0);
  CHECK(value(fams, "user_bytes_total", {{"user", "u1"}}) == 11.0);
  CHECK(value(fams, "user_bytes_total", {{"user", "u2"}}) == 10.0);
  CHECK_FALSE(value(fams, "user_bytes_total", {{"user", "u3"}}));
  CHECK(value(fams, "user_bytes_total", {{"user", "__overflow__"}}) == 35.0);  // u3, u4, u5 and u5 again

  // Counted per value sent to the overflow series.
  CHECK(metrics.series_dropped().at("user_bytes_total") == 4);
  CHECK(metrics.series_dropped().at("uploads_total") == 0);
  CHECK(value(fams, "canopy_telemetry_series_dropped_total", {{"metric", "user_bytes_total"}}) == 4.0);
  CHECK(family(fams, "canopy_telemetry_series_dropped_total")->type == FamilyType::counter);
  CHECK_FALSE(sample(fams, "canopy_telemetry_series_dropped_total", {{"metric", "uploads_total"}}));
  CHECK(value(fams, "uploads_total") == 8.0);
}

TEST_CASE("a last_value series not updated for stale_after disappears", "[telemetry][metrics][stale]") {
  Bus bus;
  Metrics metrics(bus);
  MetricDef d = make(MetricType::last_value, "conn_queue", {"conn", "info"}, "queue", {"conn"});
  d.stale_after = 1'000ms;
  REQUIRE_ADDED(metrics, d);
  MetricDef untagged = make(MetricType::last_value, "conn_total", {"conn", "info"}, "total");
  untagged.stale_after = 1'000ms;
  REQUIRE_ADDED(metrics, untagged);

  const auto t0 = Clock::now();
  bus.execute({"conn", "info"}, {{"queue", 3}, {"total", 2}}, {{"conn", "a"}});
  bus.execute({"conn", "info"}, {{"queue", 5}}, {{"conn", "b"}});
  auto fams = metrics.collect();
  if (Clock::now() - t0 < 900ms) {  // a machine stalled for 900 ms proves nothing either way
    CHECK(value(fams, "conn_queue", {{"conn", "a"}}) == 3.0);
    CHECK(value(fams, "conn_queue", {{"conn", "b"}}) == 5.0);
    CHECK(value(fams, "conn_total") == 2.0);
  }

  // "b" keeps being updated; "a" and the untagged one go stale and vanish.
  const auto gone = [&] {
    bus.execute({"conn", "info"}, {{"queue", 6}}, {{"conn", "b"}});
    fams = metrics.collect();
    return !value(fams, "conn_queue", {{"conn", "a"}}) && !value(fams, "conn_total");
  };
  REQUIRE(eventually(gone));
  CHECK(Clock::now() - t0 >= 1'000ms);
  CHECK(value(fams, "conn_queue", {{"conn", "b"}}) == 6.0);

  // A new value brings a series back.
  bus.execute({"conn", "info"}, {{"queue", 1}, {"total", 4}}, {{"conn", "a"}});
  fams = metrics.collect();
  CHECK(value(fams, "conn_queue", {{"conn", "a"}}) == 1.0);
  CHECK(value(fams, "conn_total") == 4.0);
}

// The scan folds each shard's cells by label set into one sample.
TEST_CASE("a label set emitted from several threads is one sample holding every thread's share",
          "[telemetry][metrics][tags]") {
  Bus bus;
  Metrics metrics(bus);
  MetricDef d = make(MetricType::distribution, "job_seconds", {"job"}, "seconds", {"kind"});
  d.buckets = {1, 10};
  REQUIRE_ADDED(metrics, d);
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&bus, t] {
      // One value per bucket (the last one past every bound), then one more of kind "b".
      for (double v : {0.5, 5.0, 50.0}) bus.execute({"job"}, {{"seconds", v}}, {{"kind", "a"}});
      bus.execute({"job"}, {{"seconds", static_cast<double>(t)}}, {{"kind", "b"}});
    });
  }
  for (auto& th : threads) th.join();
  const auto fams = metrics.collect();
  REQUIRE(series_count(fams, "job_seconds") == 2);
  const auto a = sample(fams, "job_seconds", {{"kind", "a"}});
  REQUIRE(a);
  CHECK(a->count == 18);
  CHECK(a->sum == Approx(6 * 55.5));
  CHECK(a->bucket_counts == std::vector<uint64_t>{6, 12, 18});  // cumulative
  const auto b = sample(fams, "job_seconds", {{"kind", "b"}});
  REQUIRE(b);
  CHECK(b->count == 6);
  CHECK(b->bucket_counts == std::vector<uint64_t>{2, 6, 6});  // 0 and 1; 2..5; none past 10

  // Streamed, the same families and samples, in the same order.
  FamilyBuilder streamed;
  metrics.collect_into(streamed);
  REQUIRE(streamed.families().size() == fams.size());
  for (size_t i = 0; i < fams.size(); ++i) {
    INFO(fams[i].name);
    CHECK(streamed.families()[i].name == fams[i].name);
    REQUIRE(streamed.families()[i].samples.size() == fams[i].samples.size());
    for (size_t j = 0; j < fams[i].samples.size(); ++j) {
      CHECK(streamed.families()[i].samples[j].labels == fams[i].samples[j].labels);
      CHECK(streamed.families()[i].samples[j].bucket_counts == fams[i].samples[j].bucket_counts);
    }
  }
}

TEST_CASE("a label set gone stale frees its place under the series cap for a new one",
          "[telemetry][metrics][stale][cardinality]") {
  Bus bus;
  Metrics metrics(bus);
  MetricDef d = make(MetricType::last_value, "peer_lag", {"peer"}, "lag", {"peer"});
  d.max_series = 2;
  d.stale_after = 50ms;
  REQUIRE_ADDED(metrics, d);
  bus.execute({"peer"}, {{"lag", 1}}, {{"peer", "a"}});
  bus.execute({"peer"}, {{"lag", 2}}, {{"peer", "b"}});
  REQUIRE(eventually([&] { return series_count(metrics.collect(), "peer_lag") == 0; }));
  // Both places are free again: two new peers are real series, not overflow.
  bus.execute({"peer"}, {{"lag", 3}}, {{"peer", "c"}});
  bus.execute({"peer"}, {{"lag", 4}}, {{"peer", "d"}});
  auto fams = metrics.collect();
  CHECK(value(fams, "peer_lag", {{"peer", "c"}}) == 3.0);
  CHECK(value(fams, "peer_lag", {{"peer", "d"}}) == 4.0);
  CHECK(metrics.series_dropped().at("peer_lag") == 0);
  // ... and the cap holds again: a third one overflows.
  bus.execute({"peer"}, {{"lag", 5}}, {{"peer", "e"}});
  fams = metrics.collect();
  CHECK(value(fams, "peer_lag", {{"peer", "__overflow__"}}) == 5.0);
  CHECK_FALSE(value(fams, "peer_lag", {{"peer", "e"}}));
  CHECK(metrics.series_dropped().at("peer_lag") == 1);
}

TEST_CASE("metric and label names follow the Prometheus rules", "[telemetry][metrics]") {
  CHECK(valid_metric_name("canopy_processes"));
  CHECK(valid_metric_name("a:b_c9"));
  CHECK_FALSE(valid_metric_name(""));
  CHECK_FALSE(valid_metric_name("1abc"));
  CHECK_FALSE(valid_metric_name("a.b"));
  CHECK(valid_label_name("scheduler"));
  CHECK_FALSE(valid_label_name("__name__"));
  CHECK_FALSE(valid_label_name("a:b"));
  CHECK_FALSE(valid_label_name("9x"));
  CHECK(std::string(to_string(MetricType::distribution)) == "distribution");
  CHECK(std::string(to_string(FamilyType::histogram)) == "histogram");
}

}  // namespace test_telemetry_metrics_test
