// Carries the precompiled headers every test binary reuses
// (tests/support/CMakeLists.txt); it compiles nothing of its own.
