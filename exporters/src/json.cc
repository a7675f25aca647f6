#include "canopy/exporters/json.hpp"

#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>
#include <type_traits>

namespace canopy::exporters {

namespace {

// The member `name` of a JSON object body when it has the type T (a string
// or a bool); nullopt for anything else (not JSON, not an object, no such
// member, another type).
template <typename T>
std::optional<T> member(std::string_view body, std::string_view name) {
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  const auto it = j.find(name);
  if (it == j.end()) return std::nullopt;
  const bool typed = std::is_same_v<T, bool> ? it->is_boolean() : it->is_string();
  if (!typed) return std::nullopt;
  return it->template get<T>();
}

}  // namespace

std::string json_quote(std::string_view s) {
  // nlohmann's serializer escapes what JSON requires and, with `replace`,
  // writes U+FFFD for bytes that are not UTF-8.
  return nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

JsonWriter& JsonWriter::key(std::string_view k) {
  comma();
  out_ += json_quote(k);
  out_ += ':';
  after_key_ = true;
  return *this;
}

JsonWriter& JsonWriter::value(std::string_view s) {
  comma();
  out_ += json_quote(s);
  return *this;
}

JsonWriter& JsonWriter::value(bool b) {
  comma();
  out_ += b ? "true" : "false";
  return *this;
}

JsonWriter& JsonWriter::value(double d) {
  comma();
  if (!std::isfinite(d)) {
    out_ += "null";
  } else {
    // The shortest text that reads back as the same double (0.1, not
    // 0.10000000000000001).
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, d);
    out_.append(buf, r.ptr);
  }
  return *this;
}

JsonWriter& JsonWriter::value(uint64_t n) {
  comma();
  out_ += std::to_string(n);
  return *this;
}

JsonWriter& JsonWriter::value(int64_t n) {
  comma();
  out_ += std::to_string(n);
  return *this;
}

JsonWriter& JsonWriter::null() {
  comma();
  out_ += "null";
  return *this;
}

JsonWriter& JsonWriter::open(char c) {
  comma();
  out_ += c;
  first_.push_back(true);
  return *this;
}

JsonWriter& JsonWriter::close(char c) {
  out_ += c;
  first_.pop_back();
  return *this;
}

void JsonWriter::comma() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_.empty()) {
    if (!first_.back()) out_ += ',';
    first_.back() = false;
  }
}

std::string json_error(std::string_view message) {
  JsonWriter j;
  j.begin_object().field("error", message).end_object();
  return j.str();
}

std::optional<std::string> json_string_member(std::string_view body, std::string_view name) {
  return member<std::string>(body, name);
}

std::optional<bool> json_bool_member(std::string_view body, std::string_view name) { return member<bool>(body, name); }

}  // namespace canopy::exporters
