// Room stages/: GenStage-like demand-driven pipelines (producers,
// producer-consumers, consumers, batchers, dispatchers, acknowledgement).
// Stages are ordinary processes: the room may use the public runtime API and
// emits [canopy, stage, ...] events; their metrics are defined in
// instrumentation/stage_telemetry.
//
// This file: The stage engine: subscriptions, demand accounting, the producer
// buffer and its dispatchers, acknowledgement and redelivery, drain,
// telemetry.
#include "canopy/core/stage.hpp"

#include <algorithm>
#include <deque>
#include <exception>
#include <limits>
#include <stdexcept>
#include <thread>

#include "canopy/core/runtime.hpp"

namespace canopy {

const char* to_string(BufferOverflow policy) {
  switch (policy) {
    case BufferOverflow::drop_oldest:
      return "drop_oldest";
    case BufferOverflow::drop_newest:
      return "drop_newest";
    case BufferOverflow::reject:
      return "reject";
  }
  return "?";
}

const char* to_string(DispatcherKind kind) {
  switch (kind) {
    case DispatcherKind::demand:
      return "demand";
    case DispatcherKind::broadcast:
      return "broadcast";
    case DispatcherKind::partition:
      return "partition";
  }
  return "?";
}

namespace {

// The protocol between stages. `ref` is the consumer's monitor ref of the
// producer: unique per subscription, chosen by the consumer.
struct SubscribeMsg {
  uint64_t ref;
  uint32_t partition;
  uint64_t ask;
};
// Consumer -> producer: `ask` more events; `ack` more events handled (in order).
struct DemandMsg {
  uint64_t ref;
  uint64_t ask;
  uint64_t ack;
};
// Producer -> consumer.
struct EventsMsg {
  uint64_t ref;
  std::vector<StageEvent> events;
};
struct EndOfStreamMsg {
  uint64_t ref;
};
struct StatsRequest {};
struct BatchTimeout {
  uint64_t generation;
};
// Look again for the producer registered under an upstream's name.
struct ResubscribeTick {
  size_t upstream;
  uint64_t epoch;
};
constexpr std::chrono::milliseconds kResubscribeEvery{10};

// A buffered or sent event. `origin` names the input event a
// producer-consumer made it from (0: none), so that input is acknowledged
// upstream only once everything made from it was acknowledged downstream.
struct Item {
  StageEvent event;
  uint64_t origin = 0;
};
using Queue = std::deque<Item>;

}  // namespace

namespace detail {

struct StageState {
  // A consumer subscribed to this stage.
  struct Downstream {
    Pid consumer;
    uint64_t ref = 0;
    MonitorRef monitor = 0;
    uint32_t partition = 0;
    uint64_t demand = 0;    // asked, not yet sent
    Queue unacked;          // sent, not yet acknowledged (oldest first)
    Queue redeliver;        // broadcast only: this subscriber's own redeliveries
    std::vector<Item> out;  // to send at the end of the current hook
    bool eos_sent = false;
  };
  // A producer this stage subscribes to.
  struct Upstream {
    SubscribeTo spec;
    Pid producer;
    uint64_t ref = 0;  // our monitor ref of it
    uint64_t outstanding = 0;
    bool done = false;  // end of stream received, or the producer is gone
    bool gone = false;  // the producer exited (entries are never erased: indices stay valid)
    // A new subscription starts a new epoch: acknowledgements of events from
    // an earlier one are not sent to the new producer.
    uint64_t epoch = 0;
    // Waiting for a new process under spec.name (resubscribe_timeout).
    bool waiting = false;
    Pid dead;
    ExitReason down_reason;
    std::chrono::steady_clock::time_point deadline;
  };
  // Producer-consumers: an input event whose outputs are not all acknowledged yet.
  struct Input {
    size_t upstream;
    uint64_t epoch;
    uint64_t pending;  // outputs made from it still buffered or unacknowledged
  };
  struct Batched {
    StageEvent event;
    size_t upstream;  // index into upstreams
    uint64_t epoch;
  };

  StageState(Stage& owner, std::optional<ProducerOptions> p, std::optional<ConsumerOptions> c)
      : self(owner), producer(std::move(p)), consumer(std::move(c)) {
    stats.name = producer ? producer->name : consumer->name;
  }

  Stage& self;
  // Constant after construction.
  const std::optional<ProducerOptions> producer;
  const std::optional<ConsumerOptions> consumer;

  // Owner process only.
  StageStats stats;
  std::vector<Queue> queues;     // buffered events per partition (one unless partitioned)
  std::vector<Queue> redeliver;  // per partition; never dropped, never counted against buffer_size
  std::deque<Queue> orphans;     // broadcast: unacked events of gone subscribers, for the next ones
  size_t buffered = 0;           // sum of queues
  std::vector<Downstream> downs;
  std::vector<Upstream> ups;
  std::vector<Batched> batch;
  std::deque<Input> inputs;  // oldest first; inputs[0] has sequence number first_input
  uint64_t first_input = 1;
  uint64_t current_origin = 0;  // the input being handled (emit() tags its outputs)
  uint64_t batch_generation = 0;
  uint64_t armed_generation = std::numeric_limits<uint64_t>::max();  // the batch a timeout is set for
  bool draining = false;
  bool eos_sent = false;
  bool in_demand = false;
  bool stopping = false;

