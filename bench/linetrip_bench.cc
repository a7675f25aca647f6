// canopy-bench linetrip --roundtrips N: the machine's cost of handing a cache
// line to another core and back (line_round_trip.hpp), no runtime involved.
// bench/compare.sh runs it before every run: when it moves during a
// comparison (the host moved the cores, or something else ran), the figures
// are from different machines. Prints `bench=linetrip impl=machine roundtrips=N roundtrip_ns=X`.
#include <chrono>
#include <cstdio>

#include "args.hpp"
#include "line_round_trip.hpp"

int linetrip_bench(const canopy::bench::Args& args);

int linetrip_bench(const canopy::bench::Args& args) {
  args.allow_only("linetrip", {"roundtrips"});
  const uint64_t n = args.count("roundtrips", 1'000'000);
  canopy::bench::LineEcho echo;
  for (int i = 0; i < 1000; ++i) echo.bounce();  // the echo thread is running
  const auto t0 = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < n; ++i) echo.bounce();
  const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
  std::printf("bench=linetrip impl=machine roundtrips=%llu roundtrip_ns=%.1f\n", static_cast<unsigned long long>(n),
              ns / static_cast<double>(n));
  return 0;
}
