#include "code/module_actor.hpp"

#include <stdexcept>

#include "canopy/core/code.hpp"
#include "runtime/runtime_impl.hpp"

namespace canopy::detail {

ModuleInstance& ModuleInstance::operator=(ModuleInstance&& o) noexcept {
  if (this != &o) {
    reset();
    library = std::move(o.library);
    behaviour = o.behaviour;
    instance = o.instance;
    o.instance = nullptr;
  }
  return *this;
}

void ModuleInstance::reset() {
  // The instance goes first, by its own version's code; then the library
  // reference (possibly the last, which unloads it).
  if (instance != nullptr) behaviour->destroy(instance);
  instance = nullptr;
  library.reset();
}

ModuleActor::ModuleActor(ModuleInstance code, std::string behaviour_name, std::string arg)
    : code_(std::move(code)), behaviour_name_(std::move(behaviour_name)), arg_(std::move(arg)) {}

Status ModuleActor::init() {
  StringSink error;
  void* made = nullptr;
  try {
    made = code_.behaviour->create(arg_.data(), arg_.size(), &error.sink);
  } catch (...) {
    error.text = "create threw";
  }
  arg_.clear();
  if (made == nullptr) {
    return Error(Errc::init_failed, code_.library->name() + " " + code_.library->version() + "/" + behaviour_name_ +
                                        " create failed: " + (error.text.empty() ? "no instance" : error.text));
  }
  code_.instance = made;
  // Tagged before spawn() returns, so an upgrade that starts later sees it.
  impl_of(runtime()).tag_code(self(), code_.library->tag());
  return {};
}

void ModuleActor::handle(Message& message) {
  const canopy_behaviour_v1& b = *code_.behaviour;
  if (message.kind() == MessageKind::call) {
    auto& envelope = static_cast<CallEnvelope&>(message);
    const ModuleCall* call = envelope.request().as<ModuleCall>();
    if (call == nullptr) {
      envelope.from().reply_error(Error(Errc::bad_request, "module process " + code_.library->name() + "/" +
                                                               behaviour_name_ + " expects canopy::ModuleCall, got " +
                                                               type_name(envelope.request().type())));
      return;
    }
    StringSink reply;
    if (b.handle_call(code_.instance, call->body.data(), call->body.size(), &reply.sink) == 0) {
      envelope.from().reply(std::move(reply.text));
    } else {
      envelope.from().reply_error(Error(Errc::bad_request, reply.text));
    }
    return;
  }
  if (const ModuleCast* cast = message.as<ModuleCast>()) {
    StringSink error;
    if (b.handle_cast(code_.instance, cast->body.data(), cast->body.size(), &error.sink) != 0) {
      throw std::runtime_error(code_.library->name() + "/" + behaviour_name_ + " handle_cast failed: " + error.text);
    }
  }
  // Anything else (info messages) a module behaviour does not see.
}

Result<std::string> ModuleActor::save_state() const {
  StringSink out;
  int rc = 1;
  try {
    rc = code_.behaviour->save_state(code_.instance, &out.sink);
  } catch (...) {
    out.text = "save_state threw";
  }
  if (rc != 0) return Error(Errc::invalid_argument, "save_state of " + code_.library->name() + " " +
                                                        code_.library->version() + " failed: " + out.text);
  return std::move(out.text);
}

ModuleInstance ModuleActor::swap(ModuleInstance next) {
  ModuleInstance old = std::move(code_);
  code_ = std::move(next);
  return old;
}

}  // namespace canopy::detail