  // Telemetry: resolved at init; `last` is what was emitted so far.
  struct Events {
    const telemetry::Event* in = nullptr;
    const telemetry::Event* out = nullptr;
    const telemetry::Event* drop = nullptr;
    const telemetry::Event* ack = nullptr;
    const telemetry::Event* redeliver = nullptr;
    const telemetry::Event* failed = nullptr;
    const telemetry::Event* processed = nullptr;
    const telemetry::Event* state = nullptr;
  } ev;
  telemetry::Bus* bus = nullptr;
  StageStats last;
  bool state_emitted = false;

  // --- helpers -------------------------------------------------------------
  bool is_producer() const { return producer.has_value(); }
  bool is_consumer() const { return consumer.has_value(); }
  DispatcherKind kind() const { return producer ? producer->dispatcher.kind : DispatcherKind::demand; }
  uint32_t partitions() const { return static_cast<uint32_t>(queues.size()); }

  size_t redeliver_length() const {
    size_t n = 0;
    for (auto& q : redeliver) n += q.size();
    for (auto& d : downs) n += d.redeliver.size();
    for (auto& q : orphans) n += q.size();
    return n;
  }
  uint64_t downstream_demand() const {
    uint64_t n = 0;
    for (auto& d : downs) n += d.demand;
    return n;
  }
  uint64_t upstream_outstanding() const {
    uint64_t n = 0;
    for (auto& u : ups) n += u.outstanding;
    return n;
  }

  Downstream* find_down(Pid consumer_pid, uint64_t ref) {
    for (auto& d : downs) {
      if (d.ref == ref && d.consumer == consumer_pid) return &d;
    }
    return nullptr;
  }
  Upstream* find_up(uint64_t ref) {
    for (auto& u : ups) {
      if (u.ref == ref && !u.done) return &u;
    }
    return nullptr;
  }

  uint32_t partition_of(const StageEvent& e) const {
    if (kind() != DispatcherKind::partition || partitions() <= 1 || !producer->dispatcher.partition_by) return 0;
    return static_cast<uint32_t>(producer->dispatcher.partition_by(e) % partitions());
  }

  // The subscriber of partition `p` (any, for demand) with the most demand; null when none has any.
  Downstream* most_demand(uint32_t p) {
    Downstream* best = nullptr;
    for (auto& d : downs) {
      if (kind() == DispatcherKind::partition && d.partition != p) continue;
      if (d.demand > 0 && (best == nullptr || d.demand > best->demand)) best = &d;
    }
    return best;
  }
  bool all_have_demand() const {
    if (downs.empty()) return false;
    for (auto& d : downs) {
      if (d.demand == 0 || !d.redeliver.empty()) return false;
    }
    return true;
  }

  void to(Downstream& d, Item e) {
    d.out.push_back(std::move(e));
    --d.demand;
  }

  // Outputs made from input `origin`: `delta` more (or fewer) still to be acknowledged.
  void track(uint64_t origin, int64_t delta) {
    if (origin < first_input) return;  // 0 (untracked) or already released
    Input& in = inputs[origin - first_input];
    in.pending = static_cast<uint64_t>(static_cast<int64_t>(in.pending) + delta);
  }
  uint64_t begin_input(size_t upstream) {
    inputs.push_back(Input{upstream, ups[upstream].epoch, 0});
    return first_input + inputs.size() - 1;
  }
  // Inputs whose outputs are all acknowledged, oldest first: acknowledged upstream.
  void release_inputs(std::vector<uint64_t>& acks) {
    while (!inputs.empty() && inputs.front().pending == 0) {
      if (ups[inputs.front().upstream].epoch == inputs.front().epoch) ++acks[inputs.front().upstream];
      inputs.pop_front();
      ++first_input;
    }
  }

  // --- producer side ------------------------------------------------------------
  Status emit(StageEvent e) {
    if (!producer) return Error(Errc::invalid_argument, "emit() on a stage that is not a producer");
    if (!is_consumer()) ++stats.events_in;  // producer-consumers count what they receive
    if (draining && !is_consumer()) {
      ++stats.rejected;
      return Error(Errc::shutting_down, "stage '" + stats.name + "' is draining");
    }
    const uint32_t p = partition_of(e);
    Item item{std::move(e), current_origin};
    if (queues[p].empty() && redeliver[p].empty()) {
      if (kind() == DispatcherKind::broadcast) {
        if (all_have_demand()) {
          track(item.origin, static_cast<int64_t>(downs.size()));
          for (size_t i = 0; i + 1 < downs.size(); ++i) to(downs[i], item);
          to(downs.back(), std::move(item));
          return {};
        }
      } else if (Downstream* d = most_demand(p)) {
        track(item.origin, 1);
        to(*d, std::move(item));
        return {};
      }
    }
    if (buffered >= producer->buffer_size) {
      switch (producer->overflow) {
        case BufferOverflow::drop_oldest: {
          Queue* victim = queues[p].empty() ? nullptr : &queues[p];
          if (victim == nullptr) {
            for (auto& q : queues) {
              if (!q.empty() && (victim == nullptr || q.size() > victim->size())) victim = &q;
            }
          }
          if (victim == nullptr) {  // buffer_size 0: nothing to make room with
            ++stats.dropped_newest;
            return Error(Errc::dropped, "stage '" + stats.name + "' has no buffer");
          }
          track(victim->front().origin, -1);
          victim->pop_front();
          --buffered;
          ++stats.dropped_oldest;
          break;
        }
        case BufferOverflow::drop_newest:
          ++stats.dropped_newest;
          return Error(Errc::dropped, "stage '" + stats.name + "' buffer is full");
        case BufferOverflow::reject:
          ++stats.rejected;
          return Error(Errc::mailbox_full, "stage '" + stats.name + "' buffer is full");
      }
    }
    track(item.origin, 1);
    queues[p].push_back(std::move(item));
    ++buffered;
    return {};
  }

