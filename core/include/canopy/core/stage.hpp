#pragma once
// Stages: demand-driven pipelines (the counterpart of Elixir's GenStage and
// Broadway). A producer emits events only against demand its consumers asked
// for, so no stage can flood another: a consumer subscribes with
// `max_demand`, asks for that many events, and asks again (after processing)
// when what it still waits for falls to `min_demand`. Every stage is a
// process on the runtime.
//
//   class Numbers : public canopy::Producer {            // emits on demand
//     using Producer::Producer;
//     void handle_demand(size_t n) override { for (size_t i = 0; i < n; ++i) (void)emit(next_++); }
//     uint64_t next_ = 0;
//   };
//   Pid src = rt.spawn_opts<Numbers>({.name = "numbers"}, ProducerOptions{.name = "numbers"}).value();
//   Pid sink = rt.spawn(stage::make_consumer({.name = "sink", .subscribe_to = {{.name = "numbers"}}},
//                                            [](StageEvent& e) { use(std::any_cast<uint64_t>(e)); })).value();
//
// Events are `std::any` values (copyable; small ones are stored inline).
// Producers keep a copy of each event sent until the consumer acknowledges
// it (consumers do so after processing each batch they receive); when a
// consumer exits, its unacknowledged events are put back at the head of the
// producer's queue and redelivered to the next subscriber with demand (the
// consumer restarted by its supervisor, or another one). Nothing is lost
// across a consumer crash; only unacknowledged events are seen twice.
// A producer-consumer acknowledges an input event upstream only once every
// event it made from it was acknowledged downstream (or dropped by its
// buffer's policy), so a crash of the middle stage loses nothing either: its
// producer redelivers the input. (Supervise such a pipeline rest_for_one, so
// the stages after a crashed one restart and resubscribe with it.)
//
// Subscriptions follow both ends: each end monitors the other. A consumer
// whose producer exits cancels that subscription and, by its CancelPolicy,
// exits too (permanent: always; transient: unless the producer exited
// normally or by shutdown) or carries on (temporary). A subscription by
// registered name first waits (resubscribe_timeout) for a crashed producer
// to come back under its name, and resubscribes. A producer forgets a
// consumer that exits.
//
// Telemetry (event names are part of the contract; metadata `stage` is the
// stage's name): [canopy, stage, events_in|events_out|ack|redeliver] {count},
// [canopy, stage, drop] {count} (reason drop_oldest|drop_newest|reject|shutdown),
// [canopy, stage, failed] {count} (reason), [canopy, stage, processed]
// {duration (ns), count}, [canopy, stage, state] {demand_outstanding,
// buffer_length}. They feed the canopy_stage_* metrics.
//
// Threading rule: a stage's methods are owner process only (as any Actor);
// the stage:: helpers are thread-safe and block, so they are for threads
// outside the runtime.
#include <any>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "canopy/core/actor.hpp"
#include "canopy/core/result.hpp"
#include "canopy/core/supervisor.hpp"

