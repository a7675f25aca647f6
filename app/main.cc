// canopy — the server binary: `canopy run`, `canopy check`, `canopy rules`,
// and the clients of a running one: `canopy upgrade`, `canopy top`, `canopy dump`.
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "canopy/config/config.hpp"
#include "canopy/config/rules.hpp"
#include "canopy/exporters/exposition.hpp"
#include "dump_cli.hpp"
#include "run.hpp"
#include "top_cli.hpp"
#include "upgrade_cli.hpp"

namespace {

constexpr const char* kUsage =
    "usage: canopy <command> [options]\n"
    "\n"
    "commands:\n"
    "  run [--config FILE]   start the runtime, the exporter (/metrics on 127.0.0.1:9568 by default)\n"
    "                        and the demo workload; SIGHUP reloads, SIGINT/SIGTERM stop\n"
    "  check FILE            validate a config file (exit 0, or 1 listing every error)\n"
    "  rules FILE [-o OUT]   render the config's alerts as a Prometheus rules file\n"
    "  upgrade MODULE PATH [--dry-run] [--url URL] [--token-file FILE]\n"
    "                        hot-upgrade a module of a running canopy (POST /api/v1/code/upgrade)\n"
    "  top [--url URL] [--sort mailbox|heap|reductions|cpu|oldest] [--match TEXT] [--limit N]\n"
    "      [--token-file FILE] [--once]\n"
    "                        a live top of a running canopy's processes (q quits)\n"
    "  dump FILE [--json]    summarise a crash dump (written on POST /api/v1/dump, SIGUSR1, a root\n"
    "                        supervisor giving up, or a fatal signal)\n"
    "  --version             print the version\n"
    "  --help                print this help\n";

int usage_error(const std::string& message) {
  std::cerr << "canopy: " << message << "\n\n" << kUsage;
  return 2;
}

int check(const std::vector<std::string>& args) {
  if (args.size() != 1) return usage_error("check takes exactly one FILE");
  const canopy::config::LoadResult r = canopy::config::load_file(args[0]);
  for (const auto& e : r.errors) std::cerr << e.to_string() << "\n";
  if (!r.ok()) {
    std::cerr << args[0] << ": " << r.errors.size() << " error(s)\n";
    return 1;
  }
  std::cout << args[0] << ": ok\n";
  return 0;
}

int rules(const std::vector<std::string>& args) {
  std::string file, out;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "-o" || args[i] == "--output") {
      if (i + 1 >= args.size()) return usage_error(args[i] + " needs a file name");
      out = args[++i];
    } else if (args[i].rfind("-", 0) == 0) {
      return usage_error("unknown option '" + args[i] + "' for rules (use -o OUT)");
    } else if (file.empty()) {
      file = args[i];
    } else {
      return usage_error("rules takes one FILE");
    }
  }
  if (file.empty()) return usage_error("rules needs a FILE");
  const canopy::config::LoadResult r = canopy::config::load_file(file);
  for (const auto& e : r.errors) std::cerr << e.to_string() << "\n";
  if (!r.ok()) return 1;
  const std::string text = canopy::config::render_rules(*r.config);
  if (out.empty()) {
    std::cout << text;
    return 0;
  }
  std::ofstream f(out, std::ios::trunc);
  f << text;
  if (!f) {
    std::cerr << "canopy rules: cannot write " << out << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return usage_error("no command given");
  const std::string command = args[0];
  args.erase(args.begin());
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << kUsage;
    return 0;
  }
  if (command == "--version" || command == "version") {
    std::cout << "canopy " << canopy::exporters::version() << "\n";
    return 0;
  }
  if (command == "check") return check(args);
  if (command == "rules") return rules(args);
  if (command == "upgrade") return canopy::app::upgrade_command(args);
  if (command == "top") return canopy::app::top_command(args);
  if (command == "dump") return canopy::app::dump_command(args);
  if (command == "run") {
    std::string config;
    for (size_t i = 0; i < args.size(); ++i) {
      if (args[i] == "--config" || args[i] == "-c") {
        if (i + 1 >= args.size()) return usage_error(args[i] + " needs a FILE");
        config = args[++i];
      } else if (args[i].rfind("--config=", 0) == 0) {
        config = args[i].substr(9);
      } else {
        return usage_error("unknown option '" + args[i] + "' for run (use --config FILE)");
      }
    }
    return canopy::app::run(config);
  }
  return usage_error("unknown command '" + command + "'");
}
