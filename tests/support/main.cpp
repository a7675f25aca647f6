// The one Catch2 main, compiled once per build and linked into every test
// binary (see tests/support/CMakeLists.txt).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