namespace canopy {

using StageEvent = std::any;

// What a producer does with an event that does not fit its buffer.
enum class BufferOverflow : uint8_t {
  drop_oldest,  // the oldest buffered event is dropped to make room
  drop_newest,  // the new event is dropped; emit() returns Errc::dropped
  reject,       // the new event is refused; emit() returns Errc::mailbox_full
};
const char* to_string(BufferOverflow policy);

// How a producer spreads events over its subscribers.
enum class DispatcherKind : uint8_t {
  demand,     // each event to the subscriber with the most outstanding demand
  broadcast,  // every event to every subscriber, at the pace of the slowest
  partition,  // each event to the subscriber of its partition (partition_by)
};
const char* to_string(DispatcherKind kind);

struct DispatcherOptions {
  DispatcherKind kind = DispatcherKind::demand;
  // partition: number of partitions, and the key function (taken modulo
  // `partitions`). Subscribers name their partition in SubscribeTo.
  uint32_t partitions = 1;
  std::function<uint64_t(const StageEvent&)> partition_by;
};

struct ProducerOptions {
  // The `stage` label of its telemetry.
  std::string name = "producer";
  // Events waiting for demand; at most this many, then `overflow` applies.
  // Redelivered events do not count against it (they are never dropped).
  size_t buffer_size = 10'000;
  BufferOverflow overflow = BufferOverflow::drop_oldest;
  DispatcherOptions dispatcher;
  // Keep each sent event until it is acknowledged, to redeliver it if its
  // consumer exits first. Off: at-most-once delivery, no copies kept.
  bool acknowledge = true;
};

// What a consumer does when a producer it subscribes to exits.
enum class CancelPolicy : uint8_t { permanent, transient, temporary };

struct SubscribeTo {
  // The producer: a pid, or else a registered name (resolved at init, so a
  // consumer restarted by its supervisor finds a restarted producer).
  Pid pid;
  std::string name;
  uint32_t max_demand = 1'000;
  // Ask again when the demand still outstanding falls to this; 0 means 3/4 of
  // max_demand (GenStage's default).
  uint32_t min_demand = 0;
  // partition dispatcher: the partition this subscriber takes.
  uint32_t partition = 0;
  CancelPolicy cancel = CancelPolicy::permanent;
  // By name only: when the producer exits abnormally, wait this long for a
  // new process under the name (its supervisor restarting it) and subscribe
  // to that; only then does `cancel` apply. 0 = apply `cancel` at once.
  std::chrono::milliseconds resubscribe_timeout{5'000};
};

// What a consumer does when its handler throws for one event.
enum class FailurePolicy : uint8_t {
  report,  // report the event and reason (handle_failed, telemetry), acknowledge it, carry on
  crash,   // report it, then crash the stage: its unacknowledged events are redelivered
};

struct ConsumerOptions {
  std::string name = "consumer";
  std::vector<SubscribeTo> subscribe_to;
  FailurePolicy on_failure = FailurePolicy::report;
};

struct BatcherOptions {
  // A batch is handled when it has `batch_size` events, or `batch_timeout`
  // after its first event arrived, whichever comes first.
  size_t batch_size = 100;
  std::chrono::milliseconds batch_timeout{1'000};
};

// A stage's counters, as stage::stats returns them. A plain value.
struct StageStats {
  std::string name;
  uint64_t events_in = 0;   // received (consumers, producer-consumers) or emitted (producers)
  uint64_t events_out = 0;  // sent (producers, producer-consumers; redeliveries too) or handled (consumers)
  uint64_t dropped_oldest = 0;
  uint64_t dropped_newest = 0;
  uint64_t rejected = 0;
  uint64_t acked = 0;        // received from consumers (producers, producer-consumers) or sent upstream (consumers)
  uint64_t redelivered = 0;  // put back for redelivery after a consumer exited
  uint64_t failed = 0;       // handler threw
  uint64_t demand_outstanding = 0;  // producers: asked by consumers, not yet sent; consumers: asked upstream
  uint64_t buffer_length = 0;
  uint64_t unacked = 0;
  uint32_t consumers = 0;  // live downstream subscriptions
  uint32_t producers = 0;  // live upstream subscriptions
  // The largest number of events this consumer ever had asked for and not yet
  // handled (received-but-unhandled plus outstanding): never above max_demand.
  uint64_t peak_in_flight = 0;
};

namespace detail {
struct StageState;
}

// The common engine of every stage kind. Not used directly: derive from
// Producer, ProducerConsumer, Consumer or BatchConsumer. Owner process only.
class Stage : public Actor {
 public:
  ~Stage() override;
  Status init() final;
  void handle(Message& message) final;
  void terminate(const ExitReason& reason) final;

 protected:
  Stage(std::optional<ProducerOptions> producer, std::optional<ConsumerOptions> consumer);

  // Producers: puts one event into the buffer, or straight to a subscriber
  // with demand. Errors: dropped (drop_newest), mailbox_full (reject),
  // shutting_down (draining). May be called from any hook.
  Status emit(StageEvent event);
  // Producers: demand from consumers that neither the buffer nor emit() has
  // met yet. handle_demand is called only when new demand arrives; a source
  // that had nothing to give then emits later (from handle_info, a timer)
  // while this is above zero.
  uint64_t unmet_demand() const;
  // Messages that are not stage protocol (timers, your own commands).
  virtual void handle_info(Message& message) { (void)message; }
  // Runs once after the stage subscribed (consumers) / before any demand.
  virtual Status on_init() { return {}; }
  virtual void on_terminate(const ExitReason& reason) { (void)reason; }
  // Consumers: an event whose handler threw, with the exception's text.
  virtual void handle_failed(const StageEvent& event, const std::string& reason) {
    (void)event;
    (void)reason;
  }
  const StageStats& stage_stats() const;

 private:
  friend struct detail::StageState;
  // Producers: downstream demand that the buffer does not cover; emit() up to
  // `demand` events (more are buffered).
  virtual void on_demand(size_t demand) { (void)demand; }
  // Consumers and producer-consumers: one event; producer-consumers push
  // their output to `out`.
  virtual void on_event(StageEvent& event, std::vector<StageEvent>* out) {
    (void)event;
    (void)out;
  }
  // Batch consumers only: their options, and one batch.
  virtual const BatcherOptions* batcher() const { return nullptr; }
  virtual void on_batch(std::vector<StageEvent>& batch) { (void)batch; }

