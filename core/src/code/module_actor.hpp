#pragma once
// The Actor behind a process spawned from a module behaviour: it holds the
// version's library (keeping its code loaded), the behaviour's function
// table and the instance, and turns ModuleCall / ModuleCast messages into
// calls through that table. Threading rule: owner process only, except
// swap() and save_state(), which the upgrader calls while the process is
// suspended.
#include <memory>
#include <string>

#include "canopy/core/actor.hpp"
#include "code/module_library.hpp"

namespace canopy::detail {

// One version's instance of a behaviour: the library it came from (kept
// loaded while the instance lives), the behaviour and the instance pointer.
// Destroying it destroys the instance with that version's own code.
struct ModuleInstance {
  std::shared_ptr<const ModuleLibrary> library;
  const canopy_behaviour_v1* behaviour = nullptr;
  void* instance = nullptr;

  ModuleInstance() = default;
  ModuleInstance(std::shared_ptr<const ModuleLibrary> l, const canopy_behaviour_v1* b, void* i)
      : library(std::move(l)), behaviour(b), instance(i) {}
  ModuleInstance(ModuleInstance&& o) noexcept
      : library(std::move(o.library)), behaviour(o.behaviour), instance(o.instance) {
    o.instance = nullptr;
  }
  ModuleInstance& operator=(ModuleInstance&& o) noexcept;
  ModuleInstance(const ModuleInstance&) = delete;
  ModuleInstance& operator=(const ModuleInstance&) = delete;
  ~ModuleInstance() { reset(); }
  void reset();
  explicit operator bool() const { return instance != nullptr; }
};

class ModuleActor final : public Actor {
 public:
  // `code` has no instance yet: init() creates it from `arg`.
  ModuleActor(ModuleInstance code, std::string behaviour_name, std::string arg);
  Status init() override;
  void handle(Message& message) override;

  const std::string& behaviour_name() const { return behaviour_name_; }
  const ModuleLibrary& library() const { return *code_.library; }
  bool restart_on_upgrade() const { return (code_.behaviour->flags & CANOPY_BEHAVIOUR_RESTART_ON_UPGRADE) != 0; }
  // The state in this version's serialized form; an error if save_state fails.
  Result<std::string> save_state() const;
  // Puts `next` in place and hands back what ran before.
  ModuleInstance swap(ModuleInstance next);

 private:
  ModuleInstance code_;
  const std::string behaviour_name_;
  std::string arg_;  // until init()
};

}  // namespace canopy::detail
