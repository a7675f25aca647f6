// Calls: Runtime::call from plain threads, Actor::call with continuations,
// GenServer replies (direct, deferred, delegated), and every failure path.
#include "test_support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_core_call_test {

using namespace canopy;
using namespace canopy_test;
using Catch::Matchers::Contains;

namespace {

struct Get {};
struct Add {
  int n;
};

class Counter final : public GenServer<Get, int, Add> {
 public:
  std::optional<int> handle_call(Get&, const From&) override { return n_; }
  void handle_cast(Add& a) override { n_ += a.n; }

 private:
  int n_ = 0;
};

struct Ask {
  int n;
};

// Never replies: keeps every From, so the caller can only time out.
class Silent final : public GenServer<Ask, int> {
 public:
  std::optional<int> handle_call(Ask&, const From& from) override {
    held_.push_back(from);
    return std::nullopt;
  }

 private:
  std::vector<From> held_;
};

// Crashes while handling a call.
class Crasher final : public GenServer<Ask, int> {
 public:
  std::optional<int> handle_call(Ask&, const From&) override { throw std::runtime_error("kaboom in handle_call"); }
};

// Stops while handling a call, without replying.
class Quitter final : public GenServer<Ask, int> {
 public:
  std::optional<int> handle_call(Ask&, const From&) override {
    stop(ExitReason::shutdown("closing time"));
    return std::nullopt;
  }
};

// Drops the request: returns nullopt and keeps no From.
class Dropper final : public GenServer<Ask, int> {
 public:
  std::optional<int> handle_call(Ask&, const From&) override { return std::nullopt; }
};

struct Later {};

// Replies later, from handle_info, through the kept From.
class Deferred final : public GenServer<Ask, int> {
 public:
  explicit Deferred(std::shared_ptr<Recorder<Pid>> callers) : callers_(std::move(callers)) {}
  std::optional<int> handle_call(Ask& a, const From& from) override {
    callers_->push(from.caller());
    pending_.emplace_back(from, a.n);
    if (!send(self(), Later{}).ok()) throw std::runtime_error("cannot send to self");
    return std::nullopt;
  }
  void handle_info(Message& m) override {
    if (m.is<Later>()) {
      for (auto& [from, n] : pending_) {
        if (!reply(from, n * 10)) throw std::runtime_error("reply refused");
        if (reply(from, -1)) throw std::runtime_error("a second reply was accepted");
      }
      pending_.clear();
    }
  }

 private:
  std::shared_ptr<Recorder<Pid>> callers_;
  std::vector<std::pair<From, int>> pending_;
};

struct ReplyFor {
  From from;
  int value;
};

// Hands the From to another process, which replies.
class Delegator final : public GenServer<Ask, int> {
 public:
  explicit Delegator(Pid helper) : helper_(helper) {}
  std::optional<int> handle_call(Ask& a, const From& from) override {
    if (!send(helper_, ReplyFor{from, a.n + 1}).ok()) throw std::runtime_error("helper is gone");
    return std::nullopt;
  }

 private:
  Pid helper_;
};

// What a continuation of Actor::call observed.
struct CallOutcome {
  Errc code = Errc::ok;
  int value = 0;
  std::string message;
  bool in_calling_process = false;  // runtime().self() was the caller inside the continuation
  bool after_handler = false;       // the handler that made the call had already returned
};

struct CallIt {
  Pid target;
  std::chrono::milliseconds timeout;
  bool ask = true;  // send Ask{20}; else Get{}
};

// A process that makes an Actor::call when told, recording the outcome.
Pid spawn_caller(Runtime& rt, Recorder<CallOutcome>& outcomes) {
  auto handler_done = std::make_shared<std::atomic<bool>>(false);
  return spawn_fn(rt, [&outcomes, handler_done](FunctionActor& self, Message& m) {
    auto* c = m.as<CallIt>();
    if (c == nullptr) return;
    handler_done->store(false);
    auto then = [&outcomes, &self, handler_done](Result<int> r) {
      CallOutcome o;
      o.code = r.code();
      if (r.ok()) o.value = r.value();
      if (!r.ok()) o.message = r.error().message();
      o.in_calling_process = self.runtime().self() == self.self();
      o.after_handler = handler_done->load();
      outcomes.push(std::move(o));
    };
    if (c->ask) {
      self.call<int>(c->target, Ask{20}, c->timeout, then);
    } else {
      self.call<int>(c->target, Get{}, c->timeout, then);
    }
    handler_done->store(true);
  });
}

}  // namespace