  // Moves up to d.demand events from `q` (front first) to d.
  size_t take(Downstream& d, Queue& q, bool counts) {
    size_t n = 0;
    while (d.demand > 0 && !q.empty()) {
      to(d, std::move(q.front()));
      q.pop_front();
      ++n;
    }
    if (counts) buffered -= n;
    return n;
  }

  // Sends what the buffer holds to subscribers with demand.
  void dispatch() {
    if (!producer || downs.empty()) return;
    if (kind() == DispatcherKind::broadcast) {
      for (auto& d : downs) {
        while (d.demand > 0 && !d.redeliver.empty()) {
          to(d, std::move(d.redeliver.front()));
          d.redeliver.pop_front();
        }
      }
      uint64_t k = queues[0].size();
      for (auto& d : downs) k = std::min<uint64_t>(k, d.redeliver.empty() ? d.demand : 0);
      for (uint64_t i = 0; i < k; ++i) {
        track(queues[0].front().origin, static_cast<int64_t>(downs.size()) - 1);
        for (size_t j = 0; j + 1 < downs.size(); ++j) to(downs[j], queues[0].front());
        to(downs.back(), std::move(queues[0].front()));
        queues[0].pop_front();
        --buffered;
      }
      return;
    }
    for (uint32_t p = 0; p < partitions(); ++p) {
      while (!redeliver[p].empty() || !queues[p].empty()) {
        Downstream* d = most_demand(p);
        if (d == nullptr) break;
        if (take(*d, redeliver[p], false) == 0 || d->demand > 0) take(*d, queues[p], true);
      }
    }
  }

  // Sends every pending batch.
  void flush() {
    for (auto& d : downs) {
      if (d.out.empty()) continue;
      stats.events_out += d.out.size();
      std::vector<StageEvent> events;
      events.reserve(d.out.size());
      if (producer->acknowledge) {
        for (auto& item : d.out) {
          events.push_back(item.event);
          d.unacked.push_back(std::move(item));
        }
      } else {
        for (auto& item : d.out) {
          track(item.origin, -1);
          events.push_back(std::move(item.event));
        }
      }
      (void)self.send(d.consumer, EventsMsg{d.ref, std::move(events)});
      d.out.clear();
    }
  }

  // Downstream demand nobody's buffer covers, for handle_demand.
  uint64_t uncovered_demand() const {
    if (downs.empty()) return 0;
    if (kind() == DispatcherKind::broadcast) {
      uint64_t k = std::numeric_limits<uint64_t>::max();
      for (auto& d : downs) k = std::min(k, d.demand);
      return k;
    }
    return downstream_demand();
  }

  void ask_handler() {
    if (!producer || draining || in_demand || is_consumer()) return;
    const uint64_t n = uncovered_demand();
    if (n == 0) return;
    in_demand = true;
    try {
      self.on_demand(static_cast<size_t>(n));
    } catch (...) {
      in_demand = false;
      throw;
    }
    in_demand = false;
  }

  void on_subscribe(Pid from, const SubscribeMsg& s) {
    if (!producer) return;
    Downstream d;
    d.consumer = from;
    d.ref = s.ref;
    d.partition = s.partition < partitions() ? s.partition : 0;
    d.demand = s.ask;
    d.monitor = self.monitor(from);
    if (kind() == DispatcherKind::broadcast && !orphans.empty()) {
      d.redeliver = std::move(orphans.front());
      orphans.pop_front();
    }
    if (eos_sent) {
      (void)self.send(from, EndOfStreamMsg{s.ref});
      d.eos_sent = true;
    }
    downs.push_back(std::move(d));
    dispatch();
    ask_handler();
  }

  void on_demand_msg(Pid from, const DemandMsg& m) {
    Downstream* d = find_down(from, m.ref);
    if (d == nullptr) return;  // cancelled meanwhile
    const uint64_t acked = std::min<uint64_t>(m.ack, d->unacked.size());
    for (uint64_t i = 0; i < acked; ++i) track(d->unacked[i].origin, -1);
    d->unacked.erase(d->unacked.begin(), d->unacked.begin() + static_cast<std::ptrdiff_t>(acked));
    stats.acked += producer->acknowledge ? acked : m.ack;
    d->demand += m.ask;
    dispatch();
    if (m.ask > 0) ask_handler();
  }

