#pragma once
// `canopy dump FILE [--json]`: crashdump_viewer's counterpart. Summarises a
// dump (canopy/core/dump.hpp) in one screen: the slogan; the top 10
// processes by mailbox, heap and reductions; the schedulers; the largest
// tables; the crash reports grouped by behaviour; and a verdict line for
// each clear pattern (mailbox overload, table growth, restart storm,
// escalation, fatal signal). --json prints the same summary as JSON.
// Exit 0, 1 when the file cannot be read or is not a whole dump (the error
// names the line), 2 usage.
#include <string>
#include <vector>

#include "canopy/core/dump_file.hpp"

namespace canopy::app {

int dump_command(const std::vector<std::string>& args);

// The patterns `canopy dump` calls out, each a sentence ("mailbox overload:
// slow_ledger holds 81% of all waiting messages"); empty when none is clear.
struct DumpSummary;
std::vector<std::string> dump_verdicts(const DumpSummary& summary);

}  // namespace canopy::app
