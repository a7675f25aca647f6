#pragma once
// Config text as it goes into an error message: control characters escaped,
// so that a value holding a newline cannot forge a "FILE:LINE:COL:" line of
// its own, and long values cut short, so that a 1 MB value does not make a
// 1 MB message. Private to canopy::config.
#include <cstddef>
#include <string>
#include <string_view>

namespace canopy::config::detail {

// Values longer than this show their first kQuotedMax bytes.
inline constexpr size_t kQuotedMax = 80;
// Key paths longer than this (a path holds the keys of the file) are cut too.
inline constexpr size_t kPathMax = 200;
// File names are shown whole up to any length a path can have.
inline constexpr size_t kFileNameMax = 4096;

// \n, \t and \r as those escapes; other bytes below 0x20 and 0x7f as \xNN.
// Everything else (backslashes, UTF-8) stays as it is, so escaping twice
// changes nothing.
std::string escape_control(std::string_view text);
// text escaped, cut after `max` bytes (never inside a UTF-8 character) and
// then followed by "… (N bytes)".
std::string clipped(std::string_view text, size_t max = kQuotedMax);
// 'value', escaped; a long one as 'first 80 bytes…' (N bytes).
std::string quote(std::string_view value, size_t max = kQuotedMax);

}  // namespace canopy::config::detail
