#pragma once
// `canopy top [--url URL] [--sort mailbox|heap|reductions|cpu|oldest]
// [--match TEXT] [--limit N] [--token-file FILE] [--once]`: an
// observer_cli-style view of a running canopy from its /api/v1/ routes. On a
// terminal: full screen, refreshed every second (keys m/h/r/c/o sort, '/'
// filters, q quits); otherwise, or with --once, one plain table. Exit 0, 1
// when the URL does not answer, 2 usage. Owner thread only.
#include <string>
#include <vector>

namespace canopy::app {

int top_command(const std::vector<std::string>& args);

}  // namespace canopy::app
