#include "quote.hpp"

namespace canopy::config::detail {

namespace {

// The first `max` bytes of text, backed off to the start of a UTF-8 character.
std::string_view head(std::string_view text, size_t max) {
  if (text.size() <= max) return text;
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return text.substr(0, cut);
}

std::string bytes(size_t n) { return " (" + std::to_string(n) + " bytes)"; }

}  // namespace

std::string escape_control(std::string_view text) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (u < 0x20 || u == 0x7f) {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += c;
    }
  }
  return out;
}

std::string clipped(std::string_view text, size_t max) {
  const std::string_view shown = head(text, max);
  std::string out = escape_control(shown);
  if (shown.size() < text.size()) out += "\u2026" + bytes(text.size());
  return out;
}

std::string quote(std::string_view value, size_t max) {
  const std::string_view shown = head(value, max);
  std::string out = "'" + escape_control(shown);
  if (shown.size() < value.size()) return out + "\u2026'" + bytes(value.size());
  return out + "'";
}

}  // namespace canopy::config::detail
