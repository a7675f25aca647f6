// A shared library that is not a canopy module: it has no canopy_module entry point.
extern "C" __attribute__((visibility("default"))) int not_canopy(void) { return 42; }
