#pragma once
// The observer page's files (exporters/observer/), compiled into the binary
// by cmake/embed_assets.cmake and served by HttpServer at / . Private.
// Constant data: thread-safe.
#include <span>
#include <string_view>

namespace canopy::exporters {

struct ObserverAsset {
  std::string_view path;          // as requested: "/", "/observer.js", ...
  std::string_view content_type;  // with its charset
  std::string_view body;
};

// Every asset, "/" (the HTML) first.
std::span<const ObserverAsset> observer_assets();

}  // namespace canopy::exporters
