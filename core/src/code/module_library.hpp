#pragma once
// One loaded version of a module: the dlopen handle and the description its
// entry point returned, checked. Shared by every process running it (through
// ModuleActor) and by the code server; the library is closed when the last
// holder lets go, so no code is unloaded under a process. Thread-safe
// (immutable after open).
#include <memory>
#include <string>

#include "canopy/core/module.hpp"
#include "canopy/core/result.hpp"
#include "runtime/process.hpp"

namespace canopy::detail {

class ModuleLibrary {
 public:
  // Loads `path` and checks what it exports: the entry point, the ABI
  // version, a name and version, well-formed behaviours and code_changes.
  // Every failure is an Error naming the path and what was wrong.
  static Result<std::shared_ptr<const ModuleLibrary>> open(const std::string& path);
  ~ModuleLibrary();
  ModuleLibrary(const ModuleLibrary&) = delete;
  ModuleLibrary& operator=(const ModuleLibrary&) = delete;

  const std::string& path() const { return path_; }
  const std::string& name() const { return tag_->module; }
  const std::string& version() const { return tag_->version; }
  // The tag processes running this version carry (process_info).
  const std::shared_ptr<const CodeTag>& tag() const { return tag_; }
  const canopy_module_v1& description() const { return *module_; }
  // The behaviour named `name`, or nullptr.
  const canopy_behaviour_v1* behaviour(const std::string& name) const;
  // This version's code_change for `behaviour` from `from_version`, or nullptr.
  const canopy_code_change_v1* code_change(const std::string& behaviour, const std::string& from_version) const;

 private:
  ModuleLibrary(std::string path, void* handle, const canopy_module_v1* module);

  // Constant after construction.
  const std::string path_;
  void* const handle_;
  const canopy_module_v1* const module_;
  const std::shared_ptr<const CodeTag> tag_;
};

// A canopy_sink writing into a std::string.
struct StringSink {
  std::string text;
  canopy_sink sink{this, [](void* ctx, const char* data, size_t size) {
                     static_cast<StringSink*>(ctx)->text.append(data, size);
                   }};
  StringSink() = default;
  StringSink(const StringSink&) = delete;
  StringSink& operator=(const StringSink&) = delete;
};

}  // namespace canopy::detail
