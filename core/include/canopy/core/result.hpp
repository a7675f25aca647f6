#pragma once
// Errors as values at the runtime's public boundary: no exception crosses it.
// Thread-safe (plain values).
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace canopy {

enum class Errc : uint8_t {
  ok = 0,
  dead_process,        // the target pid names no live process (never existed, exited, stale)
  mailbox_full,        // bounded mailbox with policy `reject` (or `block` inside the runtime)
  dropped,             // bounded mailbox with policy `drop_newest` dropped this message
  timeout,             // a call or await did not complete in time
  callee_exited,       // the callee exited (crashed or stopped) before replying
  bad_request,         // the callee does not accept this request type
  init_failed,         // a behaviour's init failed; the message says why
  process_limit,       // the process table is full (RuntimeOptions::max_processes)
  not_in_process,      // the call needs a calling process (e.g. spawn_link from a plain thread)
  already_registered,  // the name is taken, or the process already has a name
  not_registered,      // no process has that name
  invalid_argument,    // bad input to an API call; the message names it
  shutting_down,       // the runtime is stopping
  io_error,            // a file could not be written; the message names it and why
};

const char* to_string(Errc code);

class Error {
 public:
  Error(Errc code, std::string message, std::string cause = {})
      : code_(code), message_(std::move(message)), cause_(std::move(cause)) {}
  Errc code() const { return code_; }
  const std::string& message() const { return message_; }
  // The bare reason underneath the message (e.g. what init() said, without
  // "init of X failed: "); the message itself when none was given.
  const std::string& cause() const { return cause_.empty() ? message_ : cause_; }
  // "<code>: <message>"
  std::string to_string() const;

 private:
  Errc code_;
  std::string message_;
  std::string cause_;
};

// A value or an Error, like std::expected (not in g++ 12's C++20).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() { return value(); }
  T* operator->() { return &value(); }
  const Error& error() const { return std::get<1>(v_); }
  Errc code() const { return ok() ? Errc::ok : error().code(); }

 private:
  std::variant<T, Error> v_;
};

// Success or an Error.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)) {}
  static Status ok_status() { return Status(); }
  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return *error_; }
  Errc code() const { return ok() ? Errc::ok : error_->code(); }
  std::string to_string() const { return ok() ? "ok" : error_->to_string(); }

 private:
  std::optional<Error> error_;
};

}  // namespace canopy
