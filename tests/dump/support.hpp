#pragma once
// Helpers of the crash report and dump tests: behaviours that crash on
// request, a temporary dump directory, and waiting (bounded, never a fixed
// sleep as synchronisation).
#include <catch2/catch.hpp>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "canopy/core/core.hpp"
#include "canopy/core/crash.hpp"
#include "canopy/core/dump.hpp"
#include "canopy/core/dump_file.hpp"
#include "canopy_test/core.hpp"
#include "canopy_test/wait.hpp"

namespace dump_test {

using canopy_test::eventually;
using namespace std::chrono_literals;

// "crash:<reason>" makes it throw; anything else is handled.
struct CrashOn {
  std::string reason;
};

class Crasher : public canopy::Actor {
 public:
  void handle(canopy::Message& m) override {
    if (auto* c = m.as<CrashOn>()) throw std::runtime_error(c->reason);
  }
};

class OtherCrasher : public canopy::Actor {
 public:
  void handle(canopy::Message& m) override {
    if (auto* c = m.as<CrashOn>()) throw std::runtime_error(c->reason);
  }
};

// Holds what it gets (a mailbox that grows while it is parked on nothing:
// it handles nothing until told).
class Idle : public canopy::Actor {
 public:
  void handle(canopy::Message&) override {}
};

inline std::shared_ptr<spdlog::logger> quiet_logger() {
  static auto l = std::make_shared<spdlog::logger>("dump_test", std::make_shared<spdlog::sinks::null_sink_mt>());
  return l;
}

inline canopy::RuntimeOptions options(const std::string& dir = "") {
  canopy::RuntimeOptions o;
  o.schedulers = 2;
  o.logger = quiet_logger();
  o.telemetry.poll_interval = std::chrono::milliseconds(60'000);
  o.dump.dir = dir;
  o.dump.version = "test";
  return o;
}

// A fresh directory under the system temp dir, removed with the object.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "canopy_dump_test_XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::vector<std::string> files(const std::string& suffix = ".dump") const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(path_)) {
      const std::string n = e.path().string();
      if (n.size() >= suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0) {
        out.push_back(n);
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  std::string path_;
};

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline canopy::Result<canopy::DumpFile> parse(const std::string& text) {
  std::istringstream in(text);
  return canopy::read_dump(in);
}

}  // namespace dump_test
