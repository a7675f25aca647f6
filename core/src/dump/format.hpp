#pragma once
// What the dump writer and reader share: the escaping of values and the
// columns of the =processes table. Thread-safe (pure functions, constants).
#include <array>
#include <string>
#include <string_view>

namespace canopy::detail::dump_format {

inline constexpr int kVersion = 1;
inline constexpr std::array<const char*, 15> kProcessColumns = {
    "pid",     "name",      "behaviour", "status",  "mailbox_length", "mailbox_bytes", "oldest_message_age_s",
    "heap_bytes", "reductions", "cpu_ns", "links",  "monitors",       "supervisor",    "current_message",
    "messages_dropped"};

// Appends `v` with backslash, tab, newline and carriage return escaped.
inline void escape_into(std::string& out, std::string_view v) {
  for (char c : v) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out += c;
    }
  }
}

// The inverse; false on a lone or unknown escape.
inline bool unescape(std::string_view v, std::string& out) {
  out.clear();
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] != '\\') {
      out += v[i];
      continue;
    }
    if (++i >= v.size()) return false;
    switch (v[i]) {
      case '\\':
        out += '\\';
        break;
      case 't':
        out += '\t';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      default:
        return false;
    }
  }
  return true;
}

}  // namespace canopy::detail::dump_format
