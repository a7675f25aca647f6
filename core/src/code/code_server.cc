// Room code/: modules and hot upgrades. It owns the module ABI's host side
// (module_library), the Actor that runs a module behaviour (module_actor)
// and the code server below: loading, spawning from a module, and the
// all-or-nothing upgrade. It uses runtime/ (suspend, resume, spawn, the
// process table) and emits through instrumentation/.
#include "code/code_server.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "code/module_actor.hpp"
#include "instrumentation/metric_def.hpp"
#include "runtime/cycle_clock.hpp"
#include "runtime/runtime_impl.hpp"

namespace canopy {

const char* to_string(UpgradeOutcome outcome) {
  switch (outcome) {
    case UpgradeOutcome::committed:
      return "committed";
    case UpgradeOutcome::rolled_back:
      return "rolled_back";
    case UpgradeOutcome::dry_run_ok:
      return "dry_run_ok";
    case UpgradeOutcome::dry_run_failed:
      return "dry_run_failed";
  }
  return "?";
}

}  // namespace canopy

namespace canopy::detail {

namespace {

ModuleVersionInfo describe(const ModuleLibrary& lib, bool current, uint64_t processes) {
  ModuleVersionInfo i;
  i.module = lib.name();
  i.version = lib.version();
  i.path = lib.path();
  const canopy_module_v1& m = lib.description();
  for (size_t b = 0; b < m.behaviour_count; ++b) i.behaviours.emplace_back(m.behaviours[b].name);
  for (size_t c = 0; c < m.code_change_count; ++c) {
    i.code_changes.push_back(std::string(m.code_changes[c].behaviour) + " " + m.code_changes[c].from_version);
  }
  i.current = current;
  i.processes = processes;
  return i;
}

std::shared_ptr<const CodeTag> code_of(const Process& p) {
  SpinLockGuard lock(&p.meta_lock);
  return p.code;
}

double ms_between(uint64_t from_ns, uint64_t to_ns) { return to_ns > from_ns ? (to_ns - from_ns) / 1e6 : 0.0; }

// The code_change calls of one upgrade, run on a thread of their own so a
// hanging one can be abandoned: it reads only copies of the saved states,
// so the processes can go back to their old code while it still runs. Held
// by the upgrade and by that thread; the new instances it made die with it
// unless the upgrade took them.
struct Migration {
  struct Item {
    const canopy_code_change_v1* change = nullptr;
    const canopy_behaviour_v1* behaviour = nullptr;  // of the new version
    std::string state;
    ModuleInstance made;
  };
  std::shared_ptr<const ModuleLibrary> target;
  std::vector<Item> items;
  Mutex mu;
  CondVar cv;
  bool done GUARDED_BY(mu) = false;
  size_t failed GUARDED_BY(mu) = SIZE_MAX;
  std::string reason GUARDED_BY(mu);

