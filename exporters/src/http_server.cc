#include "canopy/exporters/http_server.hpp"

#include <algorithm>
#include <cstring>
#include <map>

#include "api.hpp"
#include "canopy/exporters/json.hpp"
#include "http/event_server.hpp"
#include "observer_assets.hpp"

namespace canopy::exporters {

namespace {

bool loopback(const std::string& addr) {
  return addr == "::1" || addr.rfind("127.", 0) == 0 || addr == "::ffff:127.0.0.1";
}

// Compares without an early exit, so the time taken says nothing about
// how much of a guessed token was right.
bool constant_time_equal(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

// A query's key or value: '+' is a space there, then percent-decoded once.
bool query_decode(std::string_view s, std::string& out) {
  std::string plus(s);
  std::replace(plus.begin(), plus.end(), '+', ' ');
  return http::percent_decode(plus, out);
}

// key=value pairs split at '&'; false when an escape is broken.
bool parse_query(std::string_view q, std::map<std::string, std::string>& out) {
  while (!q.empty()) {
    const size_t amp = q.find('&');
    const std::string_view pair = q.substr(0, amp);
    const size_t eq = pair.find('=');
    std::string key, value;
    if (!query_decode(pair.substr(0, eq), key)) return false;
    if (eq != std::string_view::npos && !query_decode(pair.substr(eq + 1), value)) return false;
    if (!key.empty()) out[key] = value;
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return true;
}

// The path after /api/v1/, split at '/' before decoding (so an encoded '/'
// stays inside its part) and decoded once, empty parts dropped.
bool api_path_parts(std::string_view raw_path, std::vector<std::string>& parts) {
  std::string_view rest = raw_path.substr(std::strlen("/api/v1/"));
  while (!rest.empty()) {
    const size_t slash = rest.find('/');
    const std::string_view part = rest.substr(0, slash);
    if (!part.empty()) {
      std::string decoded;
      if (!http::percent_decode(part, decoded)) return false;
      parts.push_back(std::move(decoded));
    }
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return true;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

HttpServer::HttpServer(Runtime& runtime, Exposition& exposition, ServerOptions options, ServerHooks hooks)
    : runtime_(runtime), exposition_(exposition), options_(std::move(options)), hooks_(std::move(hooks)) {}

HttpServer::~HttpServer() { stop(); }

Status HttpServer::start() {
  if (transport_) return {};
  if (!options_.tls.cert_file.empty() || !options_.tls.key_file.empty()) {
    return Error(Errc::invalid_argument,
                 "server.tls: canopy serves plain HTTP; terminate TLS in front of it (nginx, stunnel, or "
                 "Prometheus scraping over a private network) and remove server.tls");
  }
  // host:port or [v6]:port (config checked the form).
  const size_t colon = options_.listen.rfind(':');
  if (colon == std::string::npos) return Error(Errc::invalid_argument, "cannot listen on " + options_.listen);
  std::string host = options_.listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const unsigned long port = std::strtoul(options_.listen.c_str() + colon + 1, nullptr, 10);
  if (port > 65535) return Error(Errc::invalid_argument, "cannot listen on " + options_.listen + ": no such port");

  http::EventServerOptions o;
  o.host = host;
  o.port = static_cast<uint16_t>(port);
  o.workers = std::max(1u, options_.threads);
  o.max_connections = options_.max_connections;
  o.max_body_bytes = options_.max_request_bytes;
  o.head_timeout = options_.request_timeout;
  o.body_timeout = options_.request_timeout;
  o.idle_timeout = options_.idle_timeout;
  auto urgent = [](const http::RequestHead& h) {
    return (h.method == "GET" || h.method == "HEAD") &&
           (h.target.rfind("/metrics", 0) == 0 || h.target.rfind("/healthz", 0) == 0 ||
            h.target.rfind("/readyz", 0) == 0);
  };
  auto transport = std::make_unique<http::EventServer>(
      o, [this](const http::Request& r) { return serve(r); }, urgent,
      [](std::string_view message) { return json_error(message); });
  if (const Status st = transport->start(); !st.ok()) {
    return Error(Errc::invalid_argument, "cannot listen on " + options_.listen + ": " + st.error().message());
  }
  port_ = transport->port();
  transport_ = std::move(transport);
  return {};
}

void HttpServer::stop() {
  if (!transport_) return;
  transport_->stop();
  transport_.reset();
}

uint64_t HttpServer::open_connections() const { return transport_ ? transport_->stats().open : 0; }

std::string HttpServer::url() const {
  std::string host = options_.listen.substr(0, options_.listen.rfind(':'));
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  if (host == "[::]") host = "[::1]";
  return "http://" + host + ":" + std::to_string(port_);
}

struct HttpServer::Request {
  std::string method;
  std::string path;                // decoded once
  std::vector<std::string> parts;  // under /api/v1/: split, then each part decoded once
  std::map<std::string, std::string> query;
  std::string body;
  std::string remote;
  std::string authorization;
  bool accepts_gzip = false;
};

struct HttpServer::Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::function<void(std::string)> recycle;  // see http::Response
  static Response json(int status, std::string body) {
    return Response{status, "application/json", std::move(body), {}, {}};
  }
  static Response error(int status, std::string_view message) { return json(status, json_error(message)); }
};

http::Response HttpServer::serve(const http::Request& raw) {
  Request req;
  req.method = raw.head.method;
  req.remote = raw.peer;
  req.body = raw.body;
  const std::string_view target = raw.head.target;
  const size_t question = target.find('?');
  const std::string_view raw_path = target.substr(0, question);
  Response res;
  if (!http::percent_decode(raw_path, req.path) ||
      (question != std::string_view::npos && !parse_query(target.substr(question + 1), req.query)) ||
      (raw_path.rfind("/api/v1/", 0) == 0 && !api_path_parts(raw_path, req.parts))) {
    res = Response::error(400, "the request target has a '%' that is not followed by two hex digits");
  } else if (req.path.find('\0') != std::string::npos) {
    res = Response::error(400, "the request path has a NUL byte (%00)");
  } else {
    if (const std::string* a = raw.head.header("authorization")) req.authorization = *a;
    if (const std::string* e = raw.head.header("accept-encoding"))
      req.accepts_gzip = e->find("gzip") != std::string::npos;
    res = handle(req);
  }
  return http::Response{res.status, std::move(res.content_type), std::move(res.body), std::move(res.headers),
                        std::move(res.recycle)};
}

bool HttpServer::admin_allowed(const Request& req, Response& refusal) const {
  if (options_.admin_token.empty()) {
    const bool loopback_allowed = options_.admin_without_token == AdminWithoutToken::loopback;
    if (loopback_allowed && loopback(req.remote)) return true;
    refusal = Response::error(
        403, loopback_allowed
                 ? "admin routes without a token are open only to loopback peers (server.admin_without_token: "
                   "loopback); set a token with server.admin_token_file or CANOPY_ADMIN_TOKEN"
                 : "admin routes are refused: no admin token is configured. Set one with server.admin_token_file "
                   "or CANOPY_ADMIN_TOKEN and send Authorization: Bearer <token>, or allow them from loopback "
                   "peers without a token with server.admin_without_token: loopback");
    return false;
  }
  // The scheme is case-insensitive (RFC 9110 11.1).
  const std::string_view prefix = "Bearer ";
  if (req.authorization.size() < prefix.size() || !iequals(std::string_view(req.authorization).substr(0, 7), prefix)) {
    refusal = Response::error(401, "admin route: send Authorization: Bearer <token>");
    refusal.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"canopy\"");
    return false;
  }
  if (!constant_time_equal(req.authorization.substr(prefix.size()), options_.admin_token)) {
    refusal = Response::error(401, "admin route: the bearer token is not valid");
    refusal.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"canopy\", error=\"invalid_token\"");
    return false;
  }
  return true;
}

namespace {

bool is_get(const HttpServer::Request& req) { return req.method == "GET" || req.method == "HEAD"; }

HttpServer::Response method_not_allowed(const HttpServer::Request& req, const char* allow) {
  HttpServer::Response r = HttpServer::Response::error(
      405, "method " + req.method + " is not allowed on " + req.path + " (allowed: " + allow + ")");
  r.headers.emplace_back("Allow", allow);
  return r;
}

HttpServer::Response from_reply(api::Reply r) { return HttpServer::Response::json(r.status, std::move(r.body)); }

}  // namespace

HttpServer::Response HttpServer::handle(const Request& req) {
  const bool get = is_get(req);
  if (req.path == "/metrics") {
    if (!get) return method_not_allowed(req, "GET, HEAD");
    bool compressed = false;
    Response r{200, "text/plain; version=0.0.4; charset=utf-8", exposition_.scrape(req.accepts_gzip, &compressed), {}};
    if (compressed) r.headers.emplace_back("Content-Encoding", "gzip");
    // The text's buffer serves the next scrape once it is sent.
    if (!compressed) r.recycle = [this](std::string sent) { exposition_.recycle(std::move(sent)); };
    return r;
  }
  if (req.path == "/healthz") {
    if (!get) return method_not_allowed(req, "GET, HEAD");
    return Response{200, "text/plain; charset=utf-8", "ok\n", {}};
  }
  if (req.path == "/readyz") {
    if (!get) return method_not_allowed(req, "GET, HEAD");
    const auto r = api::readiness(runtime_);
    return Response{r.first ? 200 : 503, "text/plain; charset=utf-8", r.second + "\n", {}};
  }
  if (req.path == "/-/reload") {
    if (req.method != "POST") return method_not_allowed(req, "POST");
    Response refusal;
    if (!admin_allowed(req, refusal)) return refusal;
    if (!hooks_.reload) return Response::error(404, "reload is not available in this server");
    const std::string error = hooks_.reload();
    if (!error.empty()) return Response::error(400, "reload refused, the old config stays: " + error);
    JsonWriter j;
    j.begin_object().field("status", "reloaded").end_object();
    return Response::json(200, j.str());
  }
  if (req.path.rfind("/api/v1/", 0) == 0) return route_api(req);
  // The observer page: "/" and its script and style sheet.
  for (const ObserverAsset& a : observer_assets()) {
    if (req.path != a.path) continue;
    if (!get) return method_not_allowed(req, "GET, HEAD");
    Response r{200, std::string(a.content_type), std::string(a.body), {}};
    r.headers.emplace_back("Cache-Control", "no-cache");
    return r;
  }
  return Response::error(404, "no route " + req.path + " (try /, /metrics, /healthz, /readyz or /api/v1/)");
}

HttpServer::Response HttpServer::route_api(const Request& req) {
  const std::vector<std::string>& parts = req.parts;
  if (parts.empty()) return Response::error(404, "no route " + req.path);
  if (auto r = route_processes(req, parts)) return std::move(*r);
  if (auto r = route_views(req, parts)) return std::move(*r);
  if (auto r = route_log_level(req, parts)) return std::move(*r);
  if (auto r = route_code(req, parts)) return std::move(*r);
  if (auto r = route_crashes(req, parts)) return std::move(*r);
  if (auto r = route_extra(req, parts)) return std::move(*r);
  return Response::error(404, "no route " + req.path);
}

// /api/v1/processes, /api/v1/processes/{pid}, /api/v1/processes/{pid}/kill|trace
std::optional<HttpServer::Response> HttpServer::route_processes(const Request& req,
                                                                const std::vector<std::string>& parts) {
  if (parts[0] != "processes") return std::nullopt;
  if (parts.size() == 1) {
    if (!is_get(req)) return method_not_allowed(req, "GET, HEAD");
    return from_reply(api::processes(runtime_, req.query));
  }
  if (parts.size() == 2) {
    if (!is_get(req)) return method_not_allowed(req, "GET, HEAD");
    return from_reply(api::process(runtime_, parts[1]));
  }
  if (parts.size() == 3 && (parts[2] == "kill" || parts[2] == "trace")) {
    if (req.method != "POST") return method_not_allowed(req, "POST");
    Response refusal;
    if (!admin_allowed(req, refusal)) return refusal;
    return from_reply(parts[2] == "kill" ? api::kill(runtime_, parts[1], req.body)
                                         : api::trace(runtime_, parts[1], req.body));
  }
  return std::nullopt;
}

// GET /api/v1/code; POST /api/v1/code/upgrade (admin).
std::optional<HttpServer::Response> HttpServer::route_code(const Request& req, const std::vector<std::string>& parts) {
  if (parts[0] != "code") return std::nullopt;
  if (parts.size() == 1) {
    if (!is_get(req)) return method_not_allowed(req, "GET, HEAD");
    return from_reply(api::code(runtime_));
  }
  if (parts.size() == 2 && parts[1] == "upgrade") {
    if (req.method != "POST") return method_not_allowed(req, "POST");
    Response refusal;
    if (!admin_allowed(req, refusal)) return refusal;
    return from_reply(api::code_upgrade(runtime_, req.body));
  }
  return std::nullopt;
}

// GET /api/v1/crashes; POST /api/v1/dump (admin).
std::optional<HttpServer::Response> HttpServer::route_crashes(const Request& req,
                                                              const std::vector<std::string>& parts) {
  if (parts.size() != 1) return std::nullopt;
  if (parts[0] == "crashes") {
    if (!is_get(req)) return method_not_allowed(req, "GET, HEAD");
    return from_reply(api::crashes(runtime_, req.query));
  }
  if (parts[0] == "dump") {
    if (req.method != "POST") return method_not_allowed(req, "POST");
    Response refusal;
    if (!admin_allowed(req, refusal)) return refusal;
    return from_reply(api::dump(runtime_, req.body));
  }
  return std::nullopt;
}

// The read-only views: /api/v1/orphans, supervision-tree, schedulers, system,
// tables, alerts.
std::optional<HttpServer::Response> HttpServer::route_views(const Request& req, const std::vector<std::string>& parts) {
  if (parts.size() != 1) return std::nullopt;
  const std::string& head = parts[0];
  static const char* const kViews[] = {"orphans", "supervision-tree", "schedulers", "system", "tables", "alerts"};
  if (std::find(std::begin(kViews), std::end(kViews), head) == std::end(kViews)) return std::nullopt;
  if (!is_get(req)) return method_not_allowed(req, "GET, HEAD");
  if (head == "orphans") return from_reply(api::orphans(runtime_, req.query));
  if (head == "supervision-tree") return from_reply(api::supervision_tree(runtime_));
  if (head == "schedulers") return from_reply(api::schedulers(runtime_));
  if (head == "system") return from_reply(api::system(runtime_));
  if (head == "tables") return Response::json(200, hooks_.tables_json ? hooks_.tables_json() : "[]");
  return Response::json(200, hooks_.alerts_json ? hooks_.alerts_json() : "[]");
}

// PUT /api/v1/log-level with {"level": "debug"} (or the bare level).
std::optional<HttpServer::Response> HttpServer::route_log_level(const Request& req,
                                                                const std::vector<std::string>& parts) {
  if (parts.size() != 1 || parts[0] != "log-level") return std::nullopt;
  if (req.method != "PUT") return method_not_allowed(req, "PUT");
  Response refusal;
  if (!admin_allowed(req, refusal)) return refusal;
  std::string level = json_string_member(req.body, "level").value_or(req.body);
  level.erase(
      std::remove_if(level.begin(), level.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); }),
      level.end());
  if (level.empty())
    return Response::error(400,
                           "log-level: send {\"level\": \"debug\"} (trace, debug, info, warn, error, critical, off)");
  if (!hooks_.set_log_level) return Response::error(404, "log-level is not available in this server");
  const std::string error = hooks_.set_log_level(level);
  if (!error.empty()) return Response::error(400, error);
  JsonWriter j;
  j.begin_object().field("level", level).end_object();
  return Response::json(200, j.str());
}

// The routes the application adds (ServerHooks::extra_api); anything but
// GET/HEAD is an admin route.
std::optional<HttpServer::Response> HttpServer::route_extra(const Request& req, const std::vector<std::string>& parts) {
  if (!hooks_.extra_api) return std::nullopt;
  if (!is_get(req)) {
    Response refusal;
    if (!admin_allowed(req, refusal)) return refusal;
  }
  int status = 200;
  std::string json;
  if (!hooks_.extra_api(req.method, parts, req.body, status, json)) return std::nullopt;
  return Response::json(status, std::move(json));
}

}  // namespace canopy::exporters
