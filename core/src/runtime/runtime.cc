// canopy::Runtime: the public face of detail::Runtime.
#include "canopy/core/runtime.hpp"

#include "code/code_server.hpp"
#include "runtime/runtime_impl.hpp"

namespace canopy {

namespace {
detail::Process* caller_in(const detail::Runtime& rt) {
  detail::Process* p = detail::current_process();
  return p != nullptr && &p->runtime == &rt ? p : nullptr;
}
}  // namespace

Runtime::Runtime(RuntimeOptions options) : impl_(std::make_unique<detail::Runtime>(*this, std::move(options))) {
  impl_->start();
}
Runtime::~Runtime() { impl_->shutdown(); }
void Runtime::shutdown() { impl_->shutdown(); }

Result<Pid> Runtime::spawn(std::unique_ptr<Actor> actor, SpawnOptions options) {
  return impl_->spawn(std::move(actor), std::move(options), caller_in(*impl_), nullptr);
}

Result<std::pair<Pid, MonitorRef>> Runtime::spawn_monitor(std::unique_ptr<Actor> actor, SpawnOptions options) {
  MonitorRef ref = 0;
  Result<Pid> pid = impl_->spawn(std::move(actor), std::move(options), caller_in(*impl_), &ref);
  if (!pid.ok()) return pid.error();
  return std::make_pair(pid.value(), ref);
}

Pid Runtime::self() const {
  detail::Process* p = caller_in(*impl_);
  return p != nullptr ? p->pid : Pid();
}

Status Runtime::send_message(Pid to, std::unique_ptr<Message> message) {
  return impl_->send(caller_in(*impl_), to, std::move(message));
}

Status Runtime::exit(Pid pid, ExitReason reason) {
  return impl_->exit_signal(caller_in(*impl_), pid, std::move(reason));
}

CallResult Runtime::call_message(Pid to, std::unique_ptr<Message> request, std::chrono::milliseconds timeout) {
  return impl_->call_blocking(to, std::move(request), timeout);
}

Status Runtime::trace(Pid pid, bool on) { return impl_->trace(pid, on); }
std::vector<TraceLine> Runtime::trace_lines(Pid pid, size_t max) const { return impl_->trace_lines(pid, max); }

Status Runtime::when_exits(Pid pid, std::function<void(Pid, const ExitReason&)> hook) {
  return impl_->when_exits(pid, std::move(hook));
}

Status Runtime::register_name(const std::string& name, Pid pid) { return impl_->register_name(name, pid); }
Status Runtime::unregister(const std::string& name) { return impl_->unregister(name); }
Pid Runtime::whereis(const std::string& name) const { return impl_->whereis(name); }
Registry Runtime::registry(const std::string& name, RegistryKeys keys) { return Registry(impl_->registry(name, keys)); }

Result<Pid> Runtime::start_application(const std::string& name, SupervisorSpec root) {
  return impl_->start_application(name, std::move(root));
}
Status Runtime::stop_application(const std::string& name, std::chrono::milliseconds timeout) {
  return impl_->stop_application(name, timeout);
}
std::vector<std::pair<std::string, Pid>> Runtime::applications() const { return impl_->applications(); }
Runtime::Readiness Runtime::readiness() const { return impl_->readiness(); }
std::map<std::string, uint64_t> Runtime::boot_failures() const { return impl_->boot_failures(); }
std::vector<ProcessInfo> Runtime::audit_orphans(const OrphanAudit& audit) { return impl_->audit_orphans(audit); }

telemetry::Bus& Runtime::telemetry_bus() { return impl_->telemetry().bus(); }
telemetry::Metrics& Runtime::metrics() { return impl_->telemetry().metrics(); }
telemetry::Poller& Runtime::poller() { return impl_->telemetry().poller(); }
void Runtime::poll_now() { impl_->poll(); }
std::vector<telemetry::Family> Runtime::collect() const {
  std::vector<telemetry::Family> out = impl_->telemetry().collect();
  impl_->code().append_families(out);
  return out;
}
void Runtime::collect_into(telemetry::FamilySink& sink) const {
  impl_->telemetry().collect_into(sink);
  std::vector<telemetry::Family> code;
  impl_->code().append_families(code);
  for (const auto& f : code) telemetry::emit(f, sink);
}

Result<ModuleVersionInfo> Runtime::load_module(const std::string& path) { return impl_->code().load(path); }
Result<Pid> Runtime::spawn_module(const std::string& module, const std::string& behaviour, std::string arg,
                                  SpawnOptions options) {
  return impl_->code().spawn(module, behaviour, arg, std::move(options), caller_in(*impl_));
}
namespace {
// Stands in for a module behaviour that cannot be made: fails its spawn.
class UnavailableModule final : public Actor {
 public:
  explicit UnavailableModule(Error why) : why_(std::move(why)) {}
  Status init() override { return why_; }
  void handle(Message&) override {}

 private:
  Error why_;
};
}  // namespace

std::unique_ptr<Actor> Runtime::module_actor(const std::string& module, const std::string& behaviour,
                                             std::string arg) {
  auto a = impl_->code().actor(module, behaviour, arg);
  if (!a.ok()) return std::make_unique<UnavailableModule>(a.error());
  return std::move(a).value();
}

Result<UpgradeResult> Runtime::upgrade(const std::string& module, const std::string& path, UpgradeOptions options) {
  return impl_->code().upgrade(module, path, options);
}
std::vector<ModuleVersionInfo> Runtime::modules() const { return impl_->code().modules(); }

std::optional<ProcessInfo> Runtime::process_info(Pid pid) const { return impl_->process_info(pid); }
std::vector<ProcessInfo> Runtime::processes() const { return impl_->processes(); }
TopProcesses Runtime::top_processes(ProcessRank rank, size_t limit,
                                    const std::function<bool(std::string_view, std::string_view)>& filter) const {
  return impl_->top_processes(rank, limit, filter);
}
std::vector<Pid> Runtime::pids() const { return impl_->pids(); }
size_t Runtime::process_count() const { return impl_->process_count(); }
bool Runtime::alive(Pid pid) const { return impl_->alive(pid); }
std::vector<SchedulerStats> Runtime::scheduler_stats() const { return impl_->scheduler_stats(); }
RuntimeStats Runtime::stats() const { return impl_->stats(); }
const RuntimeOptions& Runtime::options() const { return impl_->options(); }
void Runtime::set_default_mailbox(const MailboxOptions& mailbox) { impl_->set_default_mailbox(mailbox); }
MailboxOptions Runtime::default_mailbox() const { return impl_->default_mailbox(); }

}  // namespace canopy
