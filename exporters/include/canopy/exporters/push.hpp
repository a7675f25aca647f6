#pragma once
// Push-gateway mode for batch runs (prometheus-cpp push): pushes the whole
// exposition every interval and once more when stopped. Thread-safe.
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "canopy/core/result.hpp"
#include "canopy/exporters/exposition.hpp"
#include "canopy/exporters/options.hpp"

namespace canopy::exporters {

class Pusher {
 public:
  // `exposition` must outlive the pusher.
  Pusher(Exposition& exposition, PushOptions options, std::string instance);
  ~Pusher();
  Pusher(const Pusher&) = delete;
  Pusher& operator=(const Pusher&) = delete;

  // Checks the URL and starts the push loop.
  Status start();
  // Stops the loop, pushing a last time first.
  void stop();
  // One push now; the error names the gateway and the HTTP status.
  Status push_now();
  uint64_t pushes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace canopy::exporters
