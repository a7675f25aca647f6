#include "workload.hpp"

#include "pricing.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>
#include <thread>

#include "canopy/core/gen_server.hpp"
#include "canopy/core/stage.hpp"
#include "canopy/core/supervisor.hpp"
#include "canopy/core/table.hpp"
#include "canopy/core/task_supervisor.hpp"
#include "canopy/exporters/json.hpp"
#include "canopy/telemetry/detail/mutex.hpp"

namespace canopy::app {

using namespace std::chrono_literals;

struct Workload::Shared {
  config::WorkloadConfig cfg;
  std::atomic<bool> mailbox_flood{false};
  std::atomic<bool> table_leak{false};
  std::atomic<bool> orphans{false};
  std::atomic<bool> crash_loop{false};
  std::atomic<bool> runaway{false};
  std::atomic<bool> boot_failure{false};
  std::atomic<bool> heap_leak{false};
  std::atomic<uint64_t> orders_done{0};
  std::atomic<uint64_t> next_order{1};  // order ids, unique across producers
  detail::Mutex mu;
  std::vector<Pid> orphan_pids GUARDED_BY(mu);
  std::optional<TaskSupervisor> jobs;  // set before the tree starts
};

namespace {

// ---------------------------------------------------------------- messages
struct Tick {};
struct Order {
  uint64_t id;
  uint32_t amount;
  std::string customer;
  size_t dynamic_size() const { return canopy::dynamic_size(customer); }
};
struct LedgerEntry {
  uint64_t order;
  uint32_t amount;
};
struct Crash {};
// What the intake tells the order pipeline about each order.
struct OrderEvent {
  uint64_t order;
  uint32_t amount;
};
// What the intake tells the audit log about each order.
struct AuditRecord {
  uint64_t order;
  uint32_t amount;
  std::string customer;
  size_t dynamic_size() const { return canopy::dynamic_size(customer); }
};

constexpr const char* kIntake = "order_intake";
constexpr const char* kLedger = "slow_ledger";
constexpr const char* kReports = "report_builder";
constexpr const char* kFraud = "fraud_check";
constexpr const char* kFlakySup = "flaky_sup";
constexpr const char* kWorkersRegistry = "workers";
constexpr const char* kAudit = "audit_log";
constexpr const char* kOrderCache = "order_cache";
constexpr const char* kSessions = "session_cache";
constexpr const char* kOrderEvents = "order_events";
constexpr const char* kOrderBatcher = "order_batcher";
constexpr size_t kLeakCap = 500'000;
// Bounds that keep every fault from exhausting the machine.
constexpr uint32_t kFloodMailboxCap = 200'000;
constexpr uint32_t kOrphans = 25;
constexpr size_t kAuditLeakCap = 96u << 20;  // heap_leak keeps at most this many bytes

using SharedPtr = std::shared_ptr<Workload::Shared>;

uint64_t spin_work(uint64_t seed, int rounds) {
  uint64_t h = seed;
  for (int i = 0; i < rounds; ++i) h = (h ^ (h >> 31)) * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(i);
  return h;
}

// Sends orders to the intake at the configured rate (ticks every 10 ms).
class Producer final : public Actor {
 public:
  Producer(SharedPtr s, uint32_t per_tick) : s_(std::move(s)), per_tick_(std::max(1u, per_tick)) {}
  Status init() override { return send(self(), Tick{}); }
  void handle(Message& m) override {
    if (!m.is<Tick>()) return;
    const Pid intake = runtime().whereis(kIntake);
    for (uint32_t i = 0; i < per_tick_ && intake.valid(); ++i) {
      const uint64_t id = s_->next_order.fetch_add(1, std::memory_order_relaxed);
      (void)send(intake, Order{id, static_cast<uint32_t>(id * 7919 % 500), "customer-" + std::to_string(id % 97)});
    }
    send_after(self(), 10ms, Tick{});
  }

