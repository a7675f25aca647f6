#pragma once
// Options of the exporter layer, filled by canopy::config from canopy.yaml.
#include <chrono>
#include <cstdint>
#include <map>
#include <string>

namespace canopy::exporters {

struct TlsOptions {
  std::string cert_file;  // PEM; TLS is on when both files are set
  std::string key_file;
};

// What admin routes do when no admin token is configured.
enum class AdminWithoutToken : uint8_t {
  refuse,    // 403 for every peer (the default)
  loopback,  // open to loopback peers; never behind a proxy on the same host
};

struct ServerOptions {
  // host:port; loopback by default. Port 0 picks a free port (tests).
  std::string listen = "127.0.0.1:9568";
  // Workers that answer API requests; scrapes and health checks have one
  // more of their own.
  unsigned threads = 4;
  // Open connections at most; at the limit the longest-idle keep-alive
  // connection is closed to make room, else the new one is.
  size_t max_connections = 1024;
  // A request's head must arrive within this of its first byte, and its body
  // within this again: slow senders are dropped.
  std::chrono::milliseconds request_timeout{3'000};
  // An idle keep-alive connection is closed after this.
  std::chrono::milliseconds idle_timeout{30'000};
  // Requests with a larger body get 413.
  uint64_t max_request_bytes = 64 * 1024;
  // Bearer token for admin routes; empty = as admin_without_token says.
  // Filled from server.admin_token_file, overridden by $CANOPY_ADMIN_TOKEN.
  std::string admin_token;
  // Without a token, admin routes are refused unless this is loopback. Behind
  // a proxy on the same host every request comes from 127.0.0.1, so loopback
  // would open them to whoever reaches the proxy: an explicit opt-in.
  AdminWithoutToken admin_without_token = AdminWithoutToken::refuse;
  TlsOptions tls;
};

struct PushOptions {
  // Push gateway URL, e.g. http://127.0.0.1:9091; empty = no pushing.
  std::string url;
  std::string job = "canopy";
  std::chrono::milliseconds interval{15'000};
};

struct ExpositionOptions {
  // Added as labels to every series (node identity across a fleet).
  std::map<std::string, std::string> node_labels;
  std::string node_name;  // exported as label `node` when not empty
  bool gzip = true;       // when the scraper accepts it
};

}  // namespace canopy::exporters