  // A consumer went away: its unacknowledged events go back for redelivery.
  void remove_down(size_t i) {
    Downstream& d = downs[i];
    Queue lost = std::move(d.unacked);
    lost.insert(lost.end(), std::make_move_iterator(d.out.begin()), std::make_move_iterator(d.out.end()));
    if (!lost.empty()) {
      stats.redelivered += lost.size();
      if (kind() == DispatcherKind::broadcast) {
        lost.insert(lost.end(), std::make_move_iterator(d.redeliver.begin()),
                    std::make_move_iterator(d.redeliver.end()));
        orphans.push_back(std::move(lost));
      } else {
        Queue& q = redeliver[d.partition < partitions() ? d.partition : 0];
        q.insert(q.begin(), std::make_move_iterator(lost.begin()), std::make_move_iterator(lost.end()));
      }
    } else if (kind() == DispatcherKind::broadcast && !d.redeliver.empty()) {
      orphans.push_back(std::move(d.redeliver));
    }
    downs.erase(downs.begin() + static_cast<std::ptrdiff_t>(i));
    dispatch();
  }

  // Draining producers: end of stream once everything is sent; exit once acknowledged.
  void check_drained() {
    if (!producer || !draining || stopping) return;
    if (eos_sent && downs.empty()) {
      // Everyone left after the end of stream; what came back for redelivery
      // has nobody to go to (terminate() reports it as dropped, reason shutdown).
      finish(ExitReason::normal());
      return;
    }
    if (buffered > 0 || redeliver_length() > 0) return;
    for (auto& d : downs) {
      if (!d.out.empty()) return;
    }
    if (!eos_sent) {
      eos_sent = true;
      for (auto& d : downs) {
        if (!d.eos_sent) (void)self.send(d.consumer, EndOfStreamMsg{d.ref});
        d.eos_sent = true;
      }
    }
    for (auto& d : downs) {
      if (!d.unacked.empty()) return;
    }
    finish(ExitReason::normal());
  }

  void finish(ExitReason reason) {
    if (stopping) return;
    stopping = true;
    self.stop(std::move(reason));
  }

  // --- consumer side -----------------------------------------------------------
  Status subscribe_all() {
    for (const SubscribeTo& spec : consumer->subscribe_to) {
      Pid to = spec.pid;
      if (!to.valid() && !spec.name.empty()) to = self.runtime().whereis(spec.name);
      if (!to.valid()) {
        return Error(Errc::dead_process, "stage '" + stats.name + "': producer '" +
                                             (spec.name.empty() ? spec.pid.to_string() : spec.name) + "' not found");
      }
      Upstream u;
      u.spec = spec;
      if (u.spec.max_demand == 0) u.spec.max_demand = 1;
      if (u.spec.min_demand == 0 || u.spec.min_demand >= u.spec.max_demand)
        u.spec.min_demand = u.spec.max_demand * 3 / 4;
      ups.push_back(std::move(u));
      subscribe(ups.back(), to);
    }
    return {};
  }

  void subscribe(Upstream& u, Pid to) {
    u.producer = to;
    u.ref = self.monitor(to);
    u.done = false;
    u.gone = false;
    u.waiting = false;
    u.outstanding = ask_room(u.spec.max_demand);
    (void)self.send(to, SubscribeMsg{u.ref, u.spec.partition, u.outstanding});
  }

  // Producer-consumers ask upstream only for what their buffer can take.
  uint64_t ask_room(uint64_t want) const {
    if (!producer) return want;
    const uint64_t held = buffered + redeliver_length() + upstream_outstanding();
    const uint64_t cap = std::max<uint64_t>(producer->buffer_size, 1);
    return held >= cap ? 0 : std::min(want, cap - held);
  }

  // How much to ask `u` for now (0: not yet).
  uint64_t next_ask(const Upstream& u) const {
    if (u.done || u.outstanding > u.spec.min_demand) return 0;
    const uint64_t want = u.spec.max_demand - u.outstanding;
    const uint64_t ask = ask_room(want);
    if (ask == want) return ask;
    // Throttled by the buffer: wait until a worthwhile amount fits.
    const uint64_t worth = std::max<uint64_t>(
        1, std::min<uint64_t>(u.spec.max_demand - u.spec.min_demand, std::max<uint64_t>(producer->buffer_size / 2, 1)));
    return ask >= worth ? ask : 0;
  }

  // Sends acks and new demand upstream.
  void ask_upstream(std::vector<uint64_t>* acks) {
    for (size_t i = 0; i < ups.size(); ++i) {
      Upstream& u = ups[i];
      const uint64_t ack = acks != nullptr ? (*acks)[i] : 0;
      const uint64_t ask = next_ask(u);
      if (ask == 0 && ack == 0) continue;
      if (u.gone) continue;
      u.outstanding += ask;
      if (!producer) stats.acked += ack;  // producer-consumers count the acks they receive
      (void)self.send(u.producer, DemandMsg{u.ref, ask, ack});
    }
  }

  // One event through the handler; the reason it threw (reported), or nullopt.
  std::optional<std::string> process_one(StageEvent& e, std::vector<StageEvent>* out) {
    std::string reason;
    try {
      self.on_event(e, out);
      return std::nullopt;
    } catch (const std::exception& ex) {
      reason = ex.what();
    } catch (...) {
      reason = "unknown exception";
    }
    report_failed(e, reason);
    return reason;
  }

  void report_failed(const StageEvent& e, const std::string& reason) {
    ++stats.failed;
    if (ev.failed->active()) bus->execute(*ev.failed, {{"count", 1.0}}, {{"stage", stats.name}, {"reason", reason}});
    self.handle_failed(e, reason);
  }

