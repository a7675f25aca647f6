// The fatal-signal dump: a child process (tests/dump/fatal_helper.cpp)
// writes through a null pointer in a handler and dies of SIGSEGV, leaving a
// partial dump with the signal, the address and the running process.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include "support.hpp"

extern char** environ;

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_dump_fatal_signal_test {

using namespace canopy;
using namespace dump_test;

TEST_CASE("a null pointer write in a handler leaves a dump with the signal and the running process",
          "[dump][fatal]") {
  TempDir dir;
  std::string helper = CANOPY_FATAL_HELPER;
  std::vector<char*> argv{helper.data(), const_cast<char*>(dir.path().c_str()), nullptr};
  pid_t child = 0;
  REQUIRE(posix_spawn(&child, helper.c_str(), nullptr, nullptr, argv.data(), environ) == 0);
  int status = 0;
  const bool ended = eventually(
      [&] {
        const pid_t w = waitpid(child, &status, WNOHANG);
        return w == child;
      },
      std::chrono::milliseconds(30'000));
  if (!ended) {
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
  }
  REQUIRE(ended);
  INFO("helper status " << status);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGSEGV);

  const auto dumps = dir.files("_fatal.dump");
  REQUIRE(dumps.size() == 1);
  CHECK(dumps[0].find("_" + std::to_string(child) + "_fatal.dump") != std::string::npos);
  std::string pid = read_text(dir.path() + "/pid.txt");
  while (!pid.empty() && pid.back() == '\n') pid.pop_back();
  auto f = read_dump_file(dumps[0]);
  REQUIRE_OK(f);
  const DumpFile& d = f.value();
  INFO(d.slogan);
  CHECK(d.kind == "fatal_signal");
  CHECK(*d.header.get("signal") == "SIGSEGV");
  CHECK(*d.header.get("fault_address") == "0x0");
  CHECK(*d.header.get("canopy_version") == "helper");
  CHECK(*d.header.get("os_pid") == std::to_string(child));
  CHECK(d.slogan.rfind("fatal signal SIGSEGV at address 0x0 on scheduler ", 0) == 0);
  CHECK(d.slogan.find("running " + pid) != std::string::npos);
  CHECK(d.slogan.find("NullDeref") != std::string::npos);
  const auto schedulers = d.named("scheduler");
  REQUIRE(schedulers.size() == 2);
  int faulted = 0;
  for (const DumpSection* s : schedulers) {
    if (s->get("faulted") == nullptr) continue;
    ++faulted;
    CHECK(*s->get("state") == "running");
    CHECK(*s->get("running_pid") == pid);
    CHECK(s->get("running_behaviour")->find("NullDeref") != std::string::npos);
  }
  CHECK(faulted == 1);
}

}  // namespace test_dump_fatal_signal_test
