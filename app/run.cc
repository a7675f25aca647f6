#include "run.hpp"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <iostream>
#include <optional>

#include "canopy/config/config.hpp"
#include "canopy/config/rules.hpp"
#include "canopy/core/dump.hpp"
#include "canopy/core/runtime.hpp"
#include "canopy/core/table.hpp"
#include "canopy/exporters/exposition.hpp"
#include "canopy/exporters/http_server.hpp"
#include "canopy/exporters/json.hpp"
#include "canopy/exporters/push.hpp"
#include "canopy/telemetry/detail/mutex.hpp"
#include "logging.hpp"
#include "workload.hpp"

namespace canopy::app {

namespace {

std::string tables_json(Runtime& rt) {
  exporters::JsonWriter j;
  j.begin_array();
  for (const TableInfo& t : tables(rt)) {
    if (t.deleted) continue;
    j.begin_object();
    j.field("name", t.name);
    j.field("id", t.id);
    j.field("owner", t.owner.to_string());
    j.field("kind", to_string(t.kind));
    j.field("access", to_string(t.access));
    j.field("size", t.size);
    j.field("memory_bytes", t.memory_bytes);
    j.field("max_entries", t.max_entries);
    j.field("max_bytes", t.max_bytes);
    j.field("on_full", to_string(t.on_full));
    j.field("default_ttl_seconds", static_cast<double>(t.default_ttl.count()) / 1000.0);
    j.field("inserts", t.counters.inserts);
    j.field("hits", t.counters.hits);
    j.field("misses", t.counters.misses);
    j.field("evictions", t.counters.evictions());
    j.field("expiries", t.counters.expiries);
    j.end_object();
  }
  j.end_array();
  return j.str();
}

std::string alerts_json(const config::Config& cfg) {
  exporters::JsonWriter j;
  j.begin_array();
  for (const auto& rule : cfg.alerts.rules) {
    j.begin_object();
    j.field("alert", rule.name);
    j.field("expr", config::alert_expr(rule));
    j.field("for_seconds", static_cast<double>(rule.for_duration.count()) / 1000.0);
    j.field("severity", config::to_string(rule.severity));
    j.field("summary", rule.summary);
    j.end_object();
  }
  j.end_array();
  return j.str();
}

// The parts of the config that change live; the rest needs a restart.
class LiveConfig {
 public:
  LiveConfig(std::string path, config::Config cfg) : path_(std::move(path)), cfg_(std::move(cfg)) {}

  // Loads the file again and applies what can change live; on any error the
  // running config stays and the error says why.
  std::string reload(Runtime& rt) EXCLUDES(mu_) {
    detail::MutexLock lock(&mu_);
    if (path_.empty()) return "no config file was given (canopy run --config FILE); nothing to reload";
    config::LoadResult r = config::load_file(path_);
    if (!r.ok()) {
      std::string all;
      for (const auto& e : r.errors) all += (all.empty() ? "" : "; ") + e.to_string();
      spdlog::get("canopy")->error("reload refused, keeping the running config: {}", all);
      return all;
    }
    config::Config next = std::move(*r.config);
    if (const std::string e = set_log_level(config::to_string(next.logging.level)); !e.empty()) return e;
    rt.poller().set_interval(next.telemetry.poll_interval);
    rt.set_default_mailbox(config::runtime_options(next).default_mailbox);
    for (const auto& m : cfg_.telemetry.metrics) rt.metrics().remove(m.name);
    std::string errors;
    const auto defs = config::user_metrics(next);
    for (size_t i = 0; i < defs.size(); ++i) {
      const std::string e = rt.metrics().add(defs[i]);
      if (!e.empty())
        errors +=
            (errors.empty() ? "" : "; ") + next.error_at("telemetry.metrics[" + std::to_string(i) + "]", e).to_string();
    }
    cfg_ = std::move(next);
    spdlog::get("canopy")->info("config reloaded from {}", path_);
    return errors;
  }

  std::string alerts() const EXCLUDES(mu_) {
    detail::MutexLock lock(&mu_);
    return alerts_json(cfg_);
  }

