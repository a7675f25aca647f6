#include "canopy/exporters/http_server.hpp"

#include <civetweb.h>
#include <dlfcn.h>
#include <unistd.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "api.hpp"
#include "canopy/exporters/json.hpp"

namespace canopy::exporters {

namespace {

const char* reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Payload Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
  }
  return "Status";
}

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

std::string url_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else if (s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

std::map<std::string, std::string> parse_query(const char* q) {
  std::map<std::string, std::string> out;
  if (q == nullptr) return out;
  std::istringstream in(q);
  std::string pair;
  while (std::getline(in, pair, '&')) {
    const size_t eq = pair.find('=');
    out[url_decode(pair.substr(0, eq))] = eq == std::string::npos ? "" : url_decode(pair.substr(eq + 1));
  }
  return out;
}

}  // namespace

HttpServer::HttpServer(Runtime& runtime, Exposition& exposition, ServerOptions options, ServerHooks hooks)
    : runtime_(runtime), exposition_(exposition), options_(std::move(options)), hooks_(std::move(hooks)) {}

HttpServer::~HttpServer() { stop(); }

namespace {

// civetweb loads OpenSSL at run time (dlopen "libssl.so") and calls it through
// a table of looked-up functions. Debian 12's civetweb 1.15 is built for the
// OpenSSL 1.1 API: with OpenSSL 3, SSL_get_peer_certificate (a macro there)
// is missing from the table and the first HTTPS connection calls a null
// pointer. Refuse TLS up front, with the reason, rather than crash later.
std::string tls_unsupported_reason() {
  void* ssl = dlopen("libssl.so", RTLD_LAZY | RTLD_LOCAL);
  if (ssl == nullptr) {
    return "server.tls: civetweb loads OpenSSL as libssl.so, which is not installed (apt-get install libssl-dev)";
  }
  const bool has_1_1_api = dlsym(ssl, "SSL_get_peer_certificate") != nullptr;
  dlclose(ssl);
  if (!has_1_1_api) {
    return "server.tls: this civetweb (1.15, OpenSSL 1.1 API) crashes on the first HTTPS connection with the "
           "installed OpenSSL 3; terminate TLS in front of canopy (nginx, stunnel, or Prometheus scraping over a "
           "private network) or use a civetweb built with OPENSSL_API_3_0";
  }
  return "";
}

}  // namespace

Status HttpServer::start() {
  if (context_ != nullptr) return {};
  mg_init_library(MG_FEATURES_SSL);
  std::string ports = options_.listen;
  std::vector<std::string> opts = {"num_threads",        std::to_string(std::max(1u, options_.threads)),
                                   "request_timeout_ms", "10000",
                                   "enable_keep_alive",  "yes"};
  tls_ = !options_.tls.cert_file.empty() || !options_.tls.key_file.empty();
  if (tls_) {
    if (options_.tls.cert_file.empty() || options_.tls.key_file.empty()) {
      return Error(Errc::invalid_argument, "server.tls needs both cert_file and key_file");
    }
    if (const std::string reason = tls_unsupported_reason(); !reason.empty()) {
      return Error(Errc::invalid_argument, reason);
    }
    // civetweb wants the key and the certificate in one PEM file.
    std::ifstream key(options_.tls.key_file), cert(options_.tls.cert_file);
    if (!key) return Error(Errc::invalid_argument, "server.tls.key_file: cannot read " + options_.tls.key_file);
    if (!cert) return Error(Errc::invalid_argument, "server.tls.cert_file: cannot read " + options_.tls.cert_file);
    char path[] = "/tmp/canopy-tls-XXXXXX";
    const int fd = mkstemp(path);
    if (fd < 0) return Error(Errc::invalid_argument, "server.tls: cannot create a temporary PEM file");
    close(fd);
    tls_pem_ = path;
    std::ofstream pem(tls_pem_, std::ios::trunc);
    pem << key.rdbuf() << "\n" << cert.rdbuf() << "\n";
    ports += "s";
    opts.insert(opts.end(), {"ssl_certificate", tls_pem_});
  }
  opts.insert(opts.begin(), {"listening_ports", ports});
  std::vector<const char*> raw;
  for (auto& o : opts) raw.push_back(o.c_str());
  raw.push_back(nullptr);

  mg_callbacks callbacks{};
  callbacks.log_message = [](const mg_connection*, const char* message) {
    spdlog::get("canopy.http") ? spdlog::get("canopy.http")->warn("{}", message) : void();
    return 1;
  };
  char error_text[256] = {0};
  mg_init_data init{};
  init.callbacks = &callbacks;
  init.user_data = this;
  init.configuration_options = raw.data();
  mg_error_data error{};
  error.text = error_text;
  error.text_buffer_size = sizeof error_text;
  context_ = mg_start2(&init, &error);
  if (context_ == nullptr) {
    return Error(Errc::invalid_argument,
                 "cannot listen on " + options_.listen + ": " +
                     (error_text[0] ? std::string(error_text) : std::string("civetweb failed to start")));
  }
  mg_set_request_handler(context_, "/", &HttpServer::dispatch, this);
  mg_server_port ports_info[4];
  const int n = mg_get_server_ports(context_, 4, ports_info);
  port_ = n > 0 ? ports_info[0].port : 0;
  return {};
}

