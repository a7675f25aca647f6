// session_service: a small service linking canopy as a library.
//
// A runtime; an application "sessions" whose supervision tree holds a
// session store (a GenServer owning a table whose entries expire after a
// TTL) and a supervisor of clients that log in and look sessions up; /metrics
// (and /healthz, /readyz, /api/v1/...) served through canopy::exporters.
// Runs until SIGINT or SIGTERM.
//
//   session_service [--listen HOST:PORT]   (default 127.0.0.1:9570; port 0 picks one)
#include <signal.h>

#include <canopy/core/core.hpp>
#include <canopy/exporters/exposition.hpp>
#include <canopy/exporters/http_server.hpp>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>

using namespace std::chrono_literals;

namespace {

struct Login {
  std::string user;
};
struct Tick {};

// Owns the "sessions" table: a session lasts 5 s unless refreshed, at most
// 1,000 of them (least recently used go first).
// A call answers whether the user had a live session; a cast just logs in.
class SessionStore final : public canopy::GenServer<Login, bool, Login> {
 public:
  canopy::Status init() override {
    auto t = canopy::Table<std::string, std::string>::create(
        runtime(), canopy::TableOptions{.name = "sessions",
                                        .access = canopy::TableAccess::public_,
                                        .default_ttl = std::chrono::seconds(5),
                                        .max_entries = 1'000,
                                        .on_full = canopy::EvictionPolicy::evict_lru});
    if (!t.ok()) return t.error();
    sessions_.emplace(t.value());
    return {};
  }
  std::optional<bool> handle_call(Login& login, const canopy::From&) override {
    const bool known = sessions_->lookup(login.user).ok();
    handle_cast(login);
    return known;
  }
  void handle_cast(Login& login) override {
    (void)sessions_->insert(login.user, "token-" + login.user);  // refreshes the TTL
  }

 private:
  std::optional<canopy::Table<std::string, std::string>> sessions_;
};

// Logs a user in every 20 ms (a hundred users in turn), fire-and-forget.
class Client final : public canopy::Actor {
 public:
  explicit Client(int id) : id_(id) {}
  canopy::Status init() override { return send(self(), Tick{}); }
  void handle(canopy::Message& m) override {
    if (!m.is<Tick>()) return;
    const canopy::Pid store = runtime().whereis("session_store");
    if (store.valid()) (void)cast(store, Login{"user-" + std::to_string(id_ * 100 + n_++ % 100)});
    send_after(self(), 20ms, Tick{});
  }

 private:
  int id_;
  int n_ = 0;
};

canopy::SupervisorSpec tree() {
  canopy::ChildSpec store = canopy::ChildSpec::worker<SessionStore>("session_store");
  store.spawn.name = "session_store";
  canopy::SupervisorSpec clients{.name = "clients_sup"};
  for (int i = 0; i < 4; ++i) clients.children.push_back(canopy::ChildSpec::worker<Client>("client_" + std::to_string(i), i));
  return canopy::SupervisorSpec{
      .name = "sessions_root",
      .flags = {.strategy = canopy::Strategy::rest_for_one, .intensity = 3, .period = 5s},
      .children = {store, canopy::ChildSpec::supervisor("clients_sup", clients)}};
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:9570";
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
      listen = argv[++i];
    } else {
      std::cerr << "usage: session_service [--listen HOST:PORT]\n";
      return 2;
    }
  }
  // Shutdown signals are waited for below, on this thread only.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  canopy::Runtime rt(canopy::RuntimeOptions{.schedulers = 2});
  canopy::Result<canopy::Pid> root = rt.start_application("sessions", tree());
  if (!root.ok()) {
    std::cerr << "session_service: " << root.error().message() << "\n";
    return 1;
  }

  canopy::exporters::Exposition exposition(canopy::exporters::ExpositionOptions{.node_name = "session-1"});
  exposition.add_stream_source([&rt](canopy::telemetry::FamilySink& sink) { rt.collect_into(sink); });
  canopy::exporters::HttpServer server(rt, exposition, canopy::exporters::ServerOptions{.listen = listen});
  if (canopy::Status st = server.start(); !st.ok()) {
    std::cerr << "session_service: " << st.error().message() << "\n";
    return 1;
  }
  std::cout << "session_service serving /metrics at " << server.url() << std::endl;

  int sig = 0;
  sigwait(&signals, &sig);
  server.stop();
  (void)rt.stop_application("sessions", 5s);
  rt.shutdown();
  std::cout << "session_service stopped" << std::endl;
  return 0;
}
