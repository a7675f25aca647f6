#pragma once
// The HTTP server: /metrics, /healthz, /readyz, the JSON API under /api/v1/
// and the admin routes. Binds 127.0.0.1:9568 by default. Its own epoll
// transport (src/http/event_server.hpp) keeps scrapes answered while clients
// hold keep-alive connections, send slowly or flood the API: slow senders are
// dropped, scrapes and health checks have a worker of their own. Admin
// routes need `Authorization: Bearer <token>` when a token is configured,
// and are refused (403) without one unless admin_without_token is loopback,
// which opens them to loopback peers. Errors are JSON
// `{"error": "..."}` with the right status. Thread-safe.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "canopy/core/result.hpp"
#include "canopy/exporters/exposition.hpp"
#include "canopy/exporters/options.hpp"

namespace canopy {
class Runtime;
}
namespace canopy::exporters::http {
class EventServer;
struct Request;
struct Response;
}  // namespace canopy::exporters::http

namespace canopy::exporters {

// What the server asks of the application for admin and extra routes.
struct ServerHooks {
  // POST /-/reload: "" on success, else why the new config was refused.
  std::function<std::string()> reload;
  // PUT /api/v1/log-level: "" on success, else why the level was refused.
  std::function<std::string(const std::string& level)> set_log_level;
  // GET /api/v1/alerts: the configured alert rules, as a JSON array.
  std::function<std::string()> alerts_json;
  // GET /api/v1/tables: the tables, as a JSON array.
  std::function<std::string()> tables_json;
  // Routes under /api/v1/ the application adds (the demo workload's faults).
  // Gets the method, the path parts after /api/v1/ and the body; returns
  // false when it has no such route, else sets status and a JSON body.
  // Anything but GET/HEAD is an admin route (the server checks first).
  std::function<bool(const std::string& method, const std::vector<std::string>& parts, const std::string& body,
                     int& status, std::string& json)>
      extra_api;
};

class HttpServer {
 public:
  // `runtime` and `exposition` must outlive the server.
  HttpServer(Runtime& runtime, Exposition& exposition, ServerOptions options, ServerHooks hooks = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts serving; an error names the address and the reason.
  Status start();
  void stop();
  // The bound port (useful with port 0).
  int port() const { return port_; }
  // Connections open now (the transport's count; tests of slow clients).
  uint64_t open_connections() const;
  // "http://127.0.0.1:9568"
  std::string url() const;

  struct Request;
  struct Response;

 private:
  http::Response serve(const http::Request& raw);
  Response handle(const Request& request);
  // /api/v1/...: tries each group of routes in turn, 404 when none answers.
  Response route_api(const Request& request);
  // One group of API routes each; nullopt when the path is not theirs.
  std::optional<Response> route_processes(const Request& request, const std::vector<std::string>& parts);
  std::optional<Response> route_views(const Request& request, const std::vector<std::string>& parts);
  std::optional<Response> route_log_level(const Request& request, const std::vector<std::string>& parts);
  std::optional<Response> route_code(const Request& request, const std::vector<std::string>& parts);
  std::optional<Response> route_crashes(const Request& request, const std::vector<std::string>& parts);
  std::optional<Response> route_extra(const Request& request, const std::vector<std::string>& parts);
  // With a token: the request must bear it (401). Without one: 403, unless
  // admin_without_token is loopback and the peer is on loopback.
  bool admin_allowed(const Request& request, Response& refusal) const;

  Runtime& runtime_;
  Exposition& exposition_;
  const ServerOptions options_;
  const ServerHooks hooks_;
  std::unique_ptr<http::EventServer> transport_;
  int port_ = 0;
};

}  // namespace canopy::exporters
