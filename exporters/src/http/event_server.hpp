#pragma once
// The HTTP/1.1 transport under HttpServer: one epoll thread owns every
// connection (accepting, reading, parsing with request_head.hpp, writing,
// deadlines) and hands each complete request to a pool of workers.
//
// Why not civetweb (used before): it holds a worker thread per connection for
// as long as the connection lives, so a few keep-alive or slow clients held
// every worker and scrapes failed; libmicrohttpd only has an inactivity
// timeout, which a client sending a byte a second never trips. Here a
// connection costs a socket and a buffer, not a thread:
//   - a request head must arrive within `head_timeout` of its first byte and
//     its body within `body_timeout` after that (slow senders are dropped);
//   - an idle keep-alive connection is closed after `idle_timeout`, and the
//     oldest idle one makes room when `max_connections` are open;
//   - requests the caller marks urgent (scrapes, health checks) go to a lane
//     with a worker of its own, so API traffic never queues in front of them;
//   - each response is one write (head and body together) on a socket with
//     TCP_NODELAY: no Nagle/delayed-ACK stall between them.
// A connection has at most one request in the workers at a time; pipelined
// requests wait in its buffer. Thread-safe: start/stop from one thread.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "canopy/core/result.hpp"
#include "http/request_head.hpp"

namespace canopy::exporters::http {

struct Request {
  RequestHead head;
  std::string body;
  std::string peer;  // the client's address, e.g. "127.0.0.1"
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // When set, receives the body once it is written, so that its memory can
  // serve again (a scrape's megabytes). Runs on the epoll thread: keep it
  // cheap.
  std::function<void(std::string)> recycle;
};

struct EventServerOptions {
  std::string host = "127.0.0.1";  // an address or a name (getaddrinfo), no brackets
  uint16_t port = 0;               // 0: a free port
  unsigned workers = 4;            // plus one for the urgent lane
  size_t max_connections = 1024;
  size_t max_head_bytes = 16 * 1024;
  uint64_t max_body_bytes = 64 * 1024;
  std::chrono::milliseconds head_timeout{3'000};
  std::chrono::milliseconds body_timeout{3'000};
  std::chrono::milliseconds idle_timeout{30'000};
  std::chrono::milliseconds write_timeout{30'000};
};

class EventServer {
 public:
  // Answers a request (runs on a worker). Exceptions become 500s.
  using Handler = std::function<Response(const Request&)>;
  // True when a request goes to the urgent lane (runs on the epoll thread:
  // keep it cheap).
  using Urgent = std::function<bool(const RequestHead&)>;
  // The JSON body of an error the transport answers itself (400, 413, ...).
  using ErrorBody = std::function<std::string(std::string_view message)>;

  EventServer(EventServerOptions options, Handler handler, Urgent urgent, ErrorBody error_body);
  ~EventServer();
  EventServer(const EventServer&) = delete;
  EventServer& operator=(const EventServer&) = delete;

  // Binds, listens and starts the threads; the error names the address.
  Status start();
  // Closes every connection and joins the threads; requests in the workers
  // finish first.
  void stop();
  uint16_t port() const;

  // Counts since start, for tests and the server's own log.
  struct Stats {
    uint64_t accepted = 0;
    uint64_t requests = 0;
    uint64_t timed_out = 0;  // dropped by a deadline
    uint64_t refused = 0;    // closed at once: max_connections with none idle
    uint64_t open = 0;
  };
  Stats stats() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// The bytes of `response` on the wire: status line, headers (Content-Length,
// `Connection: close` when `close`), blank line, and the body unless
// `head_only` (HEAD).
std::string serialize(const Response& response, bool close, bool head_only);
// Only the status line, headers and blank line (Content-Length still counts
// the body), with room reserved for `room` more bytes.
std::string serialize_head(const Response& response, bool close, size_t room);

}  // namespace canopy::exporters::http
