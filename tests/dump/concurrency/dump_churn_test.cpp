// Dumps written while processes spawn, crash, exit and exchange messages on
// other threads: every dump reads back whole, and the crash ring stays
// bounded. Run under ThreadSanitizer by the tsan preset (label concurrency).
#include <thread>

#include "../support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_dump_churn_test {

using namespace canopy;
using namespace dump_test;

TEST_CASE("dumps written during churn read back whole", "[dump][concurrency]") {
  TempDir dir;
  RuntimeOptions o = options(dir.path());
  o.crash_reports.max = 20;
  o.dump.max_files = 0;
  Runtime rt(o);
  const int rounds = 400 / canopy_test::sanitizer_slowdown(4, 2);
  std::atomic<bool> stop{false};
  std::atomic<int> crashes_sent{0};
  auto churn = [&](int seed) {
    for (int i = 0; i < rounds && !stop.load(); ++i) {
      auto crasher = rt.spawn<Crasher>();
      auto idle = rt.spawn<Idle>();
      if (idle.ok()) {
        for (int k = 0; k < 5; ++k) (void)rt.send(idle.value(), CrashOn{"not for me"});
        (void)rt.exit(idle.value(), ExitReason::shutdown());
      }
      if (crasher.ok() && rt.send(crasher.value(), CrashOn{"churn " + std::to_string(seed)}).ok()) ++crashes_sent;
    }
  };
  std::thread a(churn, 1), b(churn, 2);
  std::vector<std::string> paths;
  for (int i = 0; i < 5; ++i) {
    auto p = write_dump(rt, "churn " + std::to_string(i));
    REQUIRE_OK(p);
    paths.push_back(p.value());
  }
  stop = true;
  a.join();
  b.join();
  for (const auto& path : paths) {
    INFO(path);
    auto f = read_dump_file(path);
    REQUIRE_OK(f);
    CHECK(f.value().slogan.rfind("churn ", 0) == 0);
    CHECK(f.value().named("crash_report").size() <= 20);
  }
  CHECK(eventually([&] { return crashes_total(rt) == static_cast<uint64_t>(crashes_sent.load()); }));
  CHECK(crash_reports(rt, CrashQuery{1000, ""}).size() <= 20);
}

}  // namespace test_dump_churn_test
