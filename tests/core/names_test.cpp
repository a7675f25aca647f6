// Registered names and key registries.
#include "test_support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_core_names_test {

using namespace canopy;
using namespace canopy_test;
using Catch::Matchers::Contains;

namespace {
bool has_entry(const std::vector<Registry::Entry>& entries, Pid pid, const std::string& value) {
  for (auto& e : entries) {
    if (e.pid == pid && e.value == value) return true;
  }
  return false;
}
}  // namespace

TEST_CASE("register_name, whereis and unregister", "[core][names]") {
  Runtime rt(schedulers(2));
  auto p = spawn_probe(rt);
  auto q = spawn_probe(rt);

  REQUIRE_OK(rt.register_name("alpha", p.pid));
  CHECK(rt.whereis("alpha") == p.pid);
  CHECK(info_of(rt, p.pid).registered_name == "alpha");

  REQUIRE_OK(rt.send("alpha", 1));
  REQUIRE(p.state->ints.wait_size(1));

  SECTION("a taken name cannot be registered again") {
    auto st = rt.register_name("alpha", q.pid);
    CHECK(st.code() == Errc::already_registered);
    CHECK_THAT(st.error().message(), Contains("alpha"));
    CHECK(rt.whereis("alpha") == p.pid);
  }
  SECTION("a process holds at most one name") {
    CHECK(rt.register_name("beta", p.pid).code() == Errc::already_registered);
    CHECK_FALSE(rt.whereis("beta").valid());
  }
  SECTION("unregister frees the name for another process") {
    REQUIRE_OK(rt.unregister("alpha"));
    CHECK_FALSE(rt.whereis("alpha").valid());
    CHECK(info_of(rt, p.pid).registered_name.empty());
    CHECK(rt.unregister("alpha").code() == Errc::not_registered);
    CHECK(rt.send("alpha", 2).code() == Errc::dead_process);
    REQUIRE_OK(rt.register_name("alpha", q.pid));
    CHECK(rt.whereis("alpha") == q.pid);
    // and p may take another name
    REQUIRE_OK(rt.register_name("gamma", p.pid));
  }
  SECTION("bad arguments") {
    CHECK(rt.register_name("", q.pid).code() == Errc::invalid_argument);
    CHECK(rt.register_name("delta", Pid()).code() == Errc::dead_process);
    CHECK(rt.unregister("never-registered").code() == Errc::not_registered);
    CHECK_FALSE(rt.whereis("never-registered").valid());
  }
}

TEST_CASE("a registered name is freed when its process exits", "[core][names]") {
  Runtime rt(schedulers(2));
  auto p = spawn_probe(rt);
  REQUIRE_OK(rt.register_name("ephemeral", p.pid));

  SECTION("a normal exit") { REQUIRE_OK(rt.send(p.pid, Stop{})); }
  SECTION("a crash") { REQUIRE_OK(rt.send(p.pid, Crash{"gone"})); }
  SECTION("a kill") { REQUIRE_OK(rt.exit(p.pid, ExitReason::kill())); }

  REQUIRE(eventually([&] { return !rt.whereis("ephemeral").valid(); }));
  CHECK(rt.send("ephemeral", 1).code() == Errc::dead_process);
  auto q = spawn_probe(rt);
  REQUIRE_OK(rt.register_name("ephemeral", q.pid));
  CHECK(rt.whereis("ephemeral") == q.pid);
}

TEST_CASE("SpawnOptions::name registers at spawn; a taken name fails the spawn and leaves nothing", "[core][names]") {
  Runtime rt(schedulers(2));
  SpawnOptions o;
  o.name = "singleton";
  auto first = spawn_probe(rt, o);
  CHECK(rt.whereis("singleton") == first.pid);

  auto state = std::make_shared<ProbeState>();
  auto second = rt.spawn(std::make_unique<ProbeActor>(state), o);
  CHECK(second.code() == Errc::already_registered);
  CHECK(state->terminated.load() == 0);
  CHECK(rt.process_count() == 1u);
  CHECK(rt.whereis("singleton") == first.pid);
}

TEST_CASE("a name given at spawn is released when init fails", "[core][names][init]") {
  class BadInit final : public Actor {
   public:
    Status init() override { return Error(Errc::invalid_argument, "nope"); }
    void handle(Message&) override {}
  };
  Runtime rt(schedulers(1));
  SpawnOptions o;
  o.name = "doomed";
  auto r = rt.spawn(std::make_unique<BadInit>(), o);
  CHECK(r.code() == Errc::init_failed);
  CHECK_FALSE(rt.whereis("doomed").valid());
  auto p = spawn_probe(rt, o);
  CHECK(rt.whereis("doomed") == p.pid);
}