  void run() {
    size_t failed_at = SIZE_MAX;
    std::string why;
    for (size_t i = 0; i < items.size(); ++i) {
      Item& it = items[i];
      StringSink error;
      void* made = nullptr;
      try {
        made = it.change->code_change(it.state.data(), it.state.size(), &error.sink);
      } catch (const std::exception& e) {
        error.text = std::string("code_change threw: ") + e.what();
      } catch (...) {
        error.text = "code_change threw";
      }
      if (made == nullptr) {
        failed_at = i;
        why = error.text.empty() ? "code_change returned no state" : error.text;
        break;
      }
      it.made = ModuleInstance(target, it.behaviour, made);
    }
    MutexLock lock(&mu);
    done = true;
    failed = failed_at;
    reason = std::move(why);
    cv.notify_all();
  }
};

}  // namespace

void CodeServerDeleter::operator()(CodeServer* c) const { delete c; }
std::unique_ptr<CodeServer, CodeServerDeleter> make_code_server(Runtime& rt) {
  return std::unique_ptr<CodeServer, CodeServerDeleter>(new CodeServer(rt));
}

// --- loading and spawning ------------------------------------------------------------

Result<ModuleVersionInfo> CodeServer::load(const std::string& path) {
  auto lib = ModuleLibrary::open(path);
  if (!lib.ok()) return lib.error();
  std::shared_ptr<const ModuleLibrary> l = std::move(lib).value();
  MutexLock lock(&mu_);
  Module& m = modules_[l->name()];
  for (const auto& v : m.loaded) {
    if (v->version() == l->version()) {
      return Error(Errc::invalid_argument, "module " + path + ": " + l->name() + " version " + l->version() +
                                               " is already loaded (from " + v->path() + ")");
    }
  }
  m.loaded.push_back(l);
  m.current = l;
  rt_.log().info("code: loaded {} version {} from {}", l->name(), l->version(), path);
  return describe(*l, true, 0);
}

Result<std::unique_ptr<Actor>> CodeServer::actor(const std::string& module, const std::string& behaviour,
                                                 const std::string& arg) {
  std::shared_ptr<const ModuleLibrary> lib;
  {
    MutexLock lock(&mu_);
    auto it = modules_.find(module);
    if (it == modules_.end() || !it->second.current) {
      return Error(Errc::invalid_argument, "spawn_module: no module '" + module + "' is loaded");
    }
    lib = it->second.current;
  }
  const canopy_behaviour_v1* b = lib->behaviour(behaviour);
  if (b == nullptr) {
    return Error(Errc::invalid_argument, "spawn_module: module " + module + " version " + lib->version() +
                                             " has no behaviour '" + behaviour + "'");
  }
  return std::unique_ptr<Actor>(std::make_unique<ModuleActor>(ModuleInstance(lib, b, nullptr), behaviour, arg));
}

Result<Pid> CodeServer::spawn(const std::string& module, const std::string& behaviour, const std::string& arg,
                              SpawnOptions options, Process* parent) {
  auto a = actor(module, behaviour, arg);
  if (!a.ok()) return a.error();
  return rt_.spawn(std::move(a).value(), std::move(options), parent, nullptr);
}

std::vector<ModuleVersionInfo> CodeServer::modules() const {
  // Processes per version: one walk of the table.
  std::map<const CodeTag*, uint64_t> counts;
  for (const ProcessRef& ref : rt_.live_processes()) {
    if (auto tag = code_of(*ref.get())) ++counts[tag.get()];
  }
  std::vector<ModuleVersionInfo> out;
  MutexLock lock(&mu_);
  for (const auto& [name, m] : modules_) {
    for (const auto& v : m.loaded) {
      auto c = counts.find(v->tag().get());
      out.push_back(describe(*v, v == m.current, c == counts.end() ? 0 : c->second));
    }
  }
  return out;
}

void CodeServer::append_families(std::vector<telemetry::Family>& out) const {
  telemetry::Family f = builtin_family("canopy_module_info");
  MutexLock lock(&mu_);
  for (const auto& [name, m] : modules_) {
    for (const auto& v : m.loaded) {
      f.samples.push_back(telemetry::Sample{{{"module", v->name()}, {"version", v->version()}}, 1.0, {}, 0, 0});
    }
  }
  out.push_back(std::move(f));
}

std::vector<std::string> CodeServer::purge() {
  std::vector<std::shared_ptr<const ModuleLibrary>> dropped;
  std::vector<std::string> names;
  {
    MutexLock lock(&mu_);
    for (auto& entry : modules_) {
      auto& m = entry.second;  // a named reference: clang 14 cannot capture a structured binding
      auto unused = [&](const std::shared_ptr<const ModuleLibrary>& v) {
        // Only this list holds it: no process runs it and, not being
        // current, no spawn can take it again.
        if (v == m.current || v.use_count() != 1) return false;
        dropped.push_back(v);
        names.push_back(v->name() + " " + v->version());
        return true;
      };
      std::erase_if(m.loaded, unused);
    }
  }
  for (const std::string& n : names) rt_.log().info("code: purged {} (no process runs it)", n);
  return names;  // `dropped` unloads them here, outside the lock
}

// --- the upgrade ---------------------------------------------------------------------

// One upgrade: load, find the processes, suspend them, save their states,
// migrate copies, then commit or roll back, and resume everyone.
class CodeServer::Upgrade {
 public:
  Upgrade(CodeServer& server, const std::string& module, const UpgradeOptions& options)
      : server_(server), rt_(server.rt_), options_(options), start_ns_(mono_ns()) {
    result_.module = module;
  }

  Result<UpgradeResult> run(const std::string& path) {
    if (Status s = load(path); !s.ok()) return s.error();
    collect();
    if (!suspend_all()) return finish(false);
    if (!plan()) return finish(false);
    if (!migrate()) return finish(false);
    return finish(true);
  }

 private:
  struct Held {
    ProcessRef ref;
    uint64_t asked_ns = 0;
    bool parked = false;
    bool gone = false;     // exited during the upgrade: no longer part of it
    bool restart = false;  // behaviour cannot change in place
    ModuleActor* actor = nullptr;
    size_t item = SIZE_MAX;  // its Migration item
  };

