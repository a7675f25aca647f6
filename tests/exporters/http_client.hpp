#pragma once
// A minimal HTTP/1.1 client over a loopback socket, for testing the real
// server with real requests (no mocks). One request per connection.
// Answers that are JSON are read with a real parser (json_of), never by
// searching the text.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace canopy::test {

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

// Sends `raw` bytes as they are and reads the answer until the peer closes
// (or 10 s pass). Status 0 when nothing sensible came back.
inline HttpResponse raw_request(int port, const std::string& raw) {
  HttpResponse r;
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return r;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return r;
  }
  size_t sent = 0;
  while (sent < raw.size()) {
    const ssize_t n = send(fd, raw.data() + sent, raw.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string in;
  char buf[65536];
  for (int rounds = 0; rounds < 10'000; ++rounds) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 10'000) <= 0) break;
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    in.append(buf, static_cast<size_t>(n));
    // Stop once a Content-Length body is complete (keep-alive servers).
    const size_t end = in.find("\r\n\r\n");
    if (end != std::string::npos) {
      const size_t cl = in.find("Content-Length: ");
      if (cl != std::string::npos && cl < end) {
        // (Not in.substr(cl + 16): copying all that arrived after every read
        // made a 5 MB answer cost hundreds of MB of copying.)
        const size_t len = std::strtoul(in.c_str() + cl + 16, nullptr, 10);
        if (in.size() >= end + 4 + len) break;
        in.reserve(end + 4 + len);
      }
    }
  }
  close(fd);
  const size_t end = in.find("\r\n\r\n");
  if (in.rfind("HTTP/1.", 0) != 0 || end == std::string::npos) return r;
  r.status = std::stoi(in.substr(9, 3));
  size_t pos = in.find("\r\n") + 2;
  while (pos < end) {
    const size_t eol = in.find("\r\n", pos);
    const std::string line = in.substr(pos, eol - pos);
    const size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
    }
    pos = eol + 2;
  }
  in.erase(0, end + 4);
  r.body = std::move(in);
  return r;
}

// The head and body of one response at the start of `in` (removed from it);
// status 0 while incomplete. The answer to a HEAD (`head_only`) has no body.
inline HttpResponse take_response(std::string& in, bool head_only = false) {
  HttpResponse r;
  const size_t end = in.find("\r\n\r\n");
  if (in.rfind("HTTP/1.", 0) != 0 || end == std::string::npos) return r;
  size_t length = 0;
  size_t pos = in.find("\r\n") + 2;
  std::map<std::string, std::string> headers;
  while (pos < end) {
    const size_t eol = in.find("\r\n", pos);
    const std::string line = in.substr(pos, eol - pos);
    const size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
      if (name == "content-length" && !head_only) length = std::stoul(headers[name]);
    }
    pos = eol + 2;
  }
  if (in.size() < end + 4 + length) return r;
  r.status = std::stoi(in.substr(9, 3));
  r.headers = std::move(headers);
  r.body = in.substr(end + 4, length);
  in.erase(0, end + 4 + length);
  return r;
}

// One keep-alive connection: send requests, read responses one at a time,
// see whether the server closed it.
class Connection {
 public:
  explicit Connection(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ >= 0 && connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      close(fd_);
      fd_ = -1;
    }
  }
  ~Connection() {
    if (fd_ >= 0) close(fd_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  bool ok() const { return fd_ >= 0; }
  bool send_raw(const std::string& raw) {
    return fd_ >= 0 && ::send(fd_, raw.data(), raw.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(raw.size());
  }
  bool get(const std::string& path) { return send_raw("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); }
  void shutdown_sending() { ::shutdown(fd_, SHUT_WR); }
  // The next response, waiting up to `timeout_ms`; status 0 if none came.
  HttpResponse read_response(int timeout_ms = 10'000, bool head_only = false) {
    for (int rounds = 0; rounds < 10'000; ++rounds) {
      HttpResponse r = take_response(in_, head_only);
      if (r.status != 0) return r;
      if (!fill(timeout_ms)) break;
    }
    return {};
  }
  // True once the server has closed the connection (waits up to
  // `timeout_ms`); data that arrives first is kept for read_response.
  bool closed_by_server(int timeout_ms) {
    for (int rounds = 0; rounds < 10'000; ++rounds) {
      if (!fill(timeout_ms)) return eof_;
    }
    return eof_;
  }

 private:
  // Reads what arrives within `timeout_ms`; false on timeout or end of stream.
  bool fill(int timeout_ms) {
    if (fd_ < 0 || eof_) return false;
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return false;
    char buf[65536];
    const ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    in_.append(buf, static_cast<size_t>(n));
    return true;
  }
  int fd_ = -1;
  bool eof_ = false;
  std::string in_;
};

inline HttpResponse request(int port, const std::string& method, const std::string& path, const std::string& body = "",
                            const std::map<std::string, std::string>& headers = {}) {
  std::string raw = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  for (const auto& [k, v] : headers) raw += k + ": " + v + "\r\n";
  if (!body.empty() || method == "POST" || method == "PUT")
    raw += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  raw += "\r\n" + body;
  return raw_request(port, raw);
}

// The body parsed as JSON (strict: invalid JSON or invalid UTF-8 throws, which
// fails the test that asked).
inline nlohmann::json json_of(const HttpResponse& r) { return nlohmann::json::parse(r.body); }

}  // namespace canopy::test
