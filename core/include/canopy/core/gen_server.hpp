#pragma once
// A typed gen_server. `Call` is the request type of handle_call (use a
// std::variant for several), `Reply` its answer, `Cast` the handle_cast type.
// Anything else arrives in handle_info. Threading rule: owner process only.
//
//   class Counter : public canopy::GenServer<Get, int, Add> {
//     std::optional<int> handle_call(Get&, const canopy::From&) override { return n_; }
//     void handle_cast(Add& a) override { n_ += a.n; }
//   };
//   auto n = runtime.call<int>(pid, Get{}, 100ms);
#include <optional>
#include <variant>

#include "canopy/core/actor.hpp"

namespace canopy {

struct NoCast {};

template <typename Call, typename Reply, typename Cast = NoCast>
class GenServer : public Actor {
 public:
  using call_type = Call;
  using reply_type = Reply;
  using cast_type = Cast;

  // Return the reply, or std::nullopt to reply later through `from.reply()`.
  virtual std::optional<Reply> handle_call(Call& request, const From& from) = 0;
  virtual void handle_cast(Cast& message) { (void)message; }
  virtual void handle_info(Message& message) { (void)message; }

 protected:
  // OTP's gen_server:reply/2, for replies deferred from handle_call.
  static bool reply(const From& from, Reply value) { return from.reply(std::move(value)); }

 private:
  void handle(Message& message) final {
    switch (message.kind()) {
      case MessageKind::call: {
        auto& envelope = static_cast<CallEnvelope&>(message);
        if (Call* request = envelope.request().template as<Call>()) {
          if (std::optional<Reply> r = handle_call(*request, envelope.from())) envelope.from().reply(std::move(*r));
        } else {
          envelope.from().reply_error(Error(Errc::bad_request, "server expects calls of type " +
                                                                   type_name(typeid(Call)) + ", got " +
                                                                   type_name(envelope.request().type())));
        }
        return;
      }
      case MessageKind::cast:
        if (Cast* c = message.template as<Cast>()) {
          handle_cast(*c);
          return;
        }
        break;
      default:
        break;
    }
    handle_info(message);
  }
};

}  // namespace canopy
