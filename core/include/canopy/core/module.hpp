#pragma once
// The module ABI: what a shared library exports to be loaded by
// Runtime::load_module and upgraded by Runtime::upgrade. Header-only and
// C-compatible at the boundary: a module links nothing of canopy, and no C++
// object, exception, vtable or allocation crosses between the library and
// the runtime. That is what makes unloading safe: once no process holds an
// instance of a version, nothing in the runtime points into its code.
//
// A module exports one symbol, `canopy_module`, returning a static
// description: its name, its version, the ABI it was built for, its
// behaviours (a factory per behaviour) and the code_change functions it
// accepts (behaviour + the old version each migrates from).
//
// State crosses versions in a documented serialized form, never as a C++
// object: `save_state` writes the running instance's state as bytes (the
// module documents their layout; the demo's pricing server uses
// "key=value" lines), and a code_change of the new version reads those bytes
// and builds a new instance, or rejects them with a reason. The runtime
// calls a code_change only with a state saved by exactly the (module,
// behaviour, from_version) it declares, so a migration never sees a state it
// did not ask for; one that still finds the bytes wrong returns an error.
//
// Threading rule: the runtime calls an instance's functions one at a time
// (from its process, or from the upgrader while the process is suspended);
// `create` and code_change may run on any thread.
#include <stddef.h>
#include <stdint.h>

extern "C" {

// Bumped when the structs below change incompatibly.
#define CANOPY_MODULE_ABI_VERSION 1u

// Where a module writes bytes the runtime keeps (a reply, a saved state, an
// error text): the runtime owns the buffer behind `ctx`.
typedef struct canopy_sink {
  void* ctx;
  void (*write)(void* ctx, const char* data, size_t size);
} canopy_sink;

// The behaviour's processes cannot be changed in place: an upgrade restarts
// them (through their supervisors) on the new version instead (OTP's
// `restart` instruction).
#define CANOPY_BEHAVIOUR_RESTART_ON_UPGRADE 1u

typedef struct canopy_behaviour_v1 {
  const char* name;
  uint32_t flags;
  // A new instance from the spawn argument; null (and a reason in `error`)
  // fails the spawn.
  void* (*create)(const char* arg, size_t arg_size, canopy_sink* error);
  // One call: writes the reply and returns 0, or writes an error text and
  // returns nonzero (the caller gets Errc::bad_request with that text).
  int (*handle_call)(void* self, const char* request, size_t size, canopy_sink* reply);
  // One cast (no reply). Nonzero crashes the process with the text in `error`.
  int (*handle_cast)(void* self, const char* message, size_t size, canopy_sink* error);
  // Writes the state in this version's documented serialized form; must not
  // change the instance (a rolled-back upgrade keeps it as it was).
  int (*save_state)(const void* self, canopy_sink* out);
  void (*destroy)(void* self);
} canopy_behaviour_v1;

typedef struct canopy_code_change_v1 {
  const char* behaviour;     // a behaviour of this module
  const char* from_version;  // the version whose saved state it reads
  // A new instance of this version from the old state, or null with the
  // reason in `error` (the whole upgrade rolls back).
  void* (*code_change)(const char* old_state, size_t size, canopy_sink* error);
} canopy_code_change_v1;

typedef struct canopy_module_v1 {
  uint32_t abi_version;  // CANOPY_MODULE_ABI_VERSION
  const char* name;
  const char* version;
  const canopy_behaviour_v1* behaviours;
  size_t behaviour_count;
  const canopy_code_change_v1* code_changes;
  size_t code_change_count;
} canopy_module_v1;

// The one symbol a module exports.
typedef const canopy_module_v1* (*canopy_module_fn)(void);
#define CANOPY_MODULE_SYMBOL "canopy_module"
}

#ifdef __cplusplus
#include <exception>
#include <new>
#include <string>
#include <string_view>

// C++ helpers for writing a module (header-only; they compile into the
// module). A behaviour is a class with
//   static T* create(std::string_view arg);                 // throws to refuse
//   std::string handle_call(std::string_view request);      // throws to answer an error
//   void handle_cast(std::string_view message);             // throws to crash
//   std::string save_state() const;
// and a code_change is `static T* from_v1(std::string_view state)` that
// throws to reject. Exceptions stop at the boundary: they become the
// nonzero return and the error text.
namespace canopy::module {

inline void write(canopy_sink* sink, std::string_view s) {
  if (sink != nullptr && sink->write != nullptr) sink->write(sink->ctx, s.data(), s.size());
}

template <typename F>
int guarded(canopy_sink* error, F&& f) {
  try {
    f();
    return 0;
  } catch (const std::exception& e) {
    write(error, e.what());
  } catch (...) {
    write(error, "unknown exception");
  }
  return 1;
}

template <typename T>
struct Behaviour {
  static void* create(const char* arg, size_t n, canopy_sink* error) {
    T* made = nullptr;
    guarded(error, [&] { made = T::create(std::string_view(arg, n)); });
    return made;
  }
  static int handle_call(void* self, const char* req, size_t n, canopy_sink* reply) {
    std::string out;
    const int rc = guarded(reply, [&] { out = static_cast<T*>(self)->handle_call(std::string_view(req, n)); });
    if (rc == 0) write(reply, out);
    return rc;
  }
  static int handle_cast(void* self, const char* msg, size_t n, canopy_sink* error) {
    return guarded(error, [&] { static_cast<T*>(self)->handle_cast(std::string_view(msg, n)); });
  }
  static int save_state(const void* self, canopy_sink* out) {
    std::string s;
    const int rc = guarded(out, [&] { s = static_cast<const T*>(self)->save_state(); });
    if (rc == 0) write(out, s);
    return rc;
  }
  static void destroy(void* self) { delete static_cast<T*>(self); }

  static canopy_behaviour_v1 describe(const char* name, uint32_t flags = 0) {
    return canopy_behaviour_v1{name, flags, &create, &handle_call, &handle_cast, &save_state, &destroy};
  }
};

// Wraps `static T* fn(std::string_view old_state)` as a code_change.
template <auto Fn>
void* code_change(const char* state, size_t n, canopy_sink* error) {
  void* made = nullptr;
  guarded(error, [&] { made = Fn(std::string_view(state, n)); });
  return made;
}

}  // namespace canopy::module

// Defines the entry point from a canopy_module_v1 built once.
#define CANOPY_MODULE(describe_expr)                                                   \
  extern "C" __attribute__((visibility("default"))) const canopy_module_v1* canopy_module(void) { \
    static const canopy_module_v1 module = describe_expr;                             \
    return &module;                                                                   \
  }
#endif
