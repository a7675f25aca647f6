#pragma once
// The JSON API's handlers, kept apart from the HTTP plumbing. Private.
#include <map>
#include <string>
#include <utility>

namespace canopy {
class Runtime;
}

namespace canopy::exporters::api {

struct Reply {
  int status = 200;
  std::string body;
};

// (ready, reason-or-"ready")
std::pair<bool, std::string> readiness(Runtime& rt);
// ?sort=mailbox|heap|reductions|cpu|reductions_rate|cpu_rate|oldest&limit=N
// &prefix=NAME&match=TEXT (match: a case-insensitive part of the name or the
// behaviour). The top `limit` from Runtime::top_processes.
Reply processes(Runtime& rt, const std::map<std::string, std::string>& query);
Reply process(Runtime& rt, const std::string& pid_text);
// Processes nobody supervises, links, monitors or registers (older than
// ?min_age_s=SECONDS, default telemetry.orphan_min_age); read-only audit.
Reply orphans(Runtime& rt, const std::map<std::string, std::string>& query);
Reply kill(Runtime& rt, const std::string& pid_text, const std::string& body);
Reply trace(Runtime& rt, const std::string& pid_text, const std::string& body);
Reply supervision_tree(Runtime& rt);
Reply schedulers(Runtime& rt);
Reply system(Runtime& rt);
// GET /api/v1/crashes?limit=N&behaviour=B: the kept crash reports, newest first.
Reply crashes(Runtime& rt, const std::map<std::string, std::string>& query);
// POST /api/v1/dump {"slogan": "..."} (optional): writes a dump, answers its path.
Reply dump(Runtime& rt, const std::string& body);
// GET /api/v1/code: every loaded module version and its processes.
Reply code(Runtime& rt);
// POST /api/v1/code/upgrade {"module", "path", "dry_run"}: the upgrade's result.
Reply code_upgrade(Runtime& rt, const std::string& body);

}  // namespace canopy::exporters::api
