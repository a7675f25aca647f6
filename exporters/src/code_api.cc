// The code routes of the JSON API: what is loaded, and upgrades.
#include <map>

#include <nlohmann/json.hpp>

#include "api.hpp"
#include "canopy/core/runtime.hpp"
#include "canopy/exporters/json.hpp"

namespace canopy::exporters::api {

Reply code(Runtime& rt) {
  const std::vector<ModuleVersionInfo> all = rt.modules();
  // Grouped by module, versions oldest first (the order the runtime keeps).
  std::map<std::string, std::vector<const ModuleVersionInfo*>> by_module;
  for (const auto& v : all) by_module[v.module].push_back(&v);
  JsonWriter j;
  j.begin_object().key("modules").begin_array();
  for (const auto& [name, versions] : by_module) {
    j.begin_object().field("module", name);
    std::string current;
    uint64_t processes = 0;
    j.key("versions").begin_array();
    for (const ModuleVersionInfo* v : versions) {
      if (v->current) current = v->version;
      processes += v->processes;
      j.begin_object()
          .field("version", v->version)
          .field("path", v->path)
          .field("current", v->current)
          .field("processes", v->processes);
      j.key("behaviours").begin_array();
      for (const auto& b : v->behaviours) j.value(b);
      j.end_array();
      j.key("code_changes").begin_array();
      for (const auto& c : v->code_changes) j.value(c);
      j.end_array();
      j.end_object();
    }
    j.end_array();
    j.field("current_version", current).field("processes", processes).end_object();
  }
  j.end_array().end_object();
  return Reply{200, j.str()};
}

Reply code_upgrade(Runtime& rt, const std::string& body) {
  const nlohmann::json parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) {
    return Reply{400, json_error("body: not a JSON object; expected {\"module\": \"pricing\", \"path\": \"...\", "
                                 "\"dry_run\": false}")};
  }
  if (parsed.contains("dry_run") && !parsed["dry_run"].is_boolean()) {
    return Reply{400, json_error("body: \"dry_run\" must be true or false")};
  }
  const std::optional<std::string> module = json_string_member(body, "module");
  const std::optional<std::string> path = json_string_member(body, "path");
  if (!module || module->empty()) {
    return Reply{400, json_error("body: \"module\" (a string) is required, e.g. {\"module\": \"pricing\", \"path\": \"...\"}")};
  }
  if (!path || path->empty()) return Reply{400, json_error("body: \"path\" (a string: the module library) is required")};
  UpgradeOptions options;
  options.dry_run = json_bool_member(body, "dry_run").value_or(false);
  Result<UpgradeResult> r = rt.upgrade(*module, *path, options);
  if (!r.ok()) return Reply{400, json_error(r.error().message())};
  const UpgradeResult& u = r.value();
  JsonWriter j;
  j.begin_object()
      .field("result", to_string(u.outcome))
      .field("module", u.module)
      .field("from_version", u.from_version)
      .field("to_version", u.to_version)
      .field("dry_run", options.dry_run)
      .field("processes", u.processes)
      .field("restarted", u.restarted)
      .field("failed_pid", u.failed_pid.valid() ? u.failed_pid.to_string() : std::string())
      .field("reason", u.reason)
      .field("upgrade_ms", u.upgrade_ms)
      .field("max_suspended_ms", u.max_suspended_ms)
      .field("total_suspended_ms", u.total_suspended_ms);
  j.key("purged").begin_array();
  for (const auto& p : u.purged) j.value(p);
  j.end_array().end_object();
  // A rollback is an answer, not a server error: 200 with result rolled_back.
  return Reply{200, j.str()};
}

}  // namespace canopy::exporters::api
