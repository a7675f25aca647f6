// server.admin_token_file and $CANOPY_ADMIN_TOKEN.
#include <catch2/catch.hpp>

#include "support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_config_admin_token_test {

using namespace canopy::config;
using canopy::config::test::ScopedEnv;
using canopy::config::test::TempDir;
using canopy::config::test::write_text;

namespace {

Config load_with_token_file(const TempDir& dir, const std::string& token_file) {
  write_text(dir.file("canopy.yaml"), "server:\n  admin_token_file: " + token_file + "\n");
  LoadResult r = load_file(dir.file("canopy.yaml"));
  REQUIRE_LOADS(r);
  return *r.config;
}

}  // namespace

TEST_CASE("the admin token is read from its file, trailing newline trimmed", "[config][admin_token]") {
  ScopedEnv env("CANOPY_ADMIN_TOKEN", nullptr);
  TempDir dir;
  write_text(dir.file("token"), "s3cret-token\n");
  Config c = load_with_token_file(dir, "token");  // relative to the config file
  CHECK(c.server.admin_token.empty());
  CHECK_FALSE(apply_admin_token(c).has_value());
  CHECK(c.server.admin_token == "s3cret-token");
}

TEST_CASE("$CANOPY_ADMIN_TOKEN overrides the token file", "[config][admin_token]") {
  TempDir dir;
  write_text(dir.file("token"), "from-file\n");
  SECTION("with a file") {
    ScopedEnv env("CANOPY_ADMIN_TOKEN", "from-env");
    Config c = load_with_token_file(dir, "token");
    CHECK_FALSE(apply_admin_token(c).has_value());
    CHECK(c.server.admin_token == "from-env");
  }
  SECTION("without a file (the file is then not read)") {
    ScopedEnv env("CANOPY_ADMIN_TOKEN", "from-env");
    Config c = load_with_token_file(dir, "missing");
    CHECK_FALSE(apply_admin_token(c).has_value());
    CHECK(c.server.admin_token == "from-env");
  }
  SECTION("an empty variable does not count") {
    ScopedEnv env("CANOPY_ADMIN_TOKEN", "");
    Config c = load_with_token_file(dir, "token");
    CHECK_FALSE(apply_admin_token(c).has_value());
    CHECK(c.server.admin_token == "from-file");
  }
}

TEST_CASE("an unreadable or empty token file is an error naming it", "[config][admin_token]") {
  ScopedEnv env("CANOPY_ADMIN_TOKEN", nullptr);
  TempDir dir;
  SECTION("missing") {
    Config c = load_with_token_file(dir, "missing");
    const auto e = apply_admin_token(c);
    REQUIRE(e.has_value());
    CHECK(e->to_string() == dir.file("canopy.yaml") + ":2:3: server.admin_token_file: cannot read admin token file '" +
                                dir.file("missing") + "': No such file or directory");
  }
  SECTION("a directory") {
    Config c = load_with_token_file(dir, ".");
    const auto e = apply_admin_token(c);
    REQUIRE(e.has_value());
    CHECK(e->to_string() == dir.file("canopy.yaml") + ":2:3: server.admin_token_file: cannot read admin token file '" +
                                dir.path() + "/': it is a directory");
  }
  SECTION("empty") {
    write_text(dir.file("empty"), "\n");
    Config c = load_with_token_file(dir, "empty");
    const auto e = apply_admin_token(c);
    REQUIRE(e.has_value());
    CHECK(e->to_string() == dir.file("canopy.yaml") + ":2:3: server.admin_token_file: admin token file '" +
                                dir.file("empty") + "' is empty");
  }
}

TEST_CASE("no token file and no variable leave the admin token empty", "[config][admin_token]") {
  ScopedEnv env("CANOPY_ADMIN_TOKEN", nullptr);
  Config c;
  CHECK_FALSE(apply_admin_token(c).has_value());
  CHECK(c.server.admin_token.empty());
}

TEST_CASE("server.admin_without_token is refuse by default, loopback when asked", "[config][admin_token]") {
  using canopy::exporters::AdminWithoutToken;
  CHECK(Config{}.server.admin_without_token == AdminWithoutToken::refuse);
  LoadResult none = load_string("server: {}\n", "test.yaml");
  REQUIRE_LOADS(none);
  CHECK(none.config->server.admin_without_token == AdminWithoutToken::refuse);
  CHECK(server_options(*none.config).admin_without_token == AdminWithoutToken::refuse);

  LoadResult refuse = load_string("server:\n  admin_without_token: refuse\n", "test.yaml");
  REQUIRE_LOADS(refuse);
  CHECK(refuse.config->server.admin_without_token == AdminWithoutToken::refuse);

  LoadResult loopback = load_string("server:\n  admin_without_token: loopback\n", "test.yaml");
  REQUIRE_LOADS(loopback);
  CHECK(loopback.config->server.admin_without_token == AdminWithoutToken::loopback);
  CHECK(server_options(*loopback.config).admin_without_token == AdminWithoutToken::loopback);
}

TEST_CASE("an unknown server.admin_without_token names the key and the values it takes", "[config][admin_token]") {
  using canopy::config::test::errors_of;
  using Errors = std::vector<std::string>;
  CHECK(errors_of("server:\n  admin_without_token: yes\n") ==
        Errors{"test.yaml:2:24: server.admin_without_token: expected one of refuse, loopback, got 'yes'"});
  CHECK(errors_of("server:\n  admin_without_token: loopbak\n") ==
        Errors{"test.yaml:2:24: server.admin_without_token: expected one of refuse, loopback, got 'loopbak' (did you "
               "mean 'loopback'?)"});
  CHECK(errors_of("server:\n  admin_without_token: [loopback]\n") ==
        Errors{"test.yaml:2:24: server.admin_without_token: expected one of refuse, loopback, got a list"});
}

}  // namespace test_config_admin_token_test
