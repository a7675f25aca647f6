#pragma once
// What the CLI clients of a running canopy (`canopy upgrade`, `canopy top`)
// share in their arguments: `--flag VALUE` / `--flag=VALUE`, and the admin
// token read from --token-file. Owner thread only.
#include <string>
#include <vector>

#include "canopy/core/result.hpp"

namespace canopy::app {

// True when args[i] is `flag` or starts with `flag=`.
bool is_flag(const std::string& arg, const std::string& flag);

// The value of `flag` at args[i]: the rest after `flag=`, or the next
// argument (then i moves past it). False when `flag` is last with no value.
bool flag_value(const std::vector<std::string>& args, size_t& i, const std::string& flag, std::string& out);

// The token on the first line of `path`, trailing spaces and CR removed; an
// error naming the file when it cannot be read.
Result<std::string> read_token_file(const std::string& path);

}  // namespace canopy::app