  void on_events(EventsMsg& m) {
    Upstream* u = find_up(m.ref);
    if (u == nullptr) return;  // cancelled meanwhile
    const size_t ui = static_cast<size_t>(u - ups.data());
    const uint64_t k = m.events.size();
    stats.peak_in_flight = std::max<uint64_t>(stats.peak_in_flight, std::max<uint64_t>(u->outstanding, k));
    u->outstanding -= std::min(u->outstanding, k);
    stats.events_in += k;
    std::vector<uint64_t> acks(ups.size(), 0);
    if (self.batcher() != nullptr) {
      for (auto& e : m.events) batch.push_back(Batched{std::move(e), ui, u->epoch});
      run_batches(false, acks);
    } else {
      const auto t0 = std::chrono::steady_clock::now();
      std::vector<StageEvent> out;
      std::vector<StageEvent>* outp = producer ? &out : nullptr;
      for (size_t i = 0; i < m.events.size(); ++i) {
        // Being killed: stop here, acknowledge nothing (the batch is redelivered).
        if (self.kill_pending()) return;
        if (producer) current_origin = begin_input(ui);
        const std::optional<std::string> failure = process_one(m.events[i], outp);
        if (failure && consumer->on_failure == FailurePolicy::crash) {
          // Acknowledge what was handled before the failing event, then crash:
          // the failing event and those after it are redelivered. (A
          // producer-consumer acknowledges only what its consumers did.)
          current_origin = 0;
          if (!producer && i > 0) {
            (void)self.send(u->producer, DemandMsg{u->ref, 0, i});
            stats.events_out += i;
            stats.acked += i;
          }
          throw std::runtime_error("stage '" + stats.name + "' crashed on a failed event: " + *failure);
        }
        for (auto& o : out) (void)emit(std::move(o));
        out.clear();
      }
      current_origin = 0;
      processed(t0, k);
      if (producer) return;  // pump() dispatches, then acknowledges what is done and asks for more
      stats.events_out += k;
      acks[ui] = k;
    }
    ask_upstream(&acks);
  }

  void processed(std::chrono::steady_clock::time_point t0, uint64_t k) {
    if (ev.processed->active()) {
      const double ns = static_cast<double>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
      bus->execute(*ev.processed, {{"duration", ns}, {"count", static_cast<double>(k)}}, {{"stage", stats.name}});
    }
  }

  // Handles full batches (all of it when `all`), counting acks per upstream.
  void run_batches(bool all, std::vector<uint64_t>& acks) {
    const size_t size = std::max<size_t>(self.batcher()->batch_size, 1);
    while (batch.size() >= size || (all && !batch.empty())) {
      const size_t n = std::min(size, batch.size());
      std::vector<StageEvent> events;
      events.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        events.push_back(std::move(batch[i].event));
        if (batch[i].upstream < acks.size() && ups[batch[i].upstream].epoch == batch[i].epoch)
          ++acks[batch[i].upstream];
      }
      batch.erase(batch.begin(), batch.begin() + static_cast<std::ptrdiff_t>(n));
      ++batch_generation;
      const auto t0 = std::chrono::steady_clock::now();
      std::string reason;
      bool ok = true;
      try {
        self.on_batch(events);
      } catch (const std::exception& ex) {
        ok = false;
        reason = ex.what();
      } catch (...) {
        ok = false;
        reason = "unknown exception";
      }
      if (!ok) {
        for (auto& e : events) report_failed(e, reason);
        if (consumer->on_failure == FailurePolicy::crash) {
          throw std::runtime_error("stage '" + stats.name + "' crashed on a failed batch: " + reason);
        }
      }
      stats.events_out += n;
      processed(t0, n);
    }
    if (!batch.empty() && armed_generation != batch_generation) {
      armed_generation = batch_generation;
      self.send_after(self.self(), self.batcher()->batch_timeout, BatchTimeout{batch_generation});
    }
  }

  void on_batch_timeout(const BatchTimeout& t) {
    if (t.generation != batch_generation || batch.empty()) return;
    std::vector<uint64_t> acks(ups.size(), 0);
    run_batches(true, acks);
    ask_upstream(&acks);
  }

  void end_of_stream(Upstream& u) {
    u.done = true;
    u.outstanding = 0;
    self.demonitor(u.ref);
    for (auto& x : ups) {
      if (!x.done || x.waiting) return;
    }
    upstreams_finished();
  }

  void upstreams_finished() {
    if (self.batcher() != nullptr && !batch.empty()) {
      std::vector<uint64_t> acks(ups.size(), 0);
      run_batches(true, acks);
      for (size_t i = 0; i < ups.size(); ++i) {
        if (acks[i] > 0 && !ups[i].gone) {
          stats.acked += acks[i];
          (void)self.send(ups[i].producer, DemandMsg{ups[i].ref, 0, acks[i]});
        }
      }
    }
    if (producer) {
      draining = true;  // deliver what we hold, then end of stream downstream
      check_drained();
    } else {
      finish(ExitReason::normal());
    }
  }

