#pragma once
// `canopy upgrade MODULE PATH [--dry-run] [--url URL] [--token-file FILE]`:
// asks a running canopy (POST /api/v1/code/upgrade) to upgrade a module and
// prints the result. Exit 0 committed / dry run ok, 1 rolled back / dry run
// failed / refused, 2 usage.
#include <string>
#include <vector>

namespace canopy::app {

int upgrade_command(const std::vector<std::string>& args);

}  // namespace canopy::app
