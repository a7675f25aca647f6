#include "pricing.hpp"

#include <unistd.h>

#include <chrono>
#include <climits>

#include "canopy/core/supervisor.hpp"

namespace canopy::app {

namespace {

using namespace std::chrono_literals;

constexpr int kServers = 3;
// The catalogue every server starts with; "sample" is free, which version 3
// refuses (its code_change rolls the upgrade back).
constexpr const char* kCatalogue = "apple=120,pear=95,plum=60,sample=0";

struct Tick {};

// Casts a quote to every pricing server five times a second.
class PricingClient final : public Actor {
 public:
  Status init() override {
    send_after(self(), 200ms, Tick{});
    return {};
  }
  void handle(Message& m) override {
    if (m.as<Tick>() == nullptr) return;
    for (int i = 0; i < kServers; ++i) {
      const Pid server = runtime().whereis("pricing_" + std::to_string(i));
      if (server.valid()) (void)cast(server, ModuleCast{"quote apple"});
    }
    send_after(self(), 200ms, Tick{});
  }
};

}  // namespace

std::string resolve_from_binary(const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return path;
  std::string exe(buf, static_cast<size_t>(n));
  return exe.substr(0, exe.rfind('/') + 1) + path;
}

Status start_pricing(Runtime& rt, const std::string& module_path) {
  const std::string path = resolve_from_binary(module_path);
  Result<ModuleVersionInfo> loaded = rt.load_module(path);
  if (!loaded.ok()) return Error(loaded.error().code(), "workload.pricing_module: " + loaded.error().message());
  if (loaded->module != "pricing") {
    return Error(Errc::invalid_argument, "workload.pricing_module: " + path + " is module '" + loaded->module +
                                             "', the demo expects 'pricing'");
  }
  SupervisorSpec root{.name = "pricing_sup", .flags = {.strategy = Strategy::one_for_one, .intensity = 10, .period = 10s}};
  for (int i = 0; i < kServers; ++i) {
    ChildSpec c;
    c.id = "pricing_" + std::to_string(i);
    c.start = [&rt] { return rt.module_actor("pricing", "server", kCatalogue); };
    c.spawn.name = c.id;
    root.children.push_back(std::move(c));
  }
  root.children.push_back(ChildSpec::worker<PricingClient>("pricing_client"));
  Result<Pid> r = rt.start_application("pricing", std::move(root));
  if (!r.ok()) return r.error();
  return {};
}

void stop_pricing(Runtime& rt) { (void)rt.stop_application("pricing", 10s); }

}  // namespace canopy::app
