// Plain values: text forms of codes and reasons, Result/Status, message
// sizes (dynamic_size) and type names.
#include "test_support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_core_values_test {

using namespace canopy;
using namespace canopy_test;
using Catch::Matchers::Contains;

namespace {

struct WithMember {
  std::vector<char> data;
  size_t dynamic_size() const { return data.capacity() + 7; }
};

struct WithAdl {
  size_t extra;
};
size_t canopy_dynamic_size(const WithAdl& w) { return w.extra; }

struct Plain {
  int a;
  double b;
};

}  // namespace

TEST_CASE("exit reasons print their kind and text", "[core][values]") {
  CHECK(ExitReason().is_normal());
  CHECK(ExitReason::normal().to_string() == "normal");
  CHECK(ExitReason::shutdown().to_string() == "shutdown");
  CHECK(ExitReason::shutdown("maintenance").to_string() == "shutdown: maintenance");
  CHECK(ExitReason::killed().to_string() == "killed");
  CHECK(ExitReason::noproc().to_string() == "noproc");
  CHECK(ExitReason::error("disk full").to_string() == "error: disk full");
  CHECK(std::string(ExitReason::error("x").kind_name()) == "error");
  CHECK(std::string(ExitReason::kill().kind_name()) == "kill");
  CHECK(ExitReason::shutdown().is_orderly());
  CHECK(ExitReason::normal().is_orderly());
  CHECK_FALSE(ExitReason::error("x").is_orderly());
  CHECK_FALSE(ExitReason::killed().is_orderly());
  CHECK(ExitReason::error("a") != ExitReason::error("b"));
  CHECK(ExitReason::error("a") == ExitReason::error("a"));
}

TEST_CASE("errors, results and statuses carry their code and message", "[core][values]") {
  const Error e(Errc::mailbox_full, "no room");
  CHECK(e.to_string() == "mailbox_full: no room");
  Result<int> ok = 5;
  CHECK(ok.ok());
  CHECK(ok.code() == Errc::ok);
  CHECK(*ok == 5);
  Result<int> bad = e;
  CHECK_FALSE(bad.ok());
  CHECK(bad.code() == Errc::mailbox_full);
  CHECK(bad.error().message() == "no room");
  Status fine;
  CHECK(fine.ok());
  CHECK(fine.to_string() == "ok");
  Status failed = e;
  CHECK(failed.code() == Errc::mailbox_full);
  CHECK(failed.to_string() == "mailbox_full: no room");
  for (Errc c : {Errc::ok, Errc::dead_process, Errc::mailbox_full, Errc::dropped, Errc::timeout, Errc::callee_exited,
                 Errc::bad_request, Errc::init_failed, Errc::process_limit, Errc::not_in_process,
                 Errc::already_registered, Errc::not_registered, Errc::invalid_argument, Errc::shutting_down}) {
    CHECK(std::string(to_string(c)) != "unknown");
  }
  CHECK(std::string(to_string(Errc::callee_exited)) == "callee_exited");
}

TEST_CASE("overflow policies, drop reasons and statuses have stable names", "[core][values]") {
  for (auto p :
       {OverflowPolicy::drop_newest, OverflowPolicy::drop_oldest, OverflowPolicy::reject, OverflowPolicy::block}) {
    INFO(to_string(p));
    REQUIRE(parse_overflow_policy(to_string(p)).has_value());
    CHECK(*parse_overflow_policy(to_string(p)) == p);
  }
  CHECK_FALSE(parse_overflow_policy("drop_everything").has_value());
  CHECK(std::string(to_string(DropReason::dead_process)) == "dead_process");
  CHECK(std::string(to_string(DropReason::process_exited)) == "process_exited");
  CHECK(std::string(to_string(ProcessStatus::waiting)) == "waiting");
  CHECK(std::string(to_string(ExitKind::killed)) == "killed");
}

TEST_CASE("a message's size counts the envelope, the payload and its dynamic size", "[core][values][mailbox]") {
  SECTION("a plain struct has no dynamic part") {
    auto m = make_message(Plain{1, 2.0});
    CHECK(m->bytes() == sizeof(TypedMessage<Plain>));
    CHECK(dynamic_size(Plain{}) == 0u);
  }
  SECTION("a long string counts its heap buffer, a short one does not") {
    std::string longer(100, 'x');
    const size_t dyn = dynamic_size(longer);
    CHECK(dyn >= 101u);
    CHECK(dynamic_size(std::string("tiny")) == 0u);
    auto m = make_message(std::move(longer));
    CHECK(m->bytes() == sizeof(TypedMessage<std::string>) + dyn);
  }
  SECTION("vectors count capacity and their elements' dynamic sizes") {
    std::vector<std::string> v;
    v.reserve(4);
    v.push_back(std::string(50, 'a'));
    CHECK(dynamic_size(v) == 4 * sizeof(std::string) + dynamic_size(v[0]));
  }
  SECTION("a member dynamic_size() is used") {
    WithMember w;
    w.data.reserve(10);
    CHECK(dynamic_size(w) == w.data.capacity() + 7);
    CHECK(total_size(w) == sizeof(WithMember) + w.data.capacity() + 7);
  }
  SECTION("a canopy_dynamic_size found by ADL is used") {
    CHECK(dynamic_size(WithAdl{123}) == 123u);
    auto m = make_message(WithAdl{1000});
    CHECK(m->bytes() == sizeof(TypedMessage<WithAdl>) + 1000);
  }
  SECTION("pairs and optionals add up their parts") {
    std::pair<std::string, WithAdl> p{std::string(40, 'p'), WithAdl{5}};
    CHECK(dynamic_size(p) == dynamic_size(p.first) + 5);
    std::optional<WithAdl> some = WithAdl{9};
    std::optional<WithAdl> none;
    CHECK(dynamic_size(some) == 9u);
    CHECK(dynamic_size(none) == 0u);
  }
}

TEST_CASE("messages know their type, kind and payload", "[core][values]") {
  auto m = make_message(42);
  CHECK(m->is<int>());
  CHECK_FALSE(m->is<long>());
  REQUIRE(m->as<int>() != nullptr);
  CHECK(*m->as<int>() == 42);
  CHECK(m->as<std::string>() == nullptr);
  CHECK(m->kind() == MessageKind::user);
  CHECK_FALSE(m->sender().valid());
  CHECK(make_message(Plain{}, MessageKind::cast)->kind() == MessageKind::cast);
  CHECK(type_name(typeid(int)) == "int");
  CHECK_THAT(type_name(typeid(Plain)), Contains("Plain"));
}

}  // namespace test_core_values_test