  void producer_down(size_t i, const ExitReason& reason) {
    Upstream& u = ups[i];
    u.done = true;
    u.gone = true;
    u.outstanding = 0;
    ++u.epoch;
    if (!u.spec.name.empty() && !reason.is_orderly() && u.spec.resubscribe_timeout.count() > 0 && !stopping) {
      // Its supervisor will probably restart it: wait for the name to come back.
      u.waiting = true;
      u.dead = u.producer;
      u.down_reason = reason;
      u.deadline = std::chrono::steady_clock::now() + u.spec.resubscribe_timeout;
      self.send_after(self.self(), kResubscribeEvery, ResubscribeTick{i, u.epoch});
      return;
    }
    cancelled(u.spec.cancel, reason);
  }

  void cancelled(CancelPolicy policy, const ExitReason& reason) {
    const bool orderly = reason.is_orderly();
    if (policy == CancelPolicy::permanent || (policy == CancelPolicy::transient && !orderly)) {
      finish(orderly ? reason
                     : ExitReason::error("producer of stage '" + stats.name + "' exited: " + reason.to_string()));
    }
  }

  void on_resubscribe(const ResubscribeTick& t) {
    if (t.upstream >= ups.size() || stopping) return;
    Upstream& u = ups[t.upstream];
    if (!u.waiting || u.epoch != t.epoch) return;
    const Pid p = self.runtime().whereis(u.spec.name);
    if (p.valid() && p != u.dead) {
      subscribe(u, p);
    } else if (std::chrono::steady_clock::now() >= u.deadline) {
      u.waiting = false;
      cancelled(u.spec.cancel, u.down_reason);
    } else {
      self.send_after(self.self(), kResubscribeEvery, ResubscribeTick{t.upstream, t.epoch});
    }
  }

  // --- every hook ends here -------------------------------------------------------
  void pump() {
    if (producer) {
      dispatch();
      flush();
      if (is_consumer()) {
        std::vector<uint64_t> acks(ups.size(), 0);
        release_inputs(acks);
        ask_upstream(&acks);
      }
      check_drained();
    }
    emit_telemetry();
  }

  void fill_dynamic(StageStats& s) const {
    s.demand_outstanding = producer ? downstream_demand() : upstream_outstanding();
    s.buffer_length = producer ? buffered + redeliver_length() : batch.size();
    s.unacked = 0;
    for (auto& d : downs) s.unacked += d.unacked.size();
    s.consumers = static_cast<uint32_t>(downs.size());
    s.producers = 0;
    for (auto& u : ups) s.producers += u.done ? 0 : 1;
  }

  void emit_telemetry() {
    fill_dynamic(stats);
    auto count = [&](const telemetry::Event* e, uint64_t now, uint64_t& before) {
      if (now != before && e->active())
        bus->execute(*e, {{"count", static_cast<double>(now - before)}}, {{"stage", stats.name}});
      before = now;
    };
    count(ev.in, stats.events_in, last.events_in);
    count(ev.out, stats.events_out, last.events_out);
    count(ev.ack, stats.acked, last.acked);
    count(ev.redeliver, stats.redelivered, last.redelivered);
    auto drop = [&](const char* reason, uint64_t now, uint64_t& before) {
      if (now != before && ev.drop->active()) {
        bus->execute(*ev.drop, {{"count", static_cast<double>(now - before)}},
                     {{"stage", stats.name}, {"reason", reason}});
      }
      before = now;
    };
    drop("drop_oldest", stats.dropped_oldest, last.dropped_oldest);
    drop("drop_newest", stats.dropped_newest, last.dropped_newest);
    drop("reject", stats.rejected, last.rejected);
    if (!state_emitted || stats.demand_outstanding != last.demand_outstanding ||
        stats.buffer_length != last.buffer_length) {
      if (ev.state->active()) {
        bus->execute(*ev.state,
                     {{"demand_outstanding", static_cast<double>(stats.demand_outstanding)},
                      {"buffer_length", static_cast<double>(stats.buffer_length)}},
                     {{"stage", stats.name}});
      }
      state_emitted = true;
      last.demand_outstanding = stats.demand_outstanding;
      last.buffer_length = stats.buffer_length;
    }
  }
};

}  // namespace detail

// --- Stage ---------------------------------------------------------------------------

Stage::Stage(std::optional<ProducerOptions> producer, std::optional<ConsumerOptions> consumer)
    : s_(std::make_unique<detail::StageState>(*this, std::move(producer), std::move(consumer))) {}

Stage::~Stage() = default;

Status Stage::init() {
  auto& s = *s_;
  s.bus = &runtime().telemetry_bus();
  auto ev = [&](const char* last) { return &s.bus->event({"canopy", "stage", last}); };
  s.ev = {ev("events_in"), ev("events_out"), ev("drop"),      ev("ack"),
          ev("redeliver"), ev("failed"),     ev("processed"), ev("state")};
  if (s.producer) {
    uint32_t n = 1;
    if (s.producer->dispatcher.kind == DispatcherKind::partition) {
      if (s.producer->dispatcher.partitions == 0 || !s.producer->dispatcher.partition_by) {
        return Error(Errc::invalid_argument,
                     "stage '" + s.stats.name + "': the partition dispatcher needs partitions > 0 and partition_by");
      }
      n = s.producer->dispatcher.partitions;
    }
    s.queues.resize(n);
    s.redeliver.resize(n);
  }
  if (s.consumer) {
    if (Status st = s.subscribe_all(); !st.ok()) return st;
  }
  return on_init();
}