TEST_CASE("Runtime::call returns the server's reply; casts are handled in order", "[core][call]") {
  Runtime rt(schedulers(2));
  auto counter = rt.spawn<Counter>();
  REQUIRE_OK(counter);
  auto r0 = rt.call<int>(counter.value(), Get{}, kPatience);
  REQUIRE_OK(r0);
  CHECK(r0.value() == 0);
  REQUIRE_OK(rt.cast(counter.value(), Add{5}));
  REQUIRE_OK(rt.cast(counter.value(), Add{37}));
  auto r1 = rt.call<int>(counter.value(), Get{}, kPatience);
  REQUIRE_OK(r1);
  CHECK(r1.value() == 42);
}

TEST_CASE("a call the server never answers times out", "[core][call]") {
  Runtime rt(schedulers(2));
  auto silent = rt.spawn<Silent>();
  REQUIRE_OK(silent);
  auto r = rt.call<int>(silent.value(), Ask{1}, 50ms);
  REQUIRE(r.code() == Errc::timeout);
  CHECK(rt.alive(silent.value()));
}

TEST_CASE("a call to a dead process fails with dead_process", "[core][call]") {
  Runtime rt(schedulers(2));
  auto counter = rt.spawn<Counter>();
  REQUIRE_OK(counter);
  REQUIRE_OK(rt.exit(counter.value(), ExitReason::kill()));
  REQUIRE(eventually([&] { return dead(rt, counter.value()); }));
  CHECK(rt.call<int>(counter.value(), Get{}, kPatience).code() == Errc::dead_process);
  CHECK(rt.call<int>(Pid(), Get{}, kPatience).code() == Errc::dead_process);
}

TEST_CASE("a call to a server that crashes while handling it fails with callee_exited and the crash text",
          "[core][call]") {
  Runtime rt(schedulers(2));
  auto crasher = rt.spawn<Crasher>();
  REQUIRE_OK(crasher);
  auto r = rt.call<int>(crasher.value(), Ask{1}, kPatience);
  REQUIRE(r.code() == Errc::callee_exited);
  CHECK_THAT(r.error().message(), Contains("kaboom in handle_call"));
  CHECK(eventually([&] { return dead(rt, crasher.value()); }));
}

TEST_CASE("a call to a server that stops without replying fails with callee_exited", "[core][call]") {
  Runtime rt(schedulers(2));
  auto quitter = rt.spawn<Quitter>();
  REQUIRE_OK(quitter);
  auto r = rt.call<int>(quitter.value(), Ask{1}, kPatience);
  REQUIRE(r.code() == Errc::callee_exited);
  CHECK_THAT(r.error().message(), Contains("closing time"));
}

