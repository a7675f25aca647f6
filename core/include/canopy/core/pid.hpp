#pragma once
// Process identifiers. A Pid is a slot index in the process table plus the
// generation of that slot, so a stale Pid never reaches a newer process that
// reuses the slot. Thread-safe (a plain value).
#include <compare>
#include <cstdint>
#include <functional>
#include <string>

namespace canopy {

class Pid {
 public:
  constexpr Pid() = default;
  static constexpr Pid from_parts(uint32_t index, uint32_t generation) {
    return Pid((static_cast<uint64_t>(generation) << 32) | index);
  }
  static constexpr Pid from_raw(uint64_t raw) { return Pid(raw); }

  constexpr uint32_t index() const { return static_cast<uint32_t>(raw_); }
  constexpr uint32_t generation() const { return static_cast<uint32_t>(raw_ >> 32); }
  constexpr uint64_t raw() const { return raw_; }
  // Generation 0 is never handed out, so a default Pid names no process.
  constexpr bool valid() const { return generation() != 0; }
  explicit constexpr operator bool() const { return valid(); }

  // "<0.INDEX.GENERATION>", in the spirit of Erlang's "<0.84.0>".
  std::string to_string() const;
  // Parses the to_string() form or a bare raw integer; an invalid Pid on error.
  static Pid parse(const std::string& text);

  constexpr auto operator<=>(const Pid&) const = default;

 private:
  explicit constexpr Pid(uint64_t raw) : raw_(raw) {}
  uint64_t raw_ = 0;
};

}  // namespace canopy

template <>
struct std::hash<canopy::Pid> {
  size_t operator()(const canopy::Pid& p) const noexcept { return std::hash<uint64_t>{}(p.raw()); }
};
