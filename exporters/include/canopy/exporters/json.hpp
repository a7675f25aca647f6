#pragma once
// JSON for the HTTP API: the one writer of every JSON answer (the server's
// routes, the application's hooks, the JSON log lines) and the readers of
// request bodies. Strings are escaped (quote, backslash, control characters)
// and invalid UTF-8 becomes U+FFFD, so whatever a message quotes (a path, a
// name sent by a client), the answer is valid JSON. Bodies are read by a real
// JSON parser (nlohmann-json, private to this library).
// JsonWriter: external synchronization; the functions are thread-safe.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace canopy::exporters {

// A streaming writer: begin/end objects and arrays, keys and values in
// order; commas are placed for you.
class JsonWriter {
 public:
  JsonWriter& begin_object() { return open('{'); }
  JsonWriter& end_object() { return close('}'); }
  JsonWriter& begin_array() { return open('['); }
  JsonWriter& end_array() { return close(']'); }
  JsonWriter& key(std::string_view k);
  JsonWriter& value(std::string_view s);
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  JsonWriter& value(const std::string& s) { return value(std::string_view(s)); }
  JsonWriter& value(bool b);
  // null when not finite.
  JsonWriter& value(double d);
  JsonWriter& value(uint64_t n);
  JsonWriter& value(int64_t n);
  JsonWriter& value(uint32_t n) { return value(static_cast<uint64_t>(n)); }
  JsonWriter& value(int n) { return value(static_cast<int64_t>(n)); }
  JsonWriter& null();
  template <typename T>
  JsonWriter& field(std::string_view k, const T& v) {
    key(k);
    return value(v);
  }
  const std::string& str() const { return out_; }

 private:
  JsonWriter& open(char c);
  JsonWriter& close(char c);
  void comma();

  std::string out_;
  std::vector<bool> first_;
  bool after_key_ = false;
};

// `s` as a JSON string, quotes included.
std::string json_quote(std::string_view s);

// `{"error": "..."}`
std::string json_error(std::string_view message);

// The string value of the member `name` of a JSON object body; nullopt when
// the body is not a JSON object, has no such member, or it is not a string.
std::optional<std::string> json_string_member(std::string_view body, std::string_view name);
// The same for a boolean member.
std::optional<bool> json_bool_member(std::string_view body, std::string_view name);

}  // namespace canopy::exporters
