#pragma once
// A minimal blocking HTTP/1.1 client for the CLI commands that talk to a
// running canopy (`canopy upgrade`): plain http to host:port, one request
// per connection, a bounded wait. Owner thread only.
#include <chrono>
#include <string>

#include "canopy/core/result.hpp"

namespace canopy::app {

struct HttpReply {
  int status = 0;
  std::string body;
};

// `url` is http://HOST:PORT[/prefix]; `path` is appended to it. A non-empty
// `token` goes out as Authorization: Bearer. Errors name the URL and why.
Result<HttpReply> http_request(const std::string& method, const std::string& url, const std::string& path,
                               const std::string& body, const std::string& token,
                               std::chrono::milliseconds timeout = std::chrono::seconds(60));

}  // namespace canopy::app
