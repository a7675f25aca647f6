#include "upgrade_cli.hpp"

#include <filesystem>
#include <iostream>
#include <sstream>

#include "canopy/exporters/json.hpp"
#include "client_options.hpp"
#include "http_client.hpp"

namespace canopy::app {

namespace {

int usage(const std::string& message) {
  std::cerr << "canopy upgrade: " << message
            << "\nusage: canopy upgrade MODULE PATH [--dry-run] [--url http://127.0.0.1:9568] [--token-file FILE]\n";
  return 2;
}

}  // namespace

int upgrade_command(const std::vector<std::string>& args) {
  std::vector<std::string> positional;
  std::string url = "http://127.0.0.1:9568", token_file;
  bool dry_run = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const std::string& flag, std::string& out) { return flag_value(args, i, flag, out); };
    if (a == "--dry-run") {
      dry_run = true;
    } else if (is_flag(a, "--url")) {
      if (!value("--url", url)) return usage("--url needs a URL");
    } else if (is_flag(a, "--token-file")) {
      if (!value("--token-file", token_file)) return usage("--token-file needs a FILE");
    } else if (a.rfind("--", 0) == 0) {
      return usage("unknown option '" + a + "'");
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() != 2) return usage("needs MODULE and PATH");
  std::string token;
  if (!token_file.empty()) {
    Result<std::string> read = read_token_file(token_file);
    if (!read.ok()) {
      std::cerr << "canopy upgrade: " << read.error().message() << "\n";
      return 1;
    }
    token = std::move(read).value();
  }
  // The server may run elsewhere in the file system: send an absolute path.
  std::error_code ec;
  const std::string path = std::filesystem::absolute(positional[1], ec).string();
  std::ostringstream body;
  body << "{\"module\":" << exporters::json_quote(positional[0]) << ",\"path\":" << exporters::json_quote(path)
       << ",\"dry_run\":" << (dry_run ? "true" : "false") << "}";
  Result<HttpReply> r = http_request("POST", url, "/api/v1/code/upgrade", body.str(), token);
  if (!r.ok()) {
    std::cerr << "canopy upgrade: " << r.error().message() << "\n";
    return 1;
  }
  if (r->status != 200) {
    const std::string why = exporters::json_string_member(r->body, "error").value_or(r->body);
    std::cerr << "canopy upgrade: refused (HTTP " << r->status << "): " << why << "\n";
    return 1;
  }
  const std::string result = exporters::json_string_member(r->body, "result").value_or("?");
  std::cout << r->body << "\n";
  if (result == "committed" || result == "dry_run_ok") return 0;
  std::cerr << "canopy upgrade: " << result << ": " << exporters::json_string_member(r->body, "reason").value_or("")
            << "\n";
  return 1;
}

}  // namespace canopy::app