 private:
  SharedPtr s_;
  uint32_t per_tick_;
};

// Routes orders to the workers; under `mailbox_flood` it also buries the
// ledger in entries (until the ledger's mailbox reaches its cap).
class OrderIntake final : public Actor {
 public:
  explicit OrderIntake(SharedPtr s) : s_(std::move(s)) {}
  // Two tables it owns (they go with it and come back with its restart): a
  // bounded cache of recent orders with a TTL, and the sessions table, which
  // has neither a TTL nor a bound — the `table_leak` fault fills it.
  Status init() override {
    auto cache = Table<uint64_t, std::string>::create(
        runtime(), TableOptions{.name = kOrderCache,
                                .access = TableAccess::public_,
                                .default_ttl = std::chrono::seconds(30),
                                .max_entries = std::max<size_t>(1, s_->cfg.table_entries),
                                .on_full = EvictionPolicy::evict_lru});
    if (!cache.ok()) return cache.error();
    cache_.emplace(cache.value());
    auto sessions = Table<std::string, std::string>::create(
        runtime(), TableOptions{.name = kSessions, .access = TableAccess::public_});
    if (!sessions.ok()) return sessions.error();
    sessions_.emplace(sessions.value());
    return {};
  }
  void handle(Message& m) override {
    auto* order = m.as<Order>();
    if (order == nullptr) return;
    (void)cache_->insert(order->id, order->customer);
    if (const Pid events = runtime().whereis(kOrderEvents); events.valid()) {
      (void)send(events, OrderEvent{order->id, order->amount});
    }
    if (s_->table_leak.load(std::memory_order_relaxed) && sessions_->size() < kLeakCap) {
      (void)sessions_->insert("session-" + std::to_string(order->id) + "-" + order->customer, std::string(48, 's'));
    }
    if (workers_.empty() || ++routed_ % 256 == 0) refresh_workers();
    if (!workers_.empty()) (void)send(workers_[routed_ % workers_.size()], std::move(*order));
    const Pid ledger = runtime().whereis(kLedger);
    if (!ledger.valid()) return;
    int entries = 1;
    if (s_->mailbox_flood.load(std::memory_order_relaxed)) {
      if (routed_ % 64 == 0) {
        const auto info = runtime().process_info(ledger);
        flood_room_ = info && info->mailbox_length < kFloodMailboxCap;
      }
      if (flood_room_) entries = 50;
    }
    for (int i = 0; i < entries; ++i) (void)send(ledger, LedgerEntry{routed_, 1});
    if (const Pid audit = runtime().whereis(kAudit); audit.valid()) {
      (void)send(audit, AuditRecord{routed_, 1, "customer-" + std::to_string(routed_ % 1000)});
    }
  }