 private:
  const std::string path_;
  mutable detail::Mutex mu_;
  config::Config cfg_ GUARDED_BY(mu_);
};

// The config of `canopy run`: the file (or the defaults when there is none)
// with the admin token applied; nullopt after printing the errors.
std::optional<config::Config> load_run_config(const std::string& config_path) {
  config::Config cfg;
  if (!config_path.empty()) {
    config::LoadResult r = config::load_file(config_path);
    if (!r.ok()) {
      for (const auto& e : r.errors) std::cerr << e.to_string() << "\n";
      std::cerr << "canopy run: " << r.errors.size() << " error(s) in " << config_path << "\n";
      return std::nullopt;
    }
    cfg = std::move(*r.config);
  }
  if (auto e = config::apply_admin_token(cfg)) {
    std::cerr << e->to_string() << "\n";
    return std::nullopt;
  }
  return cfg;
}

// SIGINT, SIGTERM, SIGHUP and SIGUSR1 are taken by sigwait on the main
// thread (no handler runs in signal context at all): SIGUSR1 writes a dump
// there, while the schedulers run on.
// Signals go to the calling thread only: call it before any other thread
// starts. Returns the set to sigwait on.
sigset_t block_shutdown_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

// The metrics of telemetry.metrics; false after printing the first error.
bool add_user_metrics(Runtime& rt, const config::Config& cfg) {
  const auto defs = config::user_metrics(cfg);
  for (size_t i = 0; i < defs.size(); ++i) {
    const std::string e = rt.metrics().add(defs[i]);
    if (!e.empty()) {
      std::cerr << cfg.error_at("telemetry.metrics[" + std::to_string(i) + "]", e).to_string() << "\n";
      return false;
    }
  }
  return true;
}

// What the HTTP server asks the binary for: reloads, log levels, alerts,
// tables and the workload's API. Everything referenced must outlive the server.
exporters::ServerHooks server_hooks(Runtime& rt, LiveConfig& live, std::optional<Workload>& workload) {
  exporters::ServerHooks hooks;
  hooks.reload = [&rt, &live] { return live.reload(rt); };
  hooks.set_log_level = [](const std::string& level) { return set_log_level(level); };
  hooks.alerts_json = [&live] { return live.alerts(); };
  hooks.tables_json = [&rt] { return tables_json(rt); };
  hooks.extra_api = [&workload](const std::string& method, const std::vector<std::string>& parts,
                                const std::string& body, int& status, std::string& json) {
    return workload && workload->route(method, parts, body, status, json);
  };
  return hooks;
}

// Starts pushing to server.push.url when one is set; `pusher` stays empty
// when none is. False after logging why the pusher did not start.
bool start_pusher(exporters::Exposition& exposition, const config::Config& cfg, spdlog::logger& log,
                  std::unique_ptr<exporters::Pusher>& pusher) {
  if (cfg.server.push.url.empty()) return true;
  pusher = std::make_unique<exporters::Pusher>(exposition, config::push_options(cfg), cfg.node.name);
  if (Status st = pusher->start(); !st.ok()) {
    log.error("canopy run: {}", st.error().message());
    return false;
  }
  log.info("pushing to {} every {} ms", cfg.server.push.url, cfg.server.push.interval.count());
  return true;
}

// Starts the demo workload when the config enables it; a workload that fails
// to boot is logged and dropped, and canopy runs on without it.
void start_workload(std::optional<Workload>& workload, Runtime& rt, const config::WorkloadConfig& cfg,
                    spdlog::logger& log) {
  if (!cfg.enabled) return;
  workload.emplace(rt, cfg);
  if (Status st = workload->start(); !st.ok()) {
    log.error("demo workload failed to start: {}", st.error().message());
    workload.reset();
  } else {
    log.info("demo workload 'orders' running ({} workers, {} producers, {} orders/s)", cfg.workers, cfg.producers,
             cfg.message_rate);
  }
}

// Waits for SIGINT or SIGTERM, reloading the config on every SIGHUP and
// writing a dump on every SIGUSR1.
void wait_for_shutdown(const sigset_t& signals, LiveConfig& live, Runtime& rt, spdlog::logger& log) {
  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGUSR1) {
      Result<std::string> r = write_dump(rt, "on demand: SIGUSR1");
      if (!r.ok()) log.error("SIGUSR1: {}", r.error().message());
      continue;
    }
    if (sig == SIGHUP) {
      const std::string e = live.reload(rt);
      if (!e.empty()) log.error("SIGHUP reload: {}", e);
      continue;
    }
    log.info("received {}, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    return;
  }
}

}  // namespace

int run(const std::string& config_path) {
  std::optional<config::Config> loaded = load_run_config(config_path);
  if (!loaded) return 1;
  const config::Config& cfg = *loaded;
  if (const std::string e = configure_logging(cfg.logging); !e.empty()) {
    std::cerr << "canopy run: " << e << "\n";
    return 1;
  }
  auto log = spdlog::get("canopy");
  const sigset_t signals = block_shutdown_signals();

  RuntimeOptions options = config::runtime_options(cfg);
  options.dump.version = exporters::version();
  options.dump.log_tail = [] { return log_tail(); };
  Runtime rt(std::move(options));
  if (!add_user_metrics(rt, cfg)) return 1;
  LiveConfig live(config_path, cfg);

  exporters::Exposition exposition(config::exposition_options(cfg));
  exposition.add_stream_source([&rt](telemetry::FamilySink& sink) { rt.collect_into(sink); });

  std::optional<Workload> workload;
  exporters::HttpServer server(rt, exposition, config::server_options(cfg), server_hooks(rt, live, workload));
  if (Status st = server.start(); !st.ok()) {
    log->error("canopy run: {}", st.error().message());
    return 1;
  }
  log->info("canopy {} serving /metrics, /healthz, /readyz and /api/v1/ at {} (the observer page: {}/)",
            exporters::version(), server.url(), server.url());
  if (cfg.server.admin_token.empty() && cfg.server.admin_without_token == exporters::AdminWithoutToken::loopback) {
    log->warn(
        "admin routes are open without a token to loopback peers (server.admin_without_token: loopback); never "
        "run like this behind a proxy on this host, where every request comes from 127.0.0.1: set "
        "server.admin_token_file or CANOPY_ADMIN_TOKEN instead");
  }

  std::unique_ptr<exporters::Pusher> pusher;
  if (!start_pusher(exposition, cfg, *log, pusher)) return 1;
  start_workload(workload, rt, cfg.workload, *log);

  wait_for_shutdown(signals, live, rt, *log);
  if (workload) workload->stop();
  server.stop();
  rt.shutdown();
  if (pusher) pusher->stop();  // a final push with the final numbers
  log->info("canopy stopped");
  spdlog::shutdown();
  return 0;
}

}  // namespace canopy::app