TEST_CASE("a unique registry maps each key to one process, with metadata", "[core][names][registry]") {
  Runtime rt(schedulers(2));
  auto p = spawn_probe(rt);
  auto q = spawn_probe(rt);
  Registry reg = rt.registry("sessions", RegistryKeys::unique);
  CHECK(reg.name() == "sessions");
  CHECK(reg.kind() == RegistryKeys::unique);

  REQUIRE_OK(reg.register_key(p.pid, "user:1", "tcp 10.0.0.1"));
  REQUIRE_OK(reg.register_key(p.pid, "user:2", "tcp 10.0.0.2"));
  auto st = reg.register_key(q.pid, "user:1", "other");
  CHECK(st.code() == Errc::already_registered);

  auto entries = reg.lookup("user:1");
  REQUIRE(entries.size() == 1u);
  CHECK(entries[0].pid == p.pid);
  CHECK(entries[0].value == "tcp 10.0.0.1");
  auto keys = reg.keys(p.pid);
  std::sort(keys.begin(), keys.end());
  CHECK(keys == std::vector<std::string>{"user:1", "user:2"});
  auto info_keys = info_of(rt, p.pid).registry_keys;  // "registry/key"
  std::sort(info_keys.begin(), info_keys.end());
  CHECK(info_keys == std::vector<std::string>{"sessions/user:1", "sessions/user:2"});
  CHECK(reg.count() == 2u);
  CHECK(reg.lookup("user:404").empty());

  // The same name gives the same registry.
  CHECK(rt.registry("sessions").lookup("user:2").size() == 1u);

  REQUIRE_OK(reg.unregister_key(p.pid, "user:1"));
  CHECK(reg.lookup("user:1").empty());
  CHECK(reg.unregister_key(p.pid, "user:1").code() == Errc::not_registered);
  REQUIRE_OK(reg.register_key(q.pid, "user:1", "now q"));
  CHECK(has_entry(reg.lookup("user:1"), q.pid, "now q"));
}

TEST_CASE("a duplicate registry maps a key to many processes, each once", "[core][names][registry]") {
  Runtime rt(schedulers(2));
  auto p = spawn_probe(rt);
  auto q = spawn_probe(rt);
  Registry topics = rt.registry("topics", RegistryKeys::duplicate);
  CHECK(topics.kind() == RegistryKeys::duplicate);
  REQUIRE_OK(topics.register_key(p.pid, "news", "p-meta"));
  REQUIRE_OK(topics.register_key(q.pid, "news", "q-meta"));
  CHECK(topics.register_key(p.pid, "news", "again").code() == Errc::already_registered);

  auto entries = topics.lookup("news");
  CHECK(entries.size() == 2u);
  CHECK(has_entry(entries, p.pid, "p-meta"));
  CHECK(has_entry(entries, q.pid, "q-meta"));

  REQUIRE_OK(topics.unregister_key(q.pid, "news"));
  entries = topics.lookup("news");
  REQUIRE(entries.size() == 1u);
  CHECK(entries[0].pid == p.pid);
}

TEST_CASE("registry entries vanish when their process exits", "[core][names][registry]") {
  Runtime rt(schedulers(2));
  auto p = spawn_probe(rt);
  auto q = spawn_probe(rt);
  Registry unique = rt.registry("by-id", RegistryKeys::unique);
  Registry dup = rt.registry("by-topic", RegistryKeys::duplicate);
  REQUIRE_OK(unique.register_key(p.pid, "id-1", "x"));
  REQUIRE_OK(unique.register_key(p.pid, "id-2", "y"));
  REQUIRE_OK(dup.register_key(p.pid, "topic", "p"));
  REQUIRE_OK(dup.register_key(q.pid, "topic", "q"));

  SECTION("a normal exit") { REQUIRE_OK(rt.send(p.pid, Stop{})); }
  SECTION("a crash") { REQUIRE_OK(rt.send(p.pid, Crash{"bye"})); }
  SECTION("a kill") { REQUIRE_OK(rt.exit(p.pid, ExitReason::kill())); }

  REQUIRE(eventually([&] { return unique.count() == 0u && dup.count() == 1u; }));
  CHECK(unique.lookup("id-1").empty());
  CHECK(unique.keys(p.pid).empty());
  auto left = dup.lookup("topic");
  REQUIRE(left.size() == 1u);
  CHECK(left[0].pid == q.pid);
  // Registering a dead process fails.
  CHECK(unique.register_key(p.pid, "id-3").code() == Errc::dead_process);
  // Its keys are free for others.
  REQUIRE_OK(unique.register_key(q.pid, "id-1", "q now"));
}

}  // namespace test_core_names_test
