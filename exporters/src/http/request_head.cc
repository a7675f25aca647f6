#include "http/request_head.hpp"

#include <algorithm>

namespace canopy::exporters::http {

namespace {

constexpr size_t kMaxHeaders = 100;

// RFC 9110 tchar: what a method or a header name may be made of.
bool is_tchar(char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar); }

// A control character other than horizontal tab (and DEL).
bool is_ctl(char c) {
  const auto u = static_cast<unsigned char>(c);
  return (u < 0x20 && c != '\t') || u == 0x7f;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// What a client sent, quoted for an error message: printable ASCII as is,
// anything else as \xNN, at most 60 bytes.
std::string shown(std::string_view s) {
  static const char* const kHex = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < s.size() && i < 60; ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    if (u >= 0x20 && u < 0x7f) {
      out += s[i];
    } else {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  if (s.size() > 60) out += "...";
  return out;
}

HeadParse invalid(int status, std::string message) {
  HeadParse p;
  p.state = HeadParse::State::invalid;
  p.status = status;
  p.message = std::move(message);
  return p;
}

// "close" / "keep-alive" among the comma-separated Connection options.
bool has_option(std::string_view value, std::string_view option) {
  while (!value.empty()) {
    const size_t comma = value.find(',');
    const std::string_view item = trim(value.substr(0, comma));
    if (lower(item) == option) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

const std::string* RequestHead::header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return &value;
  }
  return nullptr;
}

HeadParse parse_request_head(std::string_view data, size_t max_head_bytes) {
  // A client may send empty lines before a request (RFC 9112 2.2).
  size_t start = 0;
  while (start + 1 < data.size() && data[start] == '\r' && data[start + 1] == '\n') start += 2;
  const size_t end = data.find("\r\n\r\n", start);
  if (end == std::string_view::npos) {
    if (data.size() > max_head_bytes) {
      return invalid(431, "the request head is over " + std::to_string(max_head_bytes) + " bytes");
    }
    // Lines ending in a bare LF would never end the head: say so now.
    const size_t lf = data.find('\n', start);
    if (lf != std::string_view::npos && (lf == start || data[lf - 1] != '\r')) {
      return invalid(400, "request lines must end in CRLF, not a bare LF");
    }
    return {};
  }
  if (end + 4 > max_head_bytes) {
    return invalid(431, "the request head is over " + std::to_string(max_head_bytes) + " bytes");
  }
  HeadParse p;
  RequestHead& h = p.head;
  const std::string_view head = data.substr(start, end - start);
  size_t line_end = head.find("\r\n");
  const std::string_view request_line = head.substr(0, line_end);

  // METHOD SP request-target SP HTTP-version, single spaces.
  const size_t sp1 = request_line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : request_line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || request_line.find(' ', sp2 + 1) != std::string_view::npos) {
    return invalid(400, "the request line '" + shown(request_line) + "' is not METHOD TARGET HTTP/1.x");
  }
  const std::string_view method = request_line.substr(0, sp1);
  const std::string_view target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = request_line.substr(sp2 + 1);
  if (!is_token(method)) return invalid(400, "the method '" + shown(method) + "' is not a token");
  if (target.empty() || target.front() != '/') {
    return invalid(400, "the request target '" + shown(target) + "' must be a path starting with '/'");
  }
  for (const char c : target) {
    if (is_ctl(c) || c == '\t' || static_cast<unsigned char>(c) >= 0x80) {
      return invalid(400, "the request target '" + shown(target) + "' has a byte that must be percent-encoded");
    }
  }
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' || version[5] < '0' ||
      version[5] > '9' || version[7] < '0' || version[7] > '9') {
    return invalid(400, "the HTTP version '" + shown(version) + "' is not HTTP/1.0 or HTTP/1.1");
  }
  if (version[5] != '1' || (version[7] != '0' && version[7] != '1')) {
    // 400 rather than 505: a client error, as every refusal of a request here.
    return invalid(400, "HTTP version " + std::string(version.substr(5)) + " is not supported (HTTP/1.0 and 1.1 are)");
  }
  h.method = std::string(method);
  h.target = std::string(target);
  h.minor_version = version[7] - '0';

  bool have_length = false;
  size_t host_count = 0;
  while (line_end != std::string_view::npos) {
    const size_t next = head.find("\r\n", line_end + 2);
    const std::string_view line =
        head.substr(line_end + 2, next == std::string_view::npos ? next : next - line_end - 2);
    line_end = next;
    if (line.front() == ' ' || line.front() == '\t') {
      return invalid(400, "header lines folded onto the next line (obs-fold) are not accepted");
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return invalid(400, "the header line '" + shown(line) + "' has no ':'");
    const std::string_view name = line.substr(0, colon);
    if (!is_token(name)) {
      return invalid(400, "the header name '" + shown(name) + "' is not a token (no spaces before the ':')");
    }
    const std::string_view value = trim(line.substr(colon + 1));
    if (std::any_of(value.begin(), value.end(), is_ctl)) {
      return invalid(400, "the header " + std::string(name) + " has a control character in its value");
    }
    if (h.headers.size() == kMaxHeaders) return invalid(431, "more than " + std::to_string(kMaxHeaders) + " headers");
    std::string lname = lower(name);
    if (lname == "content-length") {
      if (value.empty() || value.size() > 18 || value.find_first_not_of("0123456789") != std::string_view::npos) {
        return invalid(400, "Content-Length '" + shown(value) + "' is not a number of bytes");
      }
      const uint64_t n = std::stoull(std::string(value));
      if (have_length && n != h.content_length) {
        return invalid(400, "two different Content-Length headers (" + std::to_string(h.content_length) + " and " +
                                std::to_string(n) + ")");
      }
      have_length = true;
      h.content_length = n;
    } else if (lname == "transfer-encoding") {
      // 411 Length Required: the request is fine once it says its length.
      return invalid(411, "Transfer-Encoding is not supported: send the body with a Content-Length");
    } else if (lname == "host") {
      ++host_count;
    }
    h.headers.emplace_back(std::move(lname), std::string(value));
  }
  if (h.minor_version == 1 && host_count != 1) {
    return invalid(400, host_count == 0 ? "an HTTP/1.1 request needs a Host header" : "more than one Host header");
  }
  const std::string* connection = h.header("connection");
  h.keep_alive = h.minor_version == 1 ? !(connection && has_option(*connection, "close"))
                                      : (connection && has_option(*connection, "keep-alive"));
  p.state = HeadParse::State::complete;
  p.head_bytes = end + 4;
  return p;
}

bool percent_decode(std::string_view s, std::string& out) {
  out.clear();
  out.reserve(s.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return false;
    const int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

}  // namespace canopy::exporters::http