void Stage::handle(Message& m) {
  auto& s = *s_;
  if (m.kind() == MessageKind::call) {
    auto& envelope = static_cast<CallEnvelope&>(m);
    Message& req = envelope.request();
    if (req.is<StatsRequest>()) {
      StageStats out = s.stats;
      s.fill_dynamic(out);
      envelope.from().reply(std::move(out));
    } else if (auto* push = req.as<stage::Push>()) {
      stage::PushResult r;
      for (auto& e : push->events) {
        const Status st = s.emit(std::move(e));
        if (st.ok()) {
          ++r.accepted;
        } else if (st.code() == Errc::dropped) {
          ++r.dropped;
        } else {
          ++r.rejected;
        }
      }
      envelope.from().reply(r);
    } else {
      envelope.from().reply_error(
          Error(Errc::bad_request, "a stage does not answer calls of type " + type_name(req.type())));
    }
    s.pump();
    return;
  }
  if (auto* e = m.as<EventsMsg>()) {
    s.on_events(*e);
  } else if (auto* d = m.as<DemandMsg>()) {
    s.on_demand_msg(m.sender(), *d);
  } else if (auto* sub = m.as<SubscribeMsg>()) {
    s.on_subscribe(m.sender(), *sub);
  } else if (auto* eos = m.as<EndOfStreamMsg>()) {
    if (auto* u = s.find_up(eos->ref)) s.end_of_stream(*u);
  } else if (auto* t = m.as<BatchTimeout>()) {
    s.on_batch_timeout(*t);
  } else if (auto* r = m.as<ResubscribeTick>()) {
    s.on_resubscribe(*r);
  } else if (auto* down = m.as<DownMessage>()) {
    bool ours = false;
    for (size_t i = 0; i < s.downs.size(); ++i) {
      if (s.downs[i].monitor == down->ref) {
        s.remove_down(i);
        ours = true;
        break;
      }
    }
    for (size_t i = 0; !ours && i < s.ups.size(); ++i) {
      if (s.ups[i].ref == down->ref) {
        s.producer_down(i, down->reason);
        ours = true;
      }
    }
    if (!ours) handle_info(m);
  } else if (m.is<stage::Drain>()) {
    bool has_upstream = false;
    for (auto& u : s.ups) has_upstream = has_upstream || !u.done || u.waiting;
    if (!has_upstream) {
      if (s.producer) {
        s.draining = true;
      } else {
        s.finish(ExitReason::normal());
      }
    }
  } else {
    handle_info(m);
  }
  s.pump();
}

void Stage::terminate(const ExitReason& reason) {
  auto& s = *s_;
  // What a producer still held is gone with it.
  const uint64_t lost = s.buffered + s.redeliver_length();
  if (lost > 0 && s.ev.drop != nullptr && s.ev.drop->active()) {
    s.bus->execute(*s.ev.drop, {{"count", static_cast<double>(lost)}},
                   {{"stage", s.stats.name}, {"reason", "shutdown"}});
  }
  if (s.ev.state != nullptr && s.ev.state->active()) {
    s.bus->execute(*s.ev.state, {{"demand_outstanding", 0.0}, {"buffer_length", 0.0}}, {{"stage", s.stats.name}});
  }
  on_terminate(reason);
}

Status Stage::emit(StageEvent event) { return s_->emit(std::move(event)); }

uint64_t Stage::unmet_demand() const { return s_->producer && !s_->is_consumer() ? s_->uncovered_demand() : 0; }

const StageStats& Stage::stage_stats() const {
  s_->fill_dynamic(s_->stats);
  return s_->stats;
}

Producer::Producer(ProducerOptions options) : Stage(std::move(options), std::nullopt) {}

ProducerConsumer::ProducerConsumer(ProducerOptions producer, ConsumerOptions consumer)
    : Stage(std::move(producer), std::move(consumer)) {}

Consumer::Consumer(ConsumerOptions options) : Stage(std::nullopt, std::move(options)) {}

BatchConsumer::BatchConsumer(ConsumerOptions options, BatcherOptions batcher)
    : Stage(std::nullopt, std::move(options)), batcher_(batcher) {}

// --- lambda stages and helpers ------------------------------------------------------------

namespace stage {
namespace {

class FnProducer final : public Producer {
 public:
  FnProducer(ProducerOptions o, std::function<void(size_t, const std::function<Status(StageEvent)>&)> fn)
      : Producer(std::move(o)), fn_(std::move(fn)), emit_([this](StageEvent e) { return emit(std::move(e)); }) {}
  void handle_demand(size_t demand) override {
    if (fn_) fn_(demand, emit_);
  }

 private:
  std::function<void(size_t, const std::function<Status(StageEvent)>&)> fn_;
  std::function<Status(StageEvent)> emit_;
};

class FnProducerConsumer final : public ProducerConsumer {
 public:
  FnProducerConsumer(ProducerOptions p, ConsumerOptions c,
                     std::function<void(StageEvent&, std::vector<StageEvent>&)> fn)
      : ProducerConsumer(std::move(p), std::move(c)), fn_(std::move(fn)) {}
  void handle_event(StageEvent& e, std::vector<StageEvent>& out) override { fn_(e, out); }

