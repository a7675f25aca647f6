#pragma once
// Crash dumps, erl_crash.dump's counterpart: a text file saying what every
// process, scheduler, supervisor and table was doing, the recent crash
// reports and the last log lines. Written on demand (write_dump: the admin
// route, SIGUSR1 in `canopy run`), when an application's root supervisor
// gives up (the slogan is the escalation chain), and best-effort from a
// fatal signal (DumpOptions::on_fatal_signal). `canopy dump FILE` reads one
// (canopy/core/dump_file.hpp).
//
// The format: `=section` or `=section:ID` header lines, `key: value` lines
// inside, except =processes, a tab-separated table under a `columns:` line
// (one line a process keeps a million processes under 300 bytes each).
// Values escape backslash, tab and newline as \\, \t, \n. The first section
// is =canopy_dump with the slogan first; the last line is `=end`, so a
// truncated file is recognised. Process by process: a dump holds one
// process's lock at a time, never the schedulers.
// Thread-safe.
#include <string>
#include <vector>

#include "canopy/core/result.hpp"

namespace canopy {

class Runtime;

// Writes a dump into DumpOptions::dir now, on the calling thread, and
// removes the oldest beyond max_files. Returns its path, or an error naming
// the file and why it could not be written.
Result<std::string> write_dump(Runtime& rt, const std::string& slogan);

// The same on the runtime's dump thread (for callers that must not wait:
// a supervisor giving up). At most a few wait; more are dropped and logged.
void request_dump(Runtime& rt, std::string slogan);

// The dumps written so far by this runtime (paths, oldest first; including
// those the file limit removed since).
std::vector<std::string> dumps_written(Runtime& rt);

}  // namespace canopy