  std::unique_ptr<detail::StageState> s_;
};

class Producer : public Stage {
 public:
  explicit Producer(ProducerOptions options = {});

 protected:
  // Called when new demand arrives that the buffer does not cover: emit() up
  // to `demand` events (more are buffered, by the overflow policy). A source
  // with nothing to give now emits later, while unmet_demand() is above zero.
  virtual void handle_demand(size_t demand) { (void)demand; }
  using Stage::emit;
  using Stage::unmet_demand;

 private:
  void on_demand(size_t demand) final { handle_demand(demand); }
};

class ProducerConsumer : public Stage {
 public:
  ProducerConsumer(ProducerOptions producer, ConsumerOptions consumer);

 protected:
  // One input event; push any number of output events to `out`. A throw
  // reports the input event as failed (see FailurePolicy).
  virtual void handle_event(StageEvent& event, std::vector<StageEvent>& out) = 0;
  using Stage::emit;

 private:
  void on_event(StageEvent& event, std::vector<StageEvent>* out) final { handle_event(event, *out); }
};

class Consumer : public Stage {
 public:
  explicit Consumer(ConsumerOptions options);

 protected:
  // One event. A throw reports it as failed (see FailurePolicy).
  virtual void handle_event(StageEvent& event) = 0;

 private:
  void on_event(StageEvent& event, std::vector<StageEvent>*) final { handle_event(event); }
};

// A consumer that handles events in batches (Broadway's batcher): by size or
// after a timeout. Events are acknowledged once their batch was handled. A
// throw from handle_batch reports every event of the batch as failed.
class BatchConsumer : public Stage {
 public:
  BatchConsumer(ConsumerOptions options, BatcherOptions batcher);

 protected:
  virtual void handle_batch(std::vector<StageEvent>& batch) = 0;

 private:
  const BatcherOptions* batcher() const final { return &batcher_; }
  void on_batch(std::vector<StageEvent>& batch) final { handle_batch(batch); }
  const BatcherOptions batcher_;
};

namespace stage {

// Events handed to a producer from outside (stage::push).
struct Push {
  std::vector<StageEvent> events;
};
struct PushResult {
  uint64_t accepted = 0;  // buffered or sent (with drop_oldest, older events may have made room: see StageStats)
  uint64_t dropped = 0;   // dropped at once (drop_newest)
  uint64_t rejected = 0;  // refused (reject, draining, or not a producer)
};
// Asks a stage to drain: a producer stops asking for new events (no more
// handle_demand; pushes are refused), delivers what it holds, sends
// end-of-stream downstream and exits normally once its consumers have
// acknowledged everything. Downstream stages drain when all their producers
// have. Stages that have producers ignore it.
struct Drain {};

// Lambda-built stages.
std::unique_ptr<Actor> make_producer(
    ProducerOptions options,
    std::function<void(size_t demand, const std::function<Status(StageEvent)>& emit)> on_demand = {});
std::unique_ptr<Actor> make_producer_consumer(ProducerOptions producer, ConsumerOptions consumer,
                                              std::function<void(StageEvent&, std::vector<StageEvent>&)> fn);
std::unique_ptr<Actor> make_consumer(ConsumerOptions options, std::function<void(StageEvent&)> fn,
                                     std::function<void(const StageEvent&, const std::string&)> on_failed = {});
std::unique_ptr<Actor> make_batch_consumer(ConsumerOptions options, BatcherOptions batcher,
                                           std::function<void(std::vector<StageEvent>&)> fn);

// Blocking helpers for threads outside the runtime.
// Hands events to a producer (any Producer, or a ProducerConsumer); the
// buffer's overflow policy applies to each.
Result<PushResult> push(Runtime& rt, Pid producer, std::vector<StageEvent> events,
                        std::chrono::milliseconds timeout = std::chrono::seconds(5));
Result<StageStats> stats(Runtime& rt, Pid stage, std::chrono::milliseconds timeout = std::chrono::seconds(5));
// Drains a pipeline: sends Drain to every stage in `stages` (the sources act
// on it), then waits for all of them to exit. After `timeout` the survivors
// get exit(shutdown) and the result is Errc::timeout naming how many were left.
Status drain(Runtime& rt, const std::vector<Pid>& stages, std::chrono::milliseconds timeout);

// A child for the end of a supervisor's child list (Broadway's terminator):
// when the supervisor stops it — first, as the last child — it drains the
// stages registered under `stage_names` (at most `timeout`) before the
// supervisor stops them. Give its ChildSpec a shutdown above `timeout`.
ChildSpec drain_on_shutdown(std::string id, std::vector<std::string> stage_names, std::chrono::milliseconds timeout);

}  // namespace stage

}  // namespace canopy
