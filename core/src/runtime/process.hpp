#pragma once
// A process: one behaviour, its mailbox and its accounting. Private to core.
#include "canopy/core/detail/heap_ledger.hpp"
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <memory_resource>
#include <string>
#include <unordered_map>
#include <vector>

#include "canopy/core/actor.hpp"
#include "canopy/core/call.hpp"
#include "canopy/core/exit_reason.hpp"
#include "canopy/core/info.hpp"
#include "canopy/core/message.hpp"
#include "runtime/mailbox.hpp"
#include "runtime/spin_lock.hpp"

namespace canopy::detail {

class RegistryState;

// A memory resource that counts what passes through it: the process heap.
// Thread-safe (the count is atomic; allocation is new/delete). Its blocks are
// charged to no heap-ledger slot: they count here, once.
class CountingResource final : public std::pmr::memory_resource {
 public:
  uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }

 private:
  void* do_allocate(size_t bytes, size_t align) override {
    heap::ScopedSlot uncharged(0);
    void* p = std::pmr::new_delete_resource()->allocate(bytes, align);
    bytes_.fetch_add(bytes, std::memory_order_relaxed);
    return p;
  }
  void do_deallocate(void* p, size_t bytes, size_t align) override {
    bytes_.fetch_sub(bytes, std::memory_order_relaxed);
    std::pmr::new_delete_resource()->deallocate(p, bytes, align);
  }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override { return this == &other; }
  std::atomic<uint64_t> bytes_{0};
};

// Scheduling states. A send moves waiting -> scheduled (and queues the
// process) or running -> running_dirty (the running scheduler looks again).
// Suspended (a code upgrade holds it at a message boundary): no scheduler
// runs it and a send only queues the message; the upgrader resumes it.
enum SchedState : uint8_t { kWaiting, kScheduled, kRunning, kRunningDirty, kExited, kSuspended };

// The module version a process runs (code/ sets it at spawn and at an
// upgrade); shown by process_info. Immutable once made.
struct CodeTag {
  std::string module;
  std::string version;
};

// Links, monitors and names: touched rarely, read by process_info from any
// thread. Allocated on first use so an idle process stays small.
struct ProcessMeta {
  std::vector<Pid> links;
  std::vector<std::pair<MonitorRef, Pid>> monitored_by;  // (ref, watcher)
  std::vector<std::pair<MonitorRef, Pid>> monitoring;    // (ref, target)
  std::string name;
  std::vector<std::pair<std::weak_ptr<RegistryState>, std::string>> registry_keys;
  std::vector<std::function<void(Pid, const ExitReason&)>> exit_hooks;
};

struct Process {
  Process(Runtime& rt, Pid pid, Pid parent, const MailboxOptions& mailbox, std::unique_ptr<Actor> behaviour);
  ~Process();

  // Constant after spawn.
  Runtime& runtime;
  const Pid pid;
  const Pid parent;
  const uint64_t spawn_mono_ns;
  const std::chrono::system_clock::time_point spawned_at;
  const std::type_info& behaviour_type;
  const uint16_t behaviour_id;  // its index in the per-behaviour cells (behaviour_stats.hpp)

  // Owner process only. (Here and below, fields sit where padding was: an
  // idle process is a few hundred bytes and a million of them is a node.)
  bool exiting = false;
  bool skip_terminate = false;  // init failed or killed: terminate() is not called
  bool large_heap = false;      // above SystemMonitorOptions::large_heap_bytes
  // Beside pid, which every sender reads too, and away from what the process
  // writes per message (current_type, the counters below): a sender's
  // make_runnable must not pull a line the consumer dirties every message.
  std::atomic<uint8_t> sched_state{kRunning};
  std::atomic<uint8_t> status{static_cast<uint8_t>(ProcessStatus::running)};

  // Owned by the process; reset when it exits.
  std::unique_ptr<Actor> behaviour;
  Mailbox mailbox;

