#pragma once
// Request/reply plumbing shared by Runtime::call, Actor::call and GenServer.
// A `From` is the reply address of one call. Whoever holds it may reply once;
// if the last copy is destroyed unreplied (the callee crashed, exited or
// dropped the request), the caller gets Errc::callee_exited instead of waiting
// for its timeout. Thread-safe.
#include <chrono>
#include <functional>
#include <memory>

#include "canopy/core/message.hpp"
#include "canopy/core/result.hpp"

namespace canopy {

using CallResult = Result<std::unique_ptr<Message>>;

namespace detail {
class ReplySlot;
}

class From {
 public:
  From() = default;
  explicit From(std::shared_ptr<detail::ReplySlot> slot) : slot_(std::move(slot)) {}
  // The calling process, or invalid for a call from outside the runtime.
  Pid caller() const;
  bool valid() const { return slot_ != nullptr; }

  // Completes the call with a value or an error; later replies are ignored.
  // Returns false when the call was already completed.
  template <typename T>
  bool reply(T&& value) const {
    return complete(CallResult(make_message(std::forward<T>(value), MessageKind::signal)));
  }
  bool reply_error(Error error) const { return complete(CallResult(std::move(error))); }
  bool complete(CallResult result) const;

 private:
  std::shared_ptr<detail::ReplySlot> slot_;
};

// The envelope a call travels in (MessageKind::call).
class CallEnvelope final : public Message {
 public:
  CallEnvelope(std::unique_ptr<Message> request, From from);
  Message& request() { return *request_; }
  const From& from() const { return from_; }

 private:
  std::unique_ptr<Message> request_;
  From from_;
};

// Turns an untyped reply into a typed one.
template <typename Reply>
Result<Reply> typed_reply(CallResult&& r) {
  if (!r.ok()) return r.error();
  auto& msg = *r.value();
  if (Reply* v = msg.as<Reply>()) return std::move(*v);
  return Error(Errc::bad_request,
               "reply has type " + type_name(msg.type()) + ", the caller expected " + type_name(typeid(Reply)));
}

}  // namespace canopy