TEST_CASE("a request dropped without a reply fails the call at once with callee_exited", "[core][call]") {
  Runtime rt(schedulers(2));
  auto dropper = rt.spawn<Dropper>();
  REQUIRE_OK(dropper);
  // The timeout is long: the failure must come from the dropped From, not the clock.
  auto r = rt.call<int>(dropper.value(), Ask{1}, std::chrono::milliseconds(60'000));
  CHECK(r.code() == Errc::callee_exited);
  CHECK(rt.alive(dropper.value()));
}

TEST_CASE("handle_call may return nullopt and reply later through From", "[core][call]") {
  auto callers = std::make_shared<Recorder<Pid>>();
  Runtime rt(schedulers(2));
  auto server = rt.spawn<Deferred>(callers);
  REQUIRE_OK(server);

  SECTION("to a thread outside the runtime") {
    auto r = rt.call<int>(server.value(), Ask{4}, kPatience);
    REQUIRE_OK(r);
    CHECK(r.value() == 40);
    CHECK_FALSE(callers->snapshot().front().valid());  // From::caller() of an outside call
  }
  SECTION("to a process") {
    Recorder<CallOutcome> outcomes;
    const Pid caller = spawn_caller(rt, outcomes);
    REQUIRE_OK(rt.send(caller, CallIt{server.value(), kPatience}));
    REQUIRE(outcomes.wait_size(1));
    const auto o = outcomes.snapshot().front();
    CHECK(o.code == Errc::ok);
    CHECK(o.value == 200);
    CHECK(o.in_calling_process);
    CHECK(callers->snapshot().front() == caller);
  }
  CHECK(rt.alive(server.value()));  // the second reply was refused, not thrown
}

TEST_CASE("another process can reply with a From handed to it", "[core][call]") {
  Runtime rt(schedulers(2));
  const Pid helper = spawn_fn(rt, [](FunctionActor&, Message& m) {
    if (auto* r = m.as<ReplyFor>()) (void)r->from.reply(r->value);
  });
  auto server = rt.spawn<Delegator>(helper);
  REQUIRE_OK(server);
  auto r = rt.call<int>(server.value(), Ask{6}, kPatience);
  REQUIRE_OK(r);
  CHECK(r.value() == 7);
}

TEST_CASE("a request of the wrong type, or a reply of the wrong type, is bad_request", "[core][call]") {
  Runtime rt(schedulers(2));
  auto counter = rt.spawn<Counter>();
  REQUIRE_OK(counter);
  SECTION("the server does not accept the request type") {
    auto r = rt.call<int>(counter.value(), std::string("get"), kPatience);
    REQUIRE(r.code() == Errc::bad_request);
    CHECK_THAT(r.error().message(), Contains("Get"));
  }
  SECTION("the caller expects another reply type") {
    auto r = rt.call<std::string>(counter.value(), Get{}, kPatience);
    REQUIRE(r.code() == Errc::bad_request);
    CHECK_THAT(r.error().message(), Contains("int"));
  }
  // The server survives either.
  auto ok = rt.call<int>(counter.value(), Get{}, kPatience);
  REQUIRE_OK(ok);
}

TEST_CASE("Runtime::call inside a process refuses with not_in_process", "[core][call]") {
  Recorder<Errc> codes;
  Runtime rt(schedulers(2));
  auto counter = rt.spawn<Counter>();
  REQUIRE_OK(counter);
  const Pid p = spawn_fn(rt, [&](FunctionActor& self, Message& m) {
    if (auto* target = m.as<Pid>()) codes.push(self.runtime().call<int>(*target, Get{}, 1000ms).code());
  });
  REQUIRE_OK(rt.send(p, counter.value()));
  REQUIRE(codes.wait_size(1));
  CHECK(codes.snapshot() == std::vector<Errc>{Errc::not_in_process});
}

TEST_CASE("Actor::call runs its continuation later, in the calling process", "[core][call]") {
  Recorder<CallOutcome> outcomes;
  Runtime rt(schedulers(2));
  const Pid caller = spawn_caller(rt, outcomes);

  SECTION("with the reply") {
    auto counter = rt.spawn<Counter>();
    REQUIRE_OK(counter);
    REQUIRE_OK(rt.cast(counter.value(), Add{9}));
    REQUIRE_OK(rt.send(caller, CallIt{counter.value(), kPatience, false}));
    REQUIRE(outcomes.wait_size(1));
    const auto o = outcomes.snapshot().front();
    CHECK(o.code == Errc::ok);
    CHECK(o.value == 9);
    CHECK(o.in_calling_process);
    CHECK(o.after_handler);
  }
  SECTION("with a timeout") {
    auto silent = rt.spawn<Silent>();
    REQUIRE_OK(silent);
    REQUIRE_OK(rt.send(caller, CallIt{silent.value(), 50ms}));
    REQUIRE(outcomes.wait_size(1));
    const auto o = outcomes.snapshot().front();
    CHECK(o.code == Errc::timeout);
    CHECK(o.in_calling_process);
    CHECK(o.after_handler);
  }
  SECTION("with a dead target") {
    auto counter = rt.spawn<Counter>();
    REQUIRE_OK(counter);
    REQUIRE_OK(rt.exit(counter.value(), ExitReason::kill()));
    REQUIRE(eventually([&] { return dead(rt, counter.value()); }));
    REQUIRE_OK(rt.send(caller, CallIt{counter.value(), kPatience, false}));
    REQUIRE(outcomes.wait_size(1));
    const auto o = outcomes.snapshot().front();
    CHECK(o.code == Errc::dead_process);
    CHECK(o.in_calling_process);
    CHECK(o.after_handler);
  }
  SECTION("with a callee that crashes") {
    auto crasher = rt.spawn<Crasher>();
    REQUIRE_OK(crasher);
    REQUIRE_OK(rt.send(caller, CallIt{crasher.value(), kPatience}));
    REQUIRE(outcomes.wait_size(1));
    const auto o = outcomes.snapshot().front();
    CHECK(o.code == Errc::callee_exited);
    CHECK_THAT(o.message, Contains("kaboom in handle_call"));
    CHECK(o.in_calling_process);
  }
  // Exactly one outcome per call, and the caller is still fine.
  CHECK(outcomes.size() == 1u);
  CHECK(rt.alive(caller));
  CHECK(info_of(rt, caller).status != ProcessStatus::exiting);
}

TEST_CASE("a late reply after an Actor::call timed out is ignored", "[core][call]") {
  Recorder<CallOutcome> outcomes;
  Runtime rt(schedulers(2));
  const Pid caller = spawn_caller(rt, outcomes);
  auto callers = std::make_shared<Recorder<Pid>>();
  // Deferred replies only after a Later message; with a tiny timeout the
  // reply may land before or after the timeout, but only one outcome counts.
  auto server = rt.spawn<Deferred>(callers);
  REQUIRE_OK(server);
  REQUIRE_OK(rt.send(caller, CallIt{server.value(), 1ms}));
  REQUIRE(outcomes.wait_size(1));
  // A second call afterwards still works and gets its own outcome.
  REQUIRE_OK(rt.send(caller, CallIt{server.value(), kPatience}));
  REQUIRE(outcomes.wait_size(2));
  const auto all = outcomes.snapshot();
  CHECK((all[0].code == Errc::timeout || all[0].code == Errc::ok));
  CHECK(all[1].code == Errc::ok);
  CHECK(all[1].value == 200);
  // No third outcome shows up for the first call: check after a round trip.
  auto sync = rt.call<int>(server.value(), Ask{0}, kPatience);
  REQUIRE_OK(sync);
  CHECK(outcomes.size() == 2u);
}

TEST_CASE("an exception escaping a call continuation crashes the calling process", "[core][call][crash]") {
  Runtime rt(schedulers(2));
  auto watcher = spawn_probe(rt);
  auto counter = rt.spawn<Counter>();
  REQUIRE_OK(counter);
  const Pid caller = spawn_fn(rt, [&](FunctionActor& self, Message& m) {
    if (m.is<int>()) {
      self.call<int>(counter.value(), Get{}, kPatience,
                     [](Result<int>) { throw std::runtime_error("continuation failed"); });
    }
  });
  watch(rt, watcher, caller);
  REQUIRE_OK(rt.send(caller, 1));
  auto down = wait_down(watcher, caller);
  REQUIRE(down.has_value());
  CHECK(down->reason == ExitReason::error("continuation failed"));
  CHECK(rt.alive(counter.value()));
}

TEST_CASE("a cast of an unexpected type goes to handle_info and the server carries on", "[core][call]") {
  Runtime rt(schedulers(2));
  auto counter = rt.spawn<Counter>();
  REQUIRE_OK(counter);
  REQUIRE_OK(rt.cast(counter.value(), std::string("not an Add")));
  REQUIRE_OK(rt.send(counter.value(), Add{100}));  // a plain send is info, not a cast
  REQUIRE_OK(rt.cast(counter.value(), Add{1}));
  auto r = rt.call<int>(counter.value(), Get{}, kPatience);
  REQUIRE_OK(r);
  CHECK(r.value() == 1);
}

TEST_CASE("a call evicted from a drop_oldest mailbox fails at once with callee_exited", "[core][call][mailbox]") {
  Block block;
  Runtime rt(schedulers(2));
  OpenOnExit guard{block.release};
  MailboxOptions mb;
  mb.capacity = 2;
  mb.overflow = OverflowPolicy::drop_oldest;
  SpawnOptions o;
  o.mailbox = mb;
  auto consumer = spawn_probe(rt, o);
  REQUIRE_OK(rt.send(consumer.pid, block));
  REQUIRE(block.entered->wait());

  std::atomic<bool> queued{false};
  Result<int> result = Error(Errc::ok, "unset");
  std::thread caller([&] {
    queued = true;
    result = rt.call<int>(consumer.pid, Ask{1}, std::chrono::milliseconds(60'000));
  });
  // Wait until the call is in the mailbox, then push it out with two newer messages.
  REQUIRE(eventually([&] { return queued.load() && info_of(rt, consumer.pid).mailbox_length == 1; }));
  REQUIRE_OK(rt.send(consumer.pid, 1));
  REQUIRE_OK(rt.send(consumer.pid, 2));
  caller.join();  // returns long before its 60 s timeout
  CHECK(result.code() == Errc::callee_exited);
  CHECK(rt.stats().dropped_by(DropReason::drop_oldest) == 1u);
}

TEST_CASE("Actor::call into a full reject mailbox reports mailbox_full to the continuation", "[core][call][mailbox]") {
  Block block;
  Recorder<CallOutcome> outcomes;
  Runtime rt(schedulers(2));
  OpenOnExit guard{block.release};
  MailboxOptions mb;
  mb.capacity = 1;
  mb.overflow = OverflowPolicy::reject;
  SpawnOptions o;
  o.mailbox = mb;
  auto consumer = spawn_probe(rt, o);
  REQUIRE_OK(rt.send(consumer.pid, block));
  REQUIRE(block.entered->wait());
  REQUIRE_OK(rt.send(consumer.pid, 1));

  const Pid caller = spawn_caller(rt, outcomes);
  REQUIRE_OK(rt.send(caller, CallIt{consumer.pid, kPatience}));
  REQUIRE(outcomes.wait_size(1));
  const auto out = outcomes.snapshot().front();
  CHECK(out.code == Errc::mailbox_full);
  CHECK(out.in_calling_process);
  CHECK(out.after_handler);
}

}  // namespace test_core_call_test
