// canopy-bench dump --processes N: the time and size of a crash dump of a
// runtime with N live processes (each idle, one message waiting in every
// tenth mailbox), written to --dir (default: the system temp folder) and
// removed after. Prints `bench=dump impl=canopy processes=N dump_s=X bytes=Y`.
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "args.hpp"
#include "canopy/core/dump.hpp"
#include "canopy/core/runtime.hpp"

int dump_bench(const canopy::bench::Args& args);

namespace {

struct Note {
  uint64_t n;
};

class Sleeper final : public canopy::Actor {
 public:
  void handle(canopy::Message&) override {}
};

// Holds its messages: a mailbox the dump has something to count in.
class Holder final : public canopy::Actor {
 public:
  void handle(canopy::Message&) override {}
};

}  // namespace

int dump_bench(const canopy::bench::Args& args) {
  using namespace canopy;
  args.allow_only("dump", {"processes", "schedulers", "telemetry", "behaviours", "dir"});
  const bool behaviours = args.one_of("behaviours", {"on", "off"}, "on") == "on";
  const uint64_t processes = args.count("processes", 1'000'000);
  RuntimeOptions ro;
  ro.schedulers = static_cast<unsigned>(args.number("schedulers", 0));
  ro.telemetry.enabled = bench::telemetry_enabled(args);
  ro.telemetry.behaviour_metrics = behaviours;
  ro.max_processes = static_cast<uint32_t>(std::max<uint64_t>(processes + 1024, ro.max_processes));
  ro.dump.dir = args.text("dir", std::filesystem::temp_directory_path().string());
  ro.dump.max_files = 0;
  ro.dump.version = "bench";
  Runtime rt(ro);
  for (uint64_t i = 0; i < processes; ++i) {
    auto p = i % 10 == 0 ? rt.spawn<Holder>() : rt.spawn<Sleeper>();
    if (!p.ok()) {
      std::fprintf(stderr, "canopy-bench dump: spawn %llu: %s\n", static_cast<unsigned long long>(i),
                   p.error().message().c_str());
      return 1;
    }
    if (i % 10 == 0) (void)rt.send(p.value(), Note{i});
  }
  const auto start = std::chrono::steady_clock::now();
  Result<std::string> path = write_dump(rt, "canopy-bench dump");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!path.ok()) {
    std::fprintf(stderr, "canopy-bench dump: %s\n", path.error().message().c_str());
    return 1;
  }
  std::error_code ec;
  const uintmax_t bytes = std::filesystem::file_size(path.value(), ec);
  std::filesystem::remove(path.value(), ec);
  std::printf("bench=dump impl=canopy processes=%llu dump_s=%.3f bytes=%llu\n",
              static_cast<unsigned long long>(processes), seconds, static_cast<unsigned long long>(bytes));
  return 0;
}
