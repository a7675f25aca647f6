#include "client_options.hpp"

#include <fstream>

namespace canopy::app {

bool is_flag(const std::string& arg, const std::string& flag) {
  return arg == flag || arg.rfind(flag + "=", 0) == 0;
}

bool flag_value(const std::vector<std::string>& args, size_t& i, const std::string& flag, std::string& out) {
  const std::string& a = args[i];
  if (a == flag) {
    if (i + 1 >= args.size()) return false;
    out = args[++i];
    return true;
  }
  out = a.substr(flag.size() + 1);
  return true;
}

Result<std::string> read_token_file(const std::string& path) {
  std::ifstream f(path);
  if (!f) return Error(Errc::invalid_argument, "cannot read the token file " + path);
  std::string token;
  std::getline(f, token);
  while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
  return token;
}

}  // namespace canopy::app
