#pragma once
// Strict parsing of an HTTP/1.x request head (RFC 9112): the request line, the
// header fields and the framing they imply. Pure (no sockets), so every rule
// has a unit test. Anything ambiguous is refused rather than guessed: two
// different Content-Length values, Transfer-Encoding (not supported, so a
// body's end would be guessed), obs-fold, whitespace before a colon, control
// characters, a missing Host in HTTP/1.1. Request smuggling lives in the
// gaps between lenient parsers.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace canopy::exporters::http {

struct RequestHead {
  std::string method;
  std::string target;     // as sent: still percent-encoded, starts with '/'
  int minor_version = 1;  // HTTP/1.<minor_version>
  // Names lower-cased, values without surrounding whitespace, in order.
  std::vector<std::pair<std::string, std::string>> headers;
  uint64_t content_length = 0;
  bool keep_alive = true;  // the client lets the connection stay open

  // The first value of header `lower_name`, or nullptr.
  const std::string* header(std::string_view lower_name) const;
};

struct HeadParse {
  enum class State { incomplete, complete, invalid };
  State state = State::incomplete;
  size_t head_bytes = 0;  // complete: the head's size, blank line included
  int status = 0;         // invalid: 400, 411 or 431
  std::string message;    // invalid: what was wrong, for the error body
  RequestHead head;
};

// Parses the head at the start of `data` (a connection's unread bytes).
// Incomplete until the blank line arrives; a head larger than
// `max_head_bytes` is invalid (431) as soon as that many bytes lack one.
HeadParse parse_request_head(std::string_view data, size_t max_head_bytes);

// Percent-decodes `s` once (no '+' to space: that is only for queries);
// false when a '%' is not followed by two hex digits.
bool percent_decode(std::string_view s, std::string& out);

}  // namespace canopy::exporters::http