  // Accounting: written by the scheduler running the process, read anywhere.
  std::atomic<uint64_t> reductions{0};
  std::atomic<uint64_t> messages_handled{0};
  std::atomic<uint64_t> cpu_cycles{0};
  std::atomic<uint64_t> dropped{0};
  std::atomic<const std::type_info*> current_type{nullptr};
  std::atomic<bool> trap_exit{false};
  std::atomic<bool> traced{false};
  std::atomic<bool> kill_pending{false};  // a `kill` exit signal is on its way
  // A code upgrade asks the process to stop at its next message boundary
  // (Runtime::request_suspend); the scheduler parks it as kSuspended.
  std::atomic<bool> suspend_requested{false};
  std::atomic<uint64_t> reported_heap{0};
  // Over the last poll interval (the poller writes them; recon's proc_window):
  // what it had at the last poll, and the rates since.
  std::atomic<uint64_t> reductions_at_poll{0};
  std::atomic<uint64_t> cpu_cycles_at_poll{0};
  std::atomic<uint64_t> reductions_per_s{0};
  std::atomic<uint64_t> cpu_ns_per_s{0};
  CountingResource heap;
  // Its heap-ledger slot: what it allocated through operator new and holds
  // (canopy::heap_accounting; 0 bytes without it). Released when it exits.
  const uint32_t heap_slot;
  const uint32_t heap_generation;
  const std::atomic<uint64_t>* const heap_word;  // heap::slot_word(heap_slot)
  // Everything its heap counts: ledger bytes + heap() resource + reported.
  // (After it exits its slot may be another process's: not read then.)
  uint64_t heap_bytes() const {
    const bool exited = sched_state.load(std::memory_order_acquire) == kExited;
    return owned_heap_bytes(exited);
  }
  // The same, read by the process's own scheduler while it runs (not exited).
  uint64_t running_heap_bytes() const { return owned_heap_bytes(false); }

  // Owner process only.
  ExitReason exit_reason;
  uint32_t extra_reductions = 0;
  // Reductions a slice spent beyond its budget (one handler that sent a
  // burst into a long mailbox), repaid at kNsPerReduction of wall time, so
  // an overspender sits out its turns for as long as its burst deserves
  // even on a scheduler that has nothing else to run. Forgiven when it goes
  // waiting.
  int32_t reduction_debt = 0;
  uint32_t debt_since = 0;  // cycles() / 1024 when the debt was taken (wrapping)
  // Trace rate limit (the process's own thread writes both).
  uint32_t trace_window_ms = 0;
  uint32_t trace_lines = 0;
  std::unique_ptr<std::unordered_map<uint64_t, std::function<void(CallResult)>>> pending_calls;

  // Links, monitors, names and keys. Mutable: read-only views (snapshot) lock it too.
  mutable SpinLock meta_lock;
  std::unique_ptr<ProcessMeta> meta GUARDED_BY(meta_lock) PT_GUARDED_BY(meta_lock);
  bool meta_closed GUARDED_BY(meta_lock) = false;  // exiting: no new links, monitors, names, keys
  std::shared_ptr<const CodeTag> code GUARDED_BY(meta_lock);  // null: not spawned from a module
  ProcessMeta& meta_locked() REQUIRES(meta_lock) {
    if (!meta) meta = std::make_unique<ProcessMeta>();
    return *meta;
  }

 private:
  uint64_t owned_heap_bytes(bool exited) const {
    return (exited ? 0 : heap::word_bytes(heap_word)) + heap.bytes() + reported_heap.load(std::memory_order_relaxed);
  }
};

// Signals: runtime-internal messages (MessageKind::signal).
struct LinkSignal {
  Pid from;
};
struct UnlinkSignal {
  Pid from;
};
struct ExitSignal {
  Pid from;
  ExitReason reason;
  bool from_link;
};
struct MonitorSignal {
  Pid from;
  MonitorRef ref;
};
struct DemonitorSignal {
  Pid from;
  MonitorRef ref;
};
struct ReplySignal {
  uint64_t ref;
  CallResult result;
};
struct CallTimeoutSignal {
  uint64_t ref;
};
struct StopSignal {
  ExitReason reason;
};  // runtime shutdown: untrappable

template <typename T>
std::unique_ptr<Message> make_signal(T&& value) {
  return make_message(std::forward<T>(value), MessageKind::signal);
}

}  // namespace canopy::detail
