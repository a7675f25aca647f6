// canopy-bench upgrade --processes N: a hot upgrade of N processes of one
// module (the demo's pricing server, version 1 -> 2, every state migrated by
// its code_change), end to end: load, suspend all, save, migrate, swap,
// resume. Prints the upgrade's wall time and the longest suspension.
#include <cstdio>

#include "args.hpp"
#include "canopy/core/runtime.hpp"

int upgrade_bench(const canopy::bench::Args& args);

int upgrade_bench(const canopy::bench::Args& args) {
  using namespace canopy;
  args.allow_only("upgrade", {"processes", "schedulers", "telemetry", "behaviours"});
  const uint64_t processes = args.count("processes", 100'000);
  RuntimeOptions ro;
  ro.schedulers = static_cast<unsigned>(args.number("schedulers", 0));
  ro.telemetry.enabled = bench::telemetry_enabled(args);
  ro.max_processes = static_cast<uint32_t>(std::max<uint64_t>(processes + 1024, ro.max_processes));
  Runtime rt(ro);
  if (auto loaded = rt.load_module(CANOPY_BENCH_PRICING_V1); !loaded.ok()) {
    std::fprintf(stderr, "canopy-bench upgrade: %s\n", loaded.error().message().c_str());
    return 1;
  }
  for (uint64_t i = 0; i < processes; ++i) {
    if (auto p = rt.spawn_module("pricing", "server", "apple=120,pear=95"); !p.ok()) {
      std::fprintf(stderr, "canopy-bench upgrade: spawn %llu: %s\n", static_cast<unsigned long long>(i),
                   p.error().message().c_str());
      return 1;
    }
  }
  auto r = rt.upgrade("pricing", CANOPY_BENCH_PRICING_V2);
  if (!r.ok() || r->outcome != UpgradeOutcome::committed || r->processes != processes) {
    std::fprintf(stderr, "canopy-bench upgrade: did not commit: %s\n",
                 r.ok() ? r->reason.c_str() : r.error().message().c_str());
    return 1;
  }
  std::printf(
      "bench=upgrade impl=canopy processes=%llu upgrade_ms=%.1f max_suspended_ms=%.1f mean_suspended_ms=%.2f "
      "schedulers=%zu\n",
      static_cast<unsigned long long>(processes), r->upgrade_ms, r->max_suspended_ms,
      r->total_suspended_ms / static_cast<double>(processes), rt.scheduler_stats().size());
  return 0;
}
