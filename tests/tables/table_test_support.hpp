#pragma once
// Helpers shared by the canopy table tests.
//
// Rules the tests follow:
//  * expiry is driven by a ManualTableClock: no test sleeps for a TTL;
//  * the only waiting is a bounded polling loop (`eventually`) for things
//    another thread does: a process exiting (and its exit hook deleting or
//    handing over a table), a message arriving, the background sweeper;
//  * Catch2 assertions only on the test thread: processes run closures sent
//    to them (`run_in`) and hand the results back;
//  * state that processes reference is declared before the Runtime.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "canopy/core/core.hpp"

#include "canopy_test/core.hpp"

namespace table_test {

using canopy_test::eventually;
using canopy_test::kPatience;
using canopy_test::Recorder;

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Work sizes are divided by this under sanitizers.
inline constexpr int kSlowdown = canopy_test::sanitizer_slowdown(8, 2);
inline constexpr int scaled(int n) { return n / kSlowdown > 0 ? n / kSlowdown : 1; }

// What a runner process understands.
struct Run {
  std::function<void()> fn;
};
struct StopNow {};

// A process that runs the closures sent to it (so the test can act as that
// process), records the TableTransfer messages it receives and stops on StopNow.
inline canopy::Pid spawn_runner(canopy::Runtime& rt, std::shared_ptr<Recorder<canopy::TableTransfer>> transfers = {}) {
  auto actor = std::make_unique<canopy::FunctionActor>([transfers](canopy::FunctionActor& self, canopy::Message& m) {
    if (auto* r = m.as<Run>()) {
      r->fn();
    } else if (auto* t = m.as<canopy::TableTransfer>()) {
      if (transfers) transfers->push(*t);
    } else if (m.is<StopNow>()) {
      self.stop();
    }
  });
  auto pid = rt.spawn(std::move(actor));
  REQUIRE(pid.ok());
  return pid.value();
}

// Runs fn() inside process `pid` and returns its result to the test thread.
template <typename F>
auto run_in(canopy::Runtime& rt, canopy::Pid pid, F fn) -> std::invoke_result_t<F&> {
  using R = std::invoke_result_t<F&>;
  auto promise = std::make_shared<std::promise<R>>();
  auto future = promise->get_future();
  auto shared_fn = std::make_shared<F>(std::move(fn));
  REQUIRE(rt.send(pid, Run{[promise, shared_fn] {
                    if constexpr (std::is_void_v<R>) {
                      (*shared_fn)();
                      promise->set_value();
                    } else {
                      promise->set_value((*shared_fn)());
                    }
                  }})
              .ok());
  REQUIRE(future.wait_for(kPatience) == std::future_status::ready);
  return future.get();
}

// Stops a runner and waits until the runtime reports it gone.
inline void stop_process(canopy::Runtime& rt, canopy::Pid pid) {
  REQUIRE(rt.send(pid, StopNow{}).ok());
  REQUIRE(eventually([&] { return !rt.alive(pid); }));
}

}  // namespace table_test
