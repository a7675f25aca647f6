#include "code/module_library.hpp"

#include <dlfcn.h>

#include <cstring>
#include <set>

namespace canopy::detail {

namespace {
Error bad(const std::string& path, const std::string& what) {
  return Error(Errc::invalid_argument, "module " + path + ": " + what, what);
}
bool blank(const char* s) { return s == nullptr || *s == '\0'; }

// What is wrong with the description, or empty.
std::string check(const canopy_module_v1& m) {
  if (m.abi_version != CANOPY_MODULE_ABI_VERSION) {
    return "ABI version " + std::to_string(m.abi_version) + ", this runtime loads ABI version " +
           std::to_string(CANOPY_MODULE_ABI_VERSION);
  }
  if (blank(m.name)) return "no module name";
  if (blank(m.version)) return "module '" + std::string(m.name) + "' has no version";
  if (m.behaviour_count == 0 || m.behaviours == nullptr) return "module '" + std::string(m.name) + "' has no behaviours";
  std::set<std::string> names;
  for (size_t i = 0; i < m.behaviour_count; ++i) {
    const canopy_behaviour_v1& b = m.behaviours[i];
    if (blank(b.name)) return "behaviour #" + std::to_string(i) + " has no name";
    if (!names.insert(b.name).second) return "behaviour '" + std::string(b.name) + "' is listed twice";
    if (b.create == nullptr || b.handle_call == nullptr || b.handle_cast == nullptr || b.save_state == nullptr ||
        b.destroy == nullptr) {
      return "behaviour '" + std::string(b.name) + "' lacks a function (create, handle_call, handle_cast, save_state, destroy)";
    }
  }
  for (size_t i = 0; i < m.code_change_count; ++i) {
    const canopy_code_change_v1& c = m.code_changes[i];
    if (blank(c.behaviour) || blank(c.from_version) || c.code_change == nullptr) {
      return "code_change #" + std::to_string(i) + " lacks its behaviour, from_version or function";
    }
    if (names.count(c.behaviour) == 0) {
      return "code_change #" + std::to_string(i) + " is for unknown behaviour '" + c.behaviour + "'";
    }
  }
  return {};
}
}  // namespace

Result<std::shared_ptr<const ModuleLibrary>> ModuleLibrary::open(const std::string& path) {
  if (path.empty()) return bad("(empty path)", "no path given");
  // RTLD_LOCAL: each version's symbols stay its own, so two versions of one
  // module (same symbol names) live side by side.
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    return bad(path, std::string("cannot load: ") + (why != nullptr ? why : "dlopen failed"));
  }
  dlerror();
  void* sym = dlsym(handle, CANOPY_MODULE_SYMBOL);
  if (sym == nullptr) {
    dlclose(handle);
    return bad(path, "no entry point '" CANOPY_MODULE_SYMBOL "' (is it a canopy module?)");
  }
  const canopy_module_v1* module = nullptr;
  try {
    module = reinterpret_cast<canopy_module_fn>(sym)();
  } catch (...) {
    module = nullptr;
  }
  if (module == nullptr) {
    dlclose(handle);
    return bad(path, "its entry point returned no description");
  }
  if (std::string why = check(*module); !why.empty()) {
    dlclose(handle);
    return bad(path, why);
  }
  return std::shared_ptr<const ModuleLibrary>(new ModuleLibrary(path, handle, module));
}

ModuleLibrary::ModuleLibrary(std::string path, void* handle, const canopy_module_v1* module)
    : path_(std::move(path)),
      handle_(handle),
      module_(module),
      tag_(std::make_shared<const CodeTag>(CodeTag{module->name, module->version})) {}

ModuleLibrary::~ModuleLibrary() { dlclose(handle_); }

const canopy_behaviour_v1* ModuleLibrary::behaviour(const std::string& name) const {
  for (size_t i = 0; i < module_->behaviour_count; ++i) {
    if (name == module_->behaviours[i].name) return &module_->behaviours[i];
  }
  return nullptr;
}

const canopy_code_change_v1* ModuleLibrary::code_change(const std::string& behaviour,
                                                         const std::string& from_version) const {
  for (size_t i = 0; i < module_->code_change_count; ++i) {
    const canopy_code_change_v1& c = module_->code_changes[i];
    if (behaviour == c.behaviour && from_version == c.from_version) return &c;
  }
  return nullptr;
}

}  // namespace canopy::detail