void HttpServer::stop() {
  if (context_ == nullptr) return;
  mg_stop(context_);
  context_ = nullptr;
  if (!tls_pem_.empty()) std::remove(tls_pem_.c_str());
}

std::string HttpServer::url() const {
  std::string host = options_.listen.substr(0, options_.listen.rfind(':'));
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  return std::string(tls_ ? "https://" : "http://") + host + ":" + std::to_string(port_);
}

struct HttpServer::Request {
  std::string method;
  std::string path;
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
  static Response json(int status, std::string body) {
    return Response{status, "application/json", std::move(body), {}};
  }
  static Response error(int status, std::string_view message) { return json(status, json_error(message)); }
};

int HttpServer::dispatch(mg_connection* conn, void* self_ptr) {
  auto* self = static_cast<HttpServer*>(self_ptr);
  const mg_request_info* ri = mg_get_request_info(conn);
  Request req;
  req.method = ri->request_method ? ri->request_method : "";
  req.path = ri->local_uri ? ri->local_uri : "/";
  req.query = parse_query(ri->query_string);
  req.remote = ri->remote_addr;
  if (const char* a = mg_get_header(conn, "Authorization")) req.authorization = a;
  if (const char* e = mg_get_header(conn, "Accept-Encoding")) req.accepts_gzip = std::strstr(e, "gzip") != nullptr;

  Response res;
  const uint64_t limit = self->options_.max_request_bytes;
  if (ri->content_length > 0 && static_cast<uint64_t>(ri->content_length) > limit) {
    res =
        Response::error(413, "request body of " + std::to_string(ri->content_length) + " bytes is over the limit of " +
                                 std::to_string(limit) + " bytes (server.max_request_bytes)");
  } else {
    // Read the body, bounded even when the length is unknown (chunked).
    bool too_big = false;
    char buf[4096];
    for (;;) {
      const int n = mg_read(conn, buf, sizeof buf);
      if (n <= 0) break;
      if (req.body.size() + static_cast<size_t>(n) > limit) {
        too_big = true;
        break;
      }
      req.body.append(buf, static_cast<size_t>(n));
    }
    if (too_big) {
      res = Response::error(
          413, "request body is over the limit of " + std::to_string(limit) + " bytes (server.max_request_bytes)");
    } else {
      try {
        res = self->handle(req);
      } catch (const std::exception& e) {
        res = Response::error(500, std::string("internal error: ") + e.what());
      }
    }
  }
  std::string head = "HTTP/1.1 " + std::to_string(res.status) + " " + reason_phrase(res.status) + "\r\n";
  head += "Content-Type: " + res.content_type + "\r\n";
  head += "Content-Length: " + std::to_string(res.body.size()) + "\r\n";
  head += "Cache-Control: no-store\r\n";
  for (auto& [k, v] : res.headers) head += k + ": " + v + "\r\n";
  head += "\r\n";
  mg_write(conn, head.data(), head.size());
  if (req.method != "HEAD") mg_write(conn, res.body.data(), res.body.size());
  return res.status;
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
  const std::string prefix = "Bearer ";
  if (req.authorization.rfind(prefix, 0) != 0) {
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

// The path after /api/v1/, split at '/' and URL-decoded, empty parts dropped.
std::vector<std::string> api_path_parts(const std::string& path) {
  std::vector<std::string> parts;
  std::istringstream in(path.substr(std::strlen("/api/v1/")));
  std::string part;
  while (std::getline(in, part, '/')) {
    if (!part.empty()) parts.push_back(url_decode(part));
  }
  return parts;
}

}  // namespace

HttpServer::Response HttpServer::handle(const Request& req) {
  const bool get = is_get(req);
  if (req.path == "/metrics") {
    if (!get) return method_not_allowed(req, "GET, HEAD");
    bool compressed = false;
    Response r{200, "text/plain; version=0.0.4; charset=utf-8", exposition_.scrape(req.accepts_gzip, &compressed), {}};
    if (compressed) r.headers.emplace_back("Content-Encoding", "gzip");
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
  return Response::error(404, "no route " + req.path + " (try /metrics, /healthz, /readyz or /api/v1/)");
}

HttpServer::Response HttpServer::route_api(const Request& req) {
  const std::vector<std::string> parts = api_path_parts(req.path);
  if (parts.empty()) return Response::error(404, "no route " + req.path);
  if (auto r = route_processes(req, parts)) return std::move(*r);
  if (auto r = route_views(req, parts)) return std::move(*r);
  if (auto r = route_log_level(req, parts)) return std::move(*r);
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
