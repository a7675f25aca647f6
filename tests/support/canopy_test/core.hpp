#pragma once
// What every test of canopy::core types shares: Catch2 printing for pids,
// exit reasons and enums, and REQUIRE_OK for Status and Result.
#include <catch2/catch.hpp>

#include <string>

#include "canopy/core/core.hpp"
#include "canopy_test/wait.hpp"

namespace Catch {
template <>
struct StringMaker<canopy::Pid> {
  static std::string convert(const canopy::Pid& p) { return p.to_string(); }
};
template <>
struct StringMaker<canopy::ExitReason> {
  static std::string convert(const canopy::ExitReason& r) { return r.to_string(); }
};
template <>
struct StringMaker<canopy::Errc> {
  static std::string convert(canopy::Errc c) { return canopy::to_string(c); }
};
template <>
struct StringMaker<canopy::ExitKind> {
  static std::string convert(canopy::ExitKind k) { return canopy::to_string(k); }
};
template <>
struct StringMaker<canopy::ProcessStatus> {
  static std::string convert(canopy::ProcessStatus s) { return canopy::to_string(s); }
};
template <>
struct StringMaker<canopy::ChildState> {
  static std::string convert(canopy::ChildState s) { return canopy::to_string(s); }
};
template <>
struct StringMaker<canopy::SystemEventKind> {
  static std::string convert(canopy::SystemEventKind k) { return canopy::to_string(k); }
};
}  // namespace Catch

// REQUIRE that a Status / Result is ok, printing the error when it is not.
#define REQUIRE_OK(expr)                                                                                     \
  do {                                                                                                       \
    const auto& canopy_test_r_ = (expr);                                                                     \
    INFO(#expr << " -> " << (canopy_test_r_.ok() ? std::string("ok") : canopy_test_r_.error().to_string())); \
    REQUIRE(canopy_test_r_.ok());                                                                            \
  } while (0)
