// Actor's process-side operations: each runs in the actor's own process.
#include "canopy/core/actor.hpp"

#include "canopy/core/runtime.hpp"
#include "runtime/runtime_impl.hpp"

namespace canopy {

Status Actor::send_message(Pid to, std::unique_ptr<Message> message) {
  return process_->runtime.send(process_, to, std::move(message));
}

void Actor::send_after_untyped(Pid to, std::chrono::milliseconds delay, std::unique_ptr<Message> message) {
  process_->runtime.send_after(to, delay, std::move(message));
}

Pid Actor::parent() const { return process_->parent; }
bool Actor::kill_pending() const { return process_->kill_pending.load(std::memory_order_relaxed); }

void Actor::stop(ExitReason reason) { process_->runtime.request_exit(*process_, std::move(reason)); }
void Actor::trap_exit(bool on) { process_->trap_exit.store(on, std::memory_order_relaxed); }
void Actor::link(Pid other) { process_->runtime.link(*process_, other); }
void Actor::unlink(Pid other) { process_->runtime.unlink(*process_, other); }
MonitorRef Actor::monitor(Pid other) { return process_->runtime.monitor(*process_, other); }
void Actor::demonitor(MonitorRef ref) { process_->runtime.demonitor(*process_, ref); }

Result<Pid> Actor::spawn_child(std::unique_ptr<Actor> actor, bool link) {
  SpawnOptions options;
  options.link = link;
  return process_->runtime.spawn(std::move(actor), std::move(options), process_, nullptr);
}

void Actor::call_untyped(Pid to, std::unique_ptr<Message> request, std::chrono::milliseconds timeout,
                         std::function<void(CallResult)> then) {
  process_->runtime.call_async(*process_, to, std::move(request), timeout, std::move(then));
}

std::pmr::memory_resource* Actor::heap() const { return &process_->heap; }
void Actor::add_reductions(uint32_t n) { process_->extra_reductions += n; }
void Actor::report_heap_bytes(size_t bytes) { process_->reported_heap.store(bytes, std::memory_order_relaxed); }

// --- calls -------------------------------------------------------------------

Pid From::caller() const { return slot_ ? slot_->caller() : Pid(); }
bool From::complete(CallResult result) const { return slot_ && slot_->complete(std::move(result)); }

CallEnvelope::CallEnvelope(std::unique_ptr<Message> request, From from)
    : Message(typeid(CallEnvelope), MessageKind::call), request_(std::move(request)), from_(std::move(from)) {
  set_bytes(sizeof(*this) + request_->bytes());
}

}  // namespace canopy