  Status load(const std::string& path) {
    auto lib = ModuleLibrary::open(path);
    if (!lib.ok()) return lib.error();
    target_ = std::move(lib).value();
    if (target_->name() != result_.module) {
      return Error(Errc::invalid_argument, "module " + path + " is module '" + target_->name() + "', not '" +
                                               result_.module + "'");
    }
    result_.to_version = target_->version();
    MutexLock lock(&server_.mu_);
    auto it = server_.modules_.find(result_.module);
    if (it == server_.modules_.end() || !it->second.current) {
      return Error(Errc::invalid_argument, "upgrade: module '" + result_.module + "' is not loaded (load_module first)");
    }
    result_.from_version = it->second.current->version();
    for (const auto& v : it->second.loaded) {
      if (v->version() == target_->version()) {
        return Error(Errc::invalid_argument, "upgrade: " + result_.module + " version " + target_->version() +
                                                 " is already loaded (from " + v->path() + ")");
      }
    }
    return {};
  }

  // Every live process of the module (on any older version).
  void collect() {
    for (ProcessRef& ref : rt_.live_processes()) {
      auto tag = code_of(*ref.get());
      if (tag && tag->module == result_.module) held_.push_back(Held{std::move(ref)});
    }
  }

  bool suspend_all() {
    const uint64_t deadline = mono_ns() + static_cast<uint64_t>(options_.suspend_timeout.count()) * 1'000'000;
    for (Held& h : held_) h.asked_ns = mono_ns();
    size_t pending = held_.size();
    for (uint32_t round = 0; pending > 0; ++round) {
      pending = 0;
      for (Held& h : held_) {
        if (h.parked || h.gone) continue;
        Process& p = *h.ref.get();
        if (p.sched_state.load(std::memory_order_acquire) == kExited) {
          h.gone = true;
        } else if (rt_.request_suspend(p)) {
          h.parked = true;
        } else {
          ++pending;
        }
      }
      if (pending == 0) break;
      if (mono_ns() > deadline) {
        for (Held& h : held_) {
          if (!h.parked && !h.gone) {
            fail(h.ref->pid, "process " + h.ref->pid.to_string() + " did not reach a message boundary within " +
                                 std::to_string(options_.suspend_timeout.count()) + " ms");
            break;
          }
        }
        return false;
      }
      if (round < 64) {
        std::this_thread::yield();
      } else {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    }
    return true;
  }

  // With every process parked: which change in place and with which
  // code_change; their states saved.
  bool plan() {
    migration_ = std::make_shared<Migration>();
    migration_->target = target_;
    for (Held& h : held_) {
      if (!h.parked) continue;
      // Parked: no scheduler runs it, and the acquire that saw kSuspended
      // makes its behaviour safe to read here.
      h.actor = static_cast<ModuleActor*>(h.ref->behaviour.get());
      if (h.actor == nullptr) {
        h.gone = true;
        continue;
      }
      const std::string& behaviour = h.actor->behaviour_name();
      const std::string& old_version = h.actor->library().version();
      const canopy_behaviour_v1* next = target_->behaviour(behaviour);
      if (next == nullptr) {
        return fail(h.ref->pid, result_.module + " version " + target_->version() + " has no behaviour '" +
                                    behaviour + "' (process " + h.ref->pid.to_string() + " runs it)");
      }
      if (h.actor->restart_on_upgrade()) {
        h.restart = true;
        continue;
      }
      const canopy_code_change_v1* change = target_->code_change(behaviour, old_version);
      if (change == nullptr) {
        return fail(h.ref->pid, result_.module + " version " + target_->version() + " has no code_change for " +
                                    behaviour + " from version " + old_version);
      }
      Result<std::string> state = h.actor->save_state();
      if (!state.ok()) return fail(h.ref->pid, state.error().message());
      h.item = migration_->items.size();
      migration_->items.push_back(Migration::Item{change, next, std::move(state).value(), {}});
    }
    return true;
  }

  bool migrate() {
    if (migration_->items.empty()) return true;
    std::shared_ptr<Migration> m = migration_;
    std::thread([m] { m->run(); }).detach();
    const auto deadline = std::chrono::steady_clock::now() + options_.code_change_timeout;
    MutexLock lock(&m->mu);
    while (!m->done) {
      if (m->cv.wait_until(m->mu, deadline) == std::cv_status::timeout && !m->done) {
        // The thread keeps its copy of the job; the processes never see it.
        migration_.reset();
        return fail(Pid(), "code_change did not finish within " + std::to_string(options_.code_change_timeout.count()) +
                               " ms");
      }
    }
    if (m->failed != SIZE_MAX) {
      for (const Held& h : held_) {
        if (h.item == m->failed) return fail(h.ref->pid, "code_change of " + h.ref->pid.to_string() + " failed: " + m->reason);
      }
      return fail(Pid(), m->reason);
    }
    return true;
  }

  bool fail(Pid pid, std::string reason) {
    result_.failed_pid = pid;
    result_.reason = std::move(reason);
    return false;
  }

  Result<UpgradeResult> finish(bool migrated) {
    const bool commit = migrated && !options_.dry_run;
    if (commit) switch_code();
    std::vector<ModuleInstance> old;  // destroyed after everyone resumed
    if (commit) old = swap_instances();
    resume_all();
    old.clear();
    migration_.reset();  // a dry run's or a rollback's new instances go here
    if (commit) restart_the_rest();
    if (commit) result_.purged = server_.purge();
    target_.reset();  // not committed: the new version unloads here
    result_.outcome = options_.dry_run ? (migrated ? UpgradeOutcome::dry_run_ok : UpgradeOutcome::dry_run_failed)
                                       : (commit ? UpgradeOutcome::committed : UpgradeOutcome::rolled_back);
    result_.upgrade_ms = ms_between(start_ns_, mono_ns());
    server_.report(result_);
    return std::move(result_);
  }

  void switch_code() {
    MutexLock lock(&server_.mu_);
    Module& m = server_.modules_[result_.module];
    m.loaded.push_back(target_);
    m.current = target_;
  }

  std::vector<ModuleInstance> swap_instances() {
    std::vector<ModuleInstance> old;
    for (Held& h : held_) {
      if (!h.parked || h.gone || h.restart || h.item == SIZE_MAX) continue;
      old.push_back(h.actor->swap(std::move(migration_->items[h.item].made)));
      Process& p = *h.ref.get();
      SpinLockGuard lock(&p.meta_lock);
      p.code = target_->tag();
      ++result_.processes;
    }
    return old;
  }

  void resume_all() {
    for (Held& h : held_) {
      if (!h.parked) continue;
      rt_.resume(*h.ref.get());
      const double ms = ms_between(h.asked_ns, mono_ns());
      result_.max_suspended_ms = std::max(result_.max_suspended_ms, ms);
      result_.total_suspended_ms += ms;
      if (!h.restart && options_.dry_run && h.item != SIZE_MAX) ++result_.processes;
    }
  }

  // Behaviours that cannot change in place exit; their supervisors restart
  // them, and a restart spawns the version now current.
  void restart_the_rest() {
    for (Held& h : held_) {
      if (!h.restart || h.gone) continue;
      (void)rt_.exit_signal(nullptr, h.ref->pid,
                            ExitReason::error("code upgrade: restarting on " + result_.module + " version " +
                                              target_->version()));
      ++result_.restarted;
    }
  }

  CodeServer& server_;
  Runtime& rt_;
  const UpgradeOptions options_;
  const uint64_t start_ns_;
  UpgradeResult result_;
  std::shared_ptr<const ModuleLibrary> target_;
  std::vector<Held> held_;
  std::shared_ptr<Migration> migration_;
};

Result<UpgradeResult> CodeServer::upgrade(const std::string& module, const std::string& path,
                                          const UpgradeOptions& options) {
  if (current_process() != nullptr) {
    return Error(Errc::not_in_process, "upgrade waits for processes to suspend: call it from outside the runtime");
  }
  MutexLock lock(&upgrade_mu_);
  return Upgrade(*this, module, options).run(path);
}

void CodeServer::report(const UpgradeResult& r) {
  const char* outcome = to_string(r.outcome);
  if (r.ok()) {
    rt_.log().info("code: upgrade of {} {} -> {}: {} ({} processes, {} restarted, {:.1f} ms, max suspended {:.1f} ms)",
                   r.module, r.from_version, r.to_version, outcome, r.processes, r.restarted, r.upgrade_ms,
                   r.max_suspended_ms);
  } else {
    rt_.log().warn("code: upgrade of {} {} -> {}: {} (failing process {}: {})", r.module, r.from_version,
                   r.to_version, outcome, r.failed_pid.valid() ? r.failed_pid.to_string() : "none", r.reason);
  }
  const telemetry::Event& ev = *rt_.telemetry().events().code_upgrade;
  if (!ev.active()) return;
  rt_.telemetry().bus().execute(ev,
                                {{"count", 1},
                                 {"duration", r.upgrade_ms / 1e3},
                                 {"processes", static_cast<double>(r.processes)},
                                 {"max_suspended", r.max_suspended_ms / 1e3}},
                                {{"module", r.module},
                                 {"result", outcome},
                                 {"from_version", r.from_version},
                                 {"to_version", r.to_version}});
}

}  // namespace canopy::detail
