#pragma once
// Cheap timestamps for the hot path: the TSC on x86 (constant and invariant on
// every machine we run on), converted to nanoseconds with a factor measured
// once per program against steady_clock. Thread-safe.
#include <chrono>
#include <cstdint>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

namespace canopy::detail {

inline uint64_t mono_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

inline uint64_t cycles() {
#if defined(__x86_64__) || defined(__i386__)
  return __rdtsc();
#else
  return mono_ns();
#endif
}

// Nanoseconds per cycles() tick.
double ns_per_cycle();

inline uint64_t cycles_to_ns(uint64_t c) { return static_cast<uint64_t>(static_cast<double>(c) * ns_per_cycle()); }

}  // namespace canopy::detail
