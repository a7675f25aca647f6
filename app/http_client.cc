#include "http_client.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace canopy::app {

namespace {

Error fail(const std::string& url, const std::string& why) {
  return Error(Errc::invalid_argument, url + ": " + why);
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

Result<HttpReply> http_request(const std::string& method, const std::string& url, const std::string& path,
                               const std::string& body, const std::string& token, std::chrono::milliseconds timeout) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) return fail(url, "only http://HOST:PORT URLs are supported");
  std::string rest = url.substr(scheme.size());
  const size_t slash = rest.find('/');
  std::string prefix = slash == std::string::npos ? "" : rest.substr(slash);
  if (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  const std::string authority = rest.substr(0, slash);
  const size_t colon = authority.rfind(':');
  const std::string host = colon == std::string::npos ? authority : authority.substr(0, colon);
  const std::string port = colon == std::string::npos ? "80" : authority.substr(colon + 1);
  if (host.empty() || port.empty()) return fail(url, "no host or port");

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return fail(url, std::string("cannot resolve host: ") + gai_strerror(rc));
  }
  Fd s;
  std::string connect_error = "no address";
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    s.fd = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (s.fd < 0) continue;
    if (::connect(s.fd, a->ai_addr, a->ai_addrlen) == 0) break;
    connect_error = std::strerror(errno);
    ::close(s.fd);
    s.fd = -1;
  }
  freeaddrinfo(found);
  if (s.fd < 0) return fail(url, "cannot connect: " + connect_error + " (is `canopy run` serving there?)");

  std::string req = method + " " + prefix + path + " HTTP/1.1\r\nHost: " + authority +
                    "\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n";
  if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
  req += "\r\n" + body;
  for (size_t sent = 0; sent < req.size();) {
    const ssize_t n = ::send(s.fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return fail(url, std::string("send failed: ") + std::strerror(errno));
    sent += static_cast<size_t>(n);
  }
  std::string raw;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[8192];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return fail(url, "no complete answer within " + std::to_string(timeout.count()) + " ms");
    pollfd p{s.fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    const ssize_t n = ::recv(s.fd, buf, sizeof(buf), 0);
    if (n < 0) return fail(url, std::string("receive failed: ") + std::strerror(errno));
    if (n == 0) break;
    raw.append(buf, static_cast<size_t>(n));
  }
  const size_t end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.", 0) != 0 || end == std::string::npos || raw.size() < 12) {
    return fail(url, "the answer is not HTTP");
  }
  HttpReply r;
  r.status = std::atoi(raw.c_str() + 9);
  r.body = raw.substr(end + 4);
  // Connection: close without chunking is what canopy's server answers; a
  // chunked body is decoded here anyway.
  const std::string head = raw.substr(0, end);
  if (head.find("Transfer-Encoding: chunked") != std::string::npos ||
      head.find("transfer-encoding: chunked") != std::string::npos) {
    std::string decoded;
    size_t pos = 0;
    while (pos < r.body.size()) {
      const size_t crlf = r.body.find("\r\n", pos);
      if (crlf == std::string::npos) break;
      const size_t len = std::strtoul(r.body.substr(pos, crlf - pos).c_str(), nullptr, 16);
      if (len == 0) break;
      decoded += r.body.substr(crlf + 2, len);
      pos = crlf + 2 + len + 2;
    }
    r.body = std::move(decoded);
  }
  return r;
}

}  // namespace canopy::app