 private:
  void refresh_workers() {
    workers_.clear();
    for (const auto& e : runtime().registry(kWorkersRegistry, RegistryKeys::duplicate).lookup("worker")) {
      workers_.push_back(e.pid);
    }
  }
  SharedPtr s_;
  std::optional<Table<uint64_t, std::string>> cache_;
  std::optional<Table<std::string, std::string>> sessions_;
  std::vector<Pid> workers_;
  uint64_t routed_ = 0;
  bool flood_room_ = true;
};

// The demand-driven order pipeline (canopy_stage_*): the intake tells
// order_events of every order; order_events hands them on only against the
// demand order_batcher asked for (at most 500 outstanding), buffering the
// rest (at most 10,000, the oldest dropped), so the batcher is never flooded.
class OrderEvents final : public canopy::Producer {
 public:
  explicit OrderEvents(SharedPtr) : canopy::Producer(ProducerOptions{.name = kOrderEvents, .buffer_size = 10'000}) {}

 protected:
  void handle_info(Message& m) override {
    if (auto* e = m.as<OrderEvent>()) (void)emit(*e);
  }
};

// Books orders in batches of 100 (or what arrived within 200 ms);
// acknowledged to order_events once each batch is booked.
class OrderBatcher final : public BatchConsumer {
 public:
  explicit OrderBatcher(SharedPtr)
      : BatchConsumer(ConsumerOptions{.name = kOrderBatcher,
                                      .subscribe_to = {SubscribeTo{.name = kOrderEvents, .max_demand = 500}}},
                      BatcherOptions{.batch_size = 100, .batch_timeout = 200ms}) {}

 protected:
  void handle_batch(std::vector<StageEvent>& batch) override {
    uint64_t total = 0;
    for (const StageEvent& e : batch) {
      if (const auto* o = std::any_cast<OrderEvent>(&e)) total += o->amount;
    }
    sink_ = spin_work(total, 2'000);
  }

 private:
  uint64_t sink_ = 0;
};

// Books ledger entries; each takes ~30 us (about 30,000 a second), so the
// normal 2,000 a second costs little and a flood of 50 per order backs up.
class Ledger final : public Actor {
 public:
  explicit Ledger(SharedPtr) {}
  void handle(Message& m) override {
    if (auto* e = m.as<LedgerEntry>()) {
      total_ += e->amount;
      sink_ = spin_work(total_, 20'000);
    }
  }

 private:
  uint64_t total_ = 0;
  uint64_t sink_ = 0;
};

// Keeps an audit trail of orders in ordinary C++ containers: the last 1,000
// normally; with the `heap_leak` fault, every order, as a GenServer that
// accumulates state forever would (capped at 96 MiB). Its heap is what
// canopy::heap_accounting sees of those containers.
class AuditLog final : public Actor {
 public:
  explicit AuditLog(SharedPtr s) : s_(std::move(s)) {}
  void handle(Message& m) override {
    auto* r = m.as<AuditRecord>();
    if (r == nullptr) return;
    std::string line = "order=" + std::to_string(r->order) + " amount=" + std::to_string(r->amount) +
                       " customer=" + r->customer + " note=" + std::string(4000, '.');
    if (!s_->heap_leak.load(std::memory_order_relaxed)) {
      if (!kept_.empty()) {
        std::vector<std::string>().swap(kept_);
        kept_bytes_ = 0;
      }
      recent_[next_++ % recent_.size()] = std::move(line);
      return;
    }
    if (kept_bytes_ < kAuditLeakCap) {
      kept_bytes_ += line.size();
      kept_.push_back(std::move(line));
    }
  }

 private:
  SharedPtr s_;
  std::vector<std::string> recent_ = std::vector<std::string>(1000);
  size_t next_ = 0;
  std::vector<std::string> kept_;
  size_t kept_bytes_ = 0;
};

// Processes orders; every 50th order starts a heavy job on the task supervisor.
class Worker final : public Actor {
 public:
  explicit Worker(SharedPtr s) : s_(std::move(s)) {}
  Status init() override {
    return runtime().registry(kWorkersRegistry, RegistryKeys::duplicate).register_key(self(), "worker");
  }
  void handle(Message& m) override {
    if (m.is<Crash>()) throw std::runtime_error("order validation failed: corrupt order (chaos)");
    auto* order = m.as<Order>();
    if (order == nullptr) return;
    sink_ = spin_work(order->id, 200);
    s_->orders_done.fetch_add(1, std::memory_order_relaxed);
    if (order->id % 50 == 0 && s_->jobs) {
      const uint64_t id = order->id;
      (void)s_->jobs->async_nolink([id] { return spin_work(id, 50'000); });
    }
  }

 private:
  SharedPtr s_;
  uint64_t sink_ = 0;
};

// Crashes a random worker every crash_interval: the everyday background of
// restarts a healthy tree absorbs.
class Chaos final : public Actor {
 public:
  explicit Chaos(SharedPtr s) : s_(std::move(s)) {}
  Status init() override {
    if (s_->cfg.crash_interval.count() > 0) send_after(self(), s_->cfg.crash_interval, Tick{});
    return {};
  }
  void handle(Message& m) override {
    if (!m.is<Tick>()) return;
    const auto workers = runtime().registry(kWorkersRegistry, RegistryKeys::duplicate).lookup("worker");
    if (!workers.empty()) (void)send(workers[rng_() % workers.size()].pid, Crash{});
    send_after(self(), s_->cfg.crash_interval, Tick{});
  }

 private:
  SharedPtr s_;
  std::minstd_rand rng_{42};
};

// Under `crash_loop` it dies 100 ms after every start: its supervisor
// (intensity 3 in 5 s) gives up and escalates.
class Flaky final : public Actor {
 public:
  explicit Flaky(SharedPtr s) : s_(std::move(s)) {}
  Status init() override {
    send_after(self(), 100ms, Tick{});
    return {};
  }
  void handle(Message& m) override {
    if (!m.is<Tick>()) return;
    if (s_->crash_loop.load(std::memory_order_relaxed))
      throw std::runtime_error("payment gateway handshake failed (crash_loop fault)");
    send_after(self(), 100ms, Tick{});
  }

 private:
  SharedPtr s_;
};

// Builds a report every second; under `runaway` each build spins for 300 ms.
class ReportBuilder final : public Actor {
 public:
  explicit ReportBuilder(SharedPtr s) : s_(std::move(s)) {}
  Status init() override { return send(self(), Tick{}); }
  void handle(Message& m) override {
    if (!m.is<Tick>()) return;
    if (s_->runaway.load(std::memory_order_relaxed)) {
      const auto until = std::chrono::steady_clock::now() + 300ms;
      uint64_t h = 1;
      while (std::chrono::steady_clock::now() < until) h = spin_work(h, 1'000);
      sink_ = h;
      add_reductions(100'000);
    }
    send_after(self(), 1s, Tick{});
  }

 private:
  SharedPtr s_;
  uint64_t sink_ = 0;
};

// An optional dependency; its init fails while `boot_failure` is on.
class FraudCheck final : public Actor {
 public:
  explicit FraudCheck(SharedPtr s) : s_(std::move(s)) {}
  Status init() override {
    if (s_->boot_failure.load(std::memory_order_relaxed)) {
      return Error(Errc::init_failed, "fraud service unreachable: connection refused (boot_failure fault)");
    }
    return {};
  }
  void handle(Message&) override {}

 private:
  SharedPtr s_;
};

class OrphanWorker final : public Actor {
 public:
  void handle(Message&) override {}
};

template <typename A>
ChildSpec named(const std::string& name, SharedPtr s) {
  ChildSpec c = ChildSpec::worker<A>(name, s);
  c.spawn.name = name;
  return c;
}

}  // namespace

Workload::Workload(Runtime& rt, config::WorkloadConfig config)
    : rt_(rt), config_(std::move(config)), shared_(std::make_shared<Shared>()) {
  shared_->cfg = config_;
}

Workload::~Workload() { stop(); }

const std::vector<std::string>& Workload::fault_names() { return config::workload_fault_names(); }

Status Workload::start() {
  // boot_failure is on before the tree starts, so fraud_check meets it at boot.
  const auto& initial = config_.faults;
  shared_->boot_failure = std::find(initial.begin(), initial.end(), "boot_failure") != initial.end();
  auto jobs = TaskSupervisor::start(rt_, {.name = "jobs", .max_children = 64});
  if (!jobs.ok()) return jobs.error();
  shared_->jobs = jobs.value();
  SharedPtr s = shared_;

  SupervisorSpec workers{.name = "workers_sup",
                         .flags = {.strategy = Strategy::one_for_one, .intensity = 100, .period = 10s}};
  for (uint32_t i = 0; i < std::max(1u, config_.workers); ++i) {
    workers.children.push_back(ChildSpec::worker<Worker>("worker_" + std::to_string(i), s));
  }
  const uint32_t producers = std::max(1u, config_.producers);
  const uint32_t per_tick = std::max(1u, config_.message_rate / producers / 100);
  SupervisorSpec producer_sup{.name = "producers_sup"};
  for (uint32_t i = 0; i < producers; ++i) {
    producer_sup.children.push_back(ChildSpec::worker<Producer>("producer_" + std::to_string(i), s, per_tick));
  }
  SupervisorSpec flaky{.name = kFlakySup, .flags = {.strategy = Strategy::one_for_one, .intensity = 3, .period = 5s}};
  flaky.children.push_back(ChildSpec::worker<Flaky>("payment_gateway", s));

  // rest_for_one: a crashed order_events takes order_batcher with it, which
  // then resubscribes to the new one (stage.hpp).
  SupervisorSpec pipeline{.name = "pipeline_sup",
                          .flags = {.strategy = Strategy::rest_for_one, .intensity = 10, .period = 10s}};
  pipeline.children = {named<OrderEvents>(kOrderEvents, s), named<OrderBatcher>(kOrderBatcher, s)};

  ChildSpec fraud = named<FraudCheck>(kFraud, s);
  fraud.optional = true;
  SupervisorSpec root{.name = "orders",
                      .flags = {.strategy = Strategy::one_for_one,
                                .intensity = 1'000,
                                .period = 60s,
                                .backoff_initial = 500ms,
                                .backoff_max = 5s}};
  root.children = {named<Ledger>(kLedger, s),
                   ChildSpec::supervisor("pipeline_sup", pipeline),
                   named<OrderIntake>(kIntake, s),
                   ChildSpec::supervisor("workers_sup", workers),
                   ChildSpec::supervisor(kFlakySup, flaky),
                   named<ReportBuilder>(kReports, s),
                   named<AuditLog>(kAudit, s),
                   fraud,
                   ChildSpec::worker<Chaos>("chaos", s),
                   ChildSpec::supervisor("producers_sup", producer_sup)};
  Result<Pid> r = rt_.start_application("orders", std::move(root));
  if (!r.ok()) return r.error();
  root_ = r.value();
  for (const std::string& fault : initial) {
    if (Result<FaultState> on = set_fault(fault, true); !on.ok()) return on.error();
  }
  if (!config_.pricing_module.empty()) {
    if (Status s = start_pricing(rt_, config_.pricing_module); !s.ok()) return s;
    pricing_started_ = true;
  }
  return {};
}

void Workload::stop() {
  if (pricing_started_) stop_pricing(rt_);
  pricing_started_ = false;
  if (!root_.valid()) return;
  (void)set_fault("orphans", false);
  (void)rt_.stop_application("orders", 10s);
  if (shared_->jobs) shared_->jobs->stop();
  root_ = Pid();
}

std::vector<FaultState> Workload::faults() const {
  auto state = [&](const std::string& name, bool on, std::string culprit, std::string what) {
    return FaultState{name, on, std::move(culprit), std::move(what)};
  };
  return {
      state("mailbox_flood", shared_->mailbox_flood, kLedger,
            "the intake sends the ledger 50 entries per order; its mailbox grows (capped at 200000)"),
      state("table_leak", shared_->table_leak, kSessions,
            "order_intake puts a session per order into session_cache, which has no TTL and no bound (capped at 500000 "
            "entries)"),
      state("orphans", shared_->orphans, "OrphanWorker", "25 processes spawned outside the supervision tree, unlinked"),
      state("crash_loop", shared_->crash_loop, kFlakySup,
            "payment_gateway crashes 100 ms after each start; flaky_sup exceeds its intensity"),
      state("runaway", shared_->runaway, kReports, "report_builder spins for 300 ms in each handler"),
      state("boot_failure", shared_->boot_failure, kFraud,
            "the optional child fraud_check fails init and is retried with backoff"),
      state("heap_leak", shared_->heap_leak, kAudit,
            "audit_log keeps every order (about 4 KiB each) in a growing vector (capped at 96 MiB)"),
  };
}

Result<FaultState> Workload::set_fault(const std::string& name, bool enabled) {
  if (name == "mailbox_flood") {
    shared_->mailbox_flood = enabled;
  } else if (name == "table_leak") {
    shared_->table_leak = enabled;
  } else if (name == "crash_loop") {
    shared_->crash_loop = enabled;
  } else if (name == "runaway") {
    shared_->runaway = enabled;
  } else if (name == "heap_leak") {
    shared_->heap_leak = enabled;
  } else if (name == "boot_failure") {
    const bool was = shared_->boot_failure.exchange(enabled);
    // A running fraud_check must restart to meet (or leave) the fault.
    if (enabled && !was) {
      if (const Pid fraud = rt_.whereis(kFraud); fraud.valid()) (void)rt_.exit(fraud, ExitReason::kill());
    }
  } else if (name == "orphans") {
    detail::MutexLock lock(&shared_->mu);
    if (shared_->orphans.exchange(enabled) == enabled) return faults()[2];
    if (enabled && shared_->orphan_pids.empty()) {
      for (uint32_t i = 0; i < kOrphans; ++i) {
        if (auto pid = rt_.spawn<OrphanWorker>(); pid.ok()) shared_->orphan_pids.push_back(*pid);
      }
    } else if (!enabled) {
      for (Pid p : shared_->orphan_pids) (void)rt_.exit(p, ExitReason::kill());
      shared_->orphan_pids.clear();
    }
  } else {
    std::string known;
    for (const auto& n : fault_names()) known += (known.empty() ? "" : ", ") + n;
    return Error(Errc::invalid_argument, "no fault '" + name + "' (faults: " + known + ")");
  }
  spdlog::get("canopy")->warn("workload fault {} switched {}", name, enabled ? "on" : "off");
  for (auto& f : faults()) {
    if (f.name == name) return f;
  }
  return Error(Errc::invalid_argument, "no fault '" + name + "'");
}

namespace {

void write_fault(exporters::JsonWriter& j, const FaultState& f) {
  j.begin_object();
  j.field("fault", f.name);
  j.field("enabled", f.enabled);
  j.field("culprit", f.culprit);
  j.field("description", f.description);
  j.end_object();
}

}  // namespace

bool Workload::route(const std::string& method, const std::vector<std::string>& parts, const std::string& body,
                     int& status, std::string& json) {
  if (parts.size() < 2 || parts[0] != "workload" || parts[1] != "faults") return false;
  exporters::JsonWriter j;
  if (parts.size() == 2) {
    if (method != "GET" && method != "HEAD") {
      status = 405;
      json = exporters::json_error("use GET on /api/v1/workload/faults");
      return true;
    }
    j.begin_array();
    for (const auto& f : faults()) write_fault(j, f);
    j.end_array();
    json = j.str();
    return true;
  }
  if (parts.size() != 3) return false;
  if (method != "PUT") {
    status = 405;
    json = exporters::json_error("use PUT with {\"enabled\": true|false} on /api/v1/workload/faults/" + parts[2]);
    return true;
  }
  const std::optional<bool> enabled = exporters::json_bool_member(body, "enabled");
  if (!enabled) {
    status = 400;
    json = exporters::json_error("send {\"enabled\": true} or {\"enabled\": false}");
    return true;
  }
  Result<FaultState> r = set_fault(parts[2], *enabled);
  if (!r.ok()) {
    status = 404;
    json = exporters::json_error(r.error().message());
    return true;
  }
  write_fault(j, r.value());
  json = j.str();
  return true;
}

}  // namespace canopy::app
