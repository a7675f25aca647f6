#include "canopy/exporters/push.hpp"

#include <prometheus/collectable.h>
#include <prometheus/gateway.h>
#include <spdlog/spdlog.h>

#include "canopy/telemetry/detail/mutex.hpp"
#include "prometheus_adapter.hpp"

namespace canopy::exporters {

using canopy::detail::CondVar;
using canopy::detail::Mutex;
using canopy::detail::MutexLock;

namespace {
class ExpositionCollectable final : public prometheus::Collectable {
 public:
  explicit ExpositionCollectable(const Exposition& e) : exposition_(e) {}
  std::vector<prometheus::MetricFamily> Collect() const override { return to_prometheus(exposition_.gather()); }

 private:
  const Exposition& exposition_;
};
}  // namespace

struct Pusher::Impl {
  Impl(Exposition& e, PushOptions o, std::string i) : exposition(e), options(std::move(o)), instance(std::move(i)) {}
  Exposition& exposition;
  PushOptions options;
  std::string instance;
  std::shared_ptr<ExpositionCollectable> collectable;
  std::unique_ptr<prometheus::Gateway> gateway;
  Mutex mu;
  CondVar cv;
  bool running GUARDED_BY(mu) = false;
  uint64_t pushes GUARDED_BY(mu) = 0;
  std::thread thread;
};

Pusher::Pusher(Exposition& exposition, PushOptions options, std::string instance)
    : impl_(std::make_unique<Impl>(exposition, std::move(options), std::move(instance))) {}

Pusher::~Pusher() { stop(); }

Status Pusher::start() {
  const std::string& url = impl_->options.url;
  const size_t scheme = url.find("://");
  const size_t colon = url.rfind(':');
  if (scheme == std::string::npos || colon == std::string::npos || colon < scheme + 3) {
    return Error(Errc::invalid_argument, "server.push.url must look like http://host:port, not '" + url + "'");
  }
  std::string port = url.substr(colon + 1);
  while (!port.empty() && port.back() == '/') port.pop_back();
  impl_->collectable = std::make_shared<ExpositionCollectable>(impl_->exposition);
  impl_->gateway = std::make_unique<prometheus::Gateway>(url.substr(0, colon), port, impl_->options.job,
                                                         prometheus::Labels{{"instance", impl_->instance}});
  impl_->gateway->RegisterCollectable(impl_->collectable);
  {
    MutexLock lock(&impl_->mu);
    impl_->running = true;
  }
  impl_->thread = std::thread([this] {
    MutexLock lock(&impl_->mu);
    while (impl_->running) {
      // Until the interval has passed, or stop().
      const auto next = std::chrono::steady_clock::now() + impl_->options.interval;
      while (impl_->running && impl_->cv.wait_until(impl_->mu, next) == std::cv_status::no_timeout) {
      }
      if (!impl_->running) break;
      lock.unlock();
      const Status st = push_now();
      if (!st.ok()) spdlog::default_logger()->warn("{}", st.error().message());
      lock.lock();
    }
  });
  return {};
}

void Pusher::stop() {
  {
    MutexLock lock(&impl_->mu);
    if (!impl_->running) return;
    impl_->running = false;
  }
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
  const Status st = push_now();  // the batch's final numbers
  if (!st.ok()) spdlog::default_logger()->warn("{}", st.error().message());
}

Status Pusher::push_now() {
  if (!impl_->gateway) return Error(Errc::invalid_argument, "push: not started");
  const int status = impl_->gateway->Push();
  {
    MutexLock lock(&impl_->mu);
    ++impl_->pushes;
  }
  if (status >= 200 && status < 300) return {};
  return Error(Errc::invalid_argument,
               "push to " + impl_->options.url + " failed (HTTP status " + std::to_string(status) + ")");
}

uint64_t Pusher::pushes() const {
  MutexLock lock(&impl_->mu);
  return impl_->pushes;
}

}  // namespace canopy::exporters
