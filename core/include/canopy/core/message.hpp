#pragma once
// Messages: a type-erased, heap-allocated envelope around one value of any
// movable type. A message is owned by exactly one party at a time: the
// sender until send(), the mailbox until delivery, the handler while it runs.
#include <atomic>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <typeinfo>
#include <utility>

#include "canopy/core/dynamic_size.hpp"
#include "canopy/core/exit_reason.hpp"
#include "canopy/core/pid.hpp"

namespace canopy {

namespace detail {
class Runtime;
class Mailbox;
struct Process;

// Envelopes up to 256 bytes come from per-thread pools, not malloc
// (runtime/message_pool.cc); the heap ledger is charged and refunded as for
// operator new. Larger ones go to the global operator new.
namespace message_pool {
void* allocate(size_t size);
void release(void* p, size_t size) noexcept;
// Frees the blocks no thread holds (after a flood drained).
void trim();
}  // namespace message_pool

// Intrusive link for the lock-free mailbox queue.
struct MailboxNode {
  std::atomic<MailboxNode*> next{nullptr};
};
}  // namespace detail

// How the runtime treats a message.
enum class MessageKind : uint8_t {
  user,    // delivered to the behaviour (Actor::handle / GenServer::handle_info)
  cast,    // GenServer cast (handle_cast)
  call,    // GenServer call envelope (handle_call)
  signal,  // link/monitor/exit signals and call replies: handled by the runtime
};

// Demangled, human-readable name of a type (for crash reports and info).
std::string type_name(const std::type_info& type);

class Message : public detail::MailboxNode {
 public:
  virtual ~Message() = default;
  Message(const Message&) = delete;
  static void* operator new(size_t size) { return detail::message_pool::allocate(size); }
  static void operator delete(void* p, size_t size) noexcept { detail::message_pool::release(p, size); }
  static void* operator new(size_t size, std::align_val_t a) { return ::operator new(size, a); }
  static void operator delete(void* p, size_t, std::align_val_t a) noexcept { ::operator delete(p, a); }
  Message& operator=(const Message&) = delete;

  const std::type_info& type() const { return *type_; }
  template <typename T>
  bool is() const {
    return type_ == &typeid(T) || *type_ == typeid(T);
  }
  // The payload if it is a T, else nullptr.
  template <typename T>
  T* as();
  template <typename T>
  const T* as() const;

  MessageKind kind() const { return kind_; }
  // The sending process; invalid when sent from outside the runtime.
  Pid sender() const { return sender_; }
  // Accounted size in bytes: envelope + payload + the payload's dynamic size.
  size_t bytes() const { return bytes_; }

 protected:
  Message(const std::type_info& type, MessageKind kind) : type_(&type), kind_(kind) {}
  void set_bytes(size_t bytes) { bytes_ = static_cast<uint32_t>(bytes > UINT32_MAX ? UINT32_MAX : bytes); }

 private:
  friend class detail::Runtime;
  friend struct detail::Process;
  friend class detail::Mailbox;
  const std::type_info* type_;
  Pid sender_;
  uint32_t bytes_ = 0;
  uint32_t stamp_ms_ = 0;  // coarse-clock enqueue time, for the oldest-message age
  MessageKind kind_;
};

template <typename T>
class TypedMessage final : public Message {
 public:
  template <typename... Args>
  explicit TypedMessage(MessageKind kind, Args&&... args)
      : Message(typeid(T), kind), value(std::forward<Args>(args)...) {
    set_bytes(sizeof(*this) + dynamic_size(value));
  }
  T value;
};

template <typename T>
T* Message::as() {
  return is<T>() ? &static_cast<TypedMessage<T>*>(this)->value : nullptr;
}
template <typename T>
const T* Message::as() const {
  return is<T>() ? &static_cast<const TypedMessage<T>*>(this)->value : nullptr;
}

template <typename T>
std::unique_ptr<Message> make_message(T&& value, MessageKind kind = MessageKind::user) {
  return std::make_unique<TypedMessage<std::decay_t<T>>>(kind, std::forward<T>(value));
}

// Delivered to a process that traps exits when a linked process exits or
// someone calls exit(pid, reason) on it (OTP's {'EXIT', From, Reason}).
struct ExitMessage {
  Pid from;
  ExitReason reason;
};

using MonitorRef = uint64_t;

// Delivered to a monitoring process when the monitored one exits
// (OTP's {'DOWN', Ref, process, Pid, Reason}); reason `noproc` when it was
// already dead at monitor time.
struct DownMessage {
  MonitorRef ref;
  Pid pid;
  ExitReason reason;
};

}  // namespace canopy
