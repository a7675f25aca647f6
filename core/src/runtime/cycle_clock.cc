#include "runtime/cycle_clock.hpp"

#include <thread>

namespace canopy::detail {

namespace {
double calibrate() {
#if defined(__x86_64__) || defined(__i386__)
  // 2 ms of wall time is enough for a factor good to well under 1%.
  const uint64_t n0 = mono_ns();
  const uint64_t c0 = cycles();
  uint64_t n1 = n0;
  while (n1 - n0 < 2'000'000) n1 = mono_ns();
  const uint64_t c1 = cycles();
  return c1 > c0 ? static_cast<double>(n1 - n0) / static_cast<double>(c1 - c0) : 1.0;
#else
  return 1.0;
#endif
}
}  // namespace

double ns_per_cycle() {
  static const double factor = calibrate();
  return factor;
}

}  // namespace canopy::detail
