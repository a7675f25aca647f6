// A process for the fatal-signal test (fatal_signal_test.cpp): a runtime
// that dumps on fatal signals into argv[1], and a process registered as
// "null_deref" whose handler writes through a null pointer. It writes that
// process's pid to argv[1]/pid.txt, sends it a message and waits (bounded)
// for the SIGSEGV to end it. Exit 3 if it is still alive after 20 s.
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "canopy/core/core.hpp"

namespace {

struct Poke {};

// A real SIGSEGV in every build: the pointer is opaque to the optimiser
// (volatile), and the sanitizers are told to leave this store alone, since
// UBSan would otherwise stop the program at the null store before the fault
// and ASan would take the signal before the runtime's handler.
__attribute__((noinline, no_sanitize("address", "undefined"))) void write_through_null() {
  volatile int* volatile p = nullptr;
  *p = 42;
}

class NullDeref final : public canopy::Actor {
 public:
  void handle(canopy::Message& m) override {
    if (m.as<Poke>() != nullptr) write_through_null();
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: canopy_dump_fatal_helper DIR\n");
    return 2;
  }
  canopy::RuntimeOptions o;
  o.schedulers = 2;
  o.logger = std::make_shared<spdlog::logger>("helper", std::make_shared<spdlog::sinks::null_sink_mt>());
  o.dump.dir = argv[1];
  o.dump.on_fatal_signal = true;
  o.dump.version = "helper";
  canopy::Runtime rt(o);
  canopy::SpawnOptions so;
  so.name = "null_deref";
  auto pid = rt.spawn_opts<NullDeref>(so);
  if (!pid.ok()) return 4;
  {
    std::ofstream f(std::string(argv[1]) + "/pid.txt");
    f << pid.value().to_string() << "\n";
  }
  (void)rt.send(pid.value(), Poke{});
  std::this_thread::sleep_for(std::chrono::seconds(20));
  return 3;
}
