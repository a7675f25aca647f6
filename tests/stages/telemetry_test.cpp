// Stage telemetry: the canopy_stage_* metrics.
#include "support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_stages_telemetry_test {

using namespace canopy;
using namespace stage_test;

namespace {
double value_of(const std::vector<telemetry::Family>& families, const std::string& name, const std::string& stage,
                const std::string& reason = {}) {
  double total = 0;
  for (const auto& f : families) {
    if (f.name != name) continue;
    for (const auto& s : f.samples) {
      bool match = true;
      bool has_stage = false;
      for (const auto& [k, v] : s.labels) {
        if (k == "stage") {
          has_stage = true;
          match = match && v == stage;
        }
        if (k == "reason" && !reason.empty()) match = match && v == reason;
      }
      if (has_stage && match) total += s.value;
    }
  }
  return total;
}
}  // namespace

TEST_CASE("stages feed the canopy_stage_* metrics, all of them in the metric list", "[stages][telemetry]") {
  auto seen = std::make_shared<Recorder<uint64_t>>();
  Runtime rt(quiet_runtime());
  const Pid p = spawn_stage(rt, stage::make_producer(producer_opts("src", 5, BufferOverflow::drop_newest)));
  REQUIRE_OK(stage::push(rt, p, range_events(0, 8)));  // 3 dropped: nobody subscribed yet
  const Pid c = spawn_stage(rt, stage::make_consumer(consumer_opts("sink", {sub(p, 10)}), [seen](StageEvent& e) {
                              if (as_u64(e) == 3) throw std::runtime_error("three");
                              seen->push(as_u64(e));
                            }));
  REQUIRE(seen->wait_size(4));
  REQUIRE(eventually([&] { return stats_of(rt, p).acked == 5; }));
  (void)stats_of(rt, c);
  const auto families = rt.collect();
  CHECK(value_of(families, "canopy_stage_events_in_total", "src") == 8);
  CHECK(value_of(families, "canopy_stage_events_out_total", "src") == 5);
  CHECK(value_of(families, "canopy_stage_events_in_total", "sink") == 5);
  CHECK(value_of(families, "canopy_stage_dropped_total", "src", "drop_newest") == 3);
  CHECK(value_of(families, "canopy_stage_acks_total", "src") == 5);
  CHECK(value_of(families, "canopy_stage_failed_events_total", "sink") == 1);
  CHECK(value_of(families, "canopy_stage_buffer_length", "src") == 0);
  CHECK(value_of(families, "canopy_stage_demand_outstanding", "src") == 10);
  bool duration = false;
  for (const auto& f : families) {
    if (f.name.rfind("canopy_stage_", 0) == 0) {
      INFO(f.name);
      CHECK(is_known_metric(f.name));
    }
    if (f.name == "canopy_stage_processing_duration_seconds") duration = !f.samples.empty();
  }
  CHECK(duration);
}

}  // namespace test_stages_telemetry_test