 private:
  std::function<void(StageEvent&, std::vector<StageEvent>&)> fn_;
};

class FnConsumer final : public Consumer {
 public:
  FnConsumer(ConsumerOptions o, std::function<void(StageEvent&)> fn,
             std::function<void(const StageEvent&, const std::string&)> failed)
      : Consumer(std::move(o)), fn_(std::move(fn)), failed_(std::move(failed)) {}
  void handle_event(StageEvent& e) override { fn_(e); }
  void handle_failed(const StageEvent& e, const std::string& reason) override {
    if (failed_) failed_(e, reason);
  }

 private:
  std::function<void(StageEvent&)> fn_;
  std::function<void(const StageEvent&, const std::string&)> failed_;
};

class FnBatchConsumer final : public BatchConsumer {
 public:
  FnBatchConsumer(ConsumerOptions o, BatcherOptions b, std::function<void(std::vector<StageEvent>&)> fn)
      : BatchConsumer(std::move(o), b), fn_(std::move(fn)) {}
  void handle_batch(std::vector<StageEvent>& batch) override { fn_(batch); }

 private:
  std::function<void(std::vector<StageEvent>&)> fn_;
};

// Broadway's terminator: traps exits; when its supervisor stops it, it
// drains the stages and exits once they are gone or the timeout passed. It
// never blocks a scheduler: it waits on monitors and a timer.
struct DrainDeadline {};

class DrainOnShutdown final : public Actor {
 public:
  DrainOnShutdown(std::vector<std::string> names, std::chrono::milliseconds timeout)
      : names_(std::move(names)), timeout_(timeout) {}
  Status init() override {
    trap_exit(true);
    return {};
  }
  void handle(Message& m) override {
    if (auto* e = m.as<ExitMessage>()) {
      if (draining_) return;
      draining_ = true;
      reason_ = e->reason;
      for (auto& n : names_) {
        const Pid p = runtime().whereis(n);
        if (!p.valid()) continue;
        refs_.push_back(monitor(p));
        (void)send(p, Drain{});
      }
      if (refs_.empty()) {
        stop(reason_);
        return;
      }
      send_after(self(), timeout_, DrainDeadline{});
    } else if (auto* d = m.as<DownMessage>()) {
      refs_.erase(std::remove(refs_.begin(), refs_.end(), d->ref), refs_.end());
      if (draining_ && refs_.empty()) stop(reason_);
    } else if (m.is<DrainDeadline>()) {
      stop(reason_);
    }
  }

 private:
  const std::vector<std::string> names_;
  const std::chrono::milliseconds timeout_;
  bool draining_ = false;
  ExitReason reason_;
  std::vector<MonitorRef> refs_;
};

}  // namespace

std::unique_ptr<Actor> make_producer(ProducerOptions options,
                                     std::function<void(size_t, const std::function<Status(StageEvent)>&)> on_demand) {
  return std::make_unique<FnProducer>(std::move(options), std::move(on_demand));
}
std::unique_ptr<Actor> make_producer_consumer(ProducerOptions producer, ConsumerOptions consumer,
                                              std::function<void(StageEvent&, std::vector<StageEvent>&)> fn) {
  return std::make_unique<FnProducerConsumer>(std::move(producer), std::move(consumer), std::move(fn));
}
std::unique_ptr<Actor> make_consumer(ConsumerOptions options, std::function<void(StageEvent&)> fn,
                                     std::function<void(const StageEvent&, const std::string&)> on_failed) {
  return std::make_unique<FnConsumer>(std::move(options), std::move(fn), std::move(on_failed));
}
std::unique_ptr<Actor> make_batch_consumer(ConsumerOptions options, BatcherOptions batcher,
                                           std::function<void(std::vector<StageEvent>&)> fn) {
  return std::make_unique<FnBatchConsumer>(std::move(options), batcher, std::move(fn));
}

Result<PushResult> push(Runtime& rt, Pid producer, std::vector<StageEvent> events, std::chrono::milliseconds timeout) {
  return rt.call<PushResult>(producer, Push{std::move(events)}, timeout);
}

Result<StageStats> stats(Runtime& rt, Pid stage, std::chrono::milliseconds timeout) {
  return rt.call<StageStats>(stage, StatsRequest{}, timeout);
}

Status drain(Runtime& rt, const std::vector<Pid>& stages, std::chrono::milliseconds timeout) {
  for (Pid p : stages) (void)rt.send(p, Drain{});
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    size_t alive = 0;
    for (Pid p : stages) alive += rt.alive(p) ? 1 : 0;
    if (alive == 0) return {};
    if (std::chrono::steady_clock::now() >= deadline) {
      for (Pid p : stages) (void)rt.exit(p, ExitReason::shutdown("drain timeout"));
      return Error(Errc::timeout, std::to_string(alive) + " of " + std::to_string(stages.size()) +
                                      " stages had not drained after " + std::to_string(timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

ChildSpec drain_on_shutdown(std::string id, std::vector<std::string> stage_names, std::chrono::milliseconds timeout) {
  ChildSpec c;
  c.id = std::move(id);
  c.start = [names = std::move(stage_names), timeout]() -> std::unique_ptr<Actor> {
    return std::make_unique<DrainOnShutdown>(names, timeout);
  };
  c.shutdown = Shutdown::after(timeout + std::chrono::seconds(1));
  return c;
}

}  // namespace stage

}  // namespace canopy
