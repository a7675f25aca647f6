// The API's one JSON writer and its body readers, read back by a real parser.
#include <canopy/exporters/json.hpp>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_exporters_json_test {

using namespace canopy;

TEST_CASE("the JSON writer escapes quotes, backslashes and control characters", "[json]") {
  const std::string nasty = std::string("a\"b\\c\nd\re\tf\x01g\x1f") + std::string(1, '\0') + "h";
  exporters::JsonWriter j;
  j.begin_object().field(nasty, nasty).key("list").begin_array().value(1).value(true).null().end_array().end_object();
  const nlohmann::json back = nlohmann::json::parse(j.str());
  CHECK(back[nasty] == nasty);
  CHECK(back["list"] == nlohmann::json::parse("[1, true, null]"));
  CHECK(nlohmann::json::parse(exporters::json_quote(nasty)) == nasty);
}

TEST_CASE("the JSON writer replaces invalid UTF-8 with U+FFFD and keeps valid UTF-8", "[json]") {
  const std::string invalid = "fault \xff\xfe end";
  const nlohmann::json back = nlohmann::json::parse(exporters::json_error(invalid));
  CHECK(back["error"] == "fault \xEF\xBF\xBD\xEF\xBF\xBD end");
  const std::string valid = "caf\xC3\xA9 \xE2\x9C\x93";
  CHECK(nlohmann::json::parse(exporters::json_quote(valid)) == valid);
}

TEST_CASE("the JSON writer writes numbers that read back, and null for what JSON cannot hold", "[json]") {
  exporters::JsonWriter j;
  j.begin_array().value(0.1).value(uint64_t{18446744073709551615u}).value(int64_t{-5});
  j.value(std::numeric_limits<double>::infinity()).value(std::nan("")).end_array();
  const nlohmann::json back = nlohmann::json::parse(j.str());
  CHECK(back[0].get<double>() == 0.1);
  CHECK(back[1].get<uint64_t>() == 18446744073709551615u);
  CHECK(back[2] == -5);
  CHECK(back[3].is_null());
  CHECK(back[4].is_null());
}

TEST_CASE("body members are read by a JSON parser, not by searching the text", "[json]") {
  // A key inside a string value is not a key.
  CHECK(exporters::json_string_member(R"({"comment": "level", "x": "debug", "level": "info"})", "level") == "info");
  CHECK_FALSE(exporters::json_bool_member(R"({"note": "enabled", "x": true})", "enabled").has_value());
  // Escapes are decoded: \n is a newline, \u00e9 is é.
  CHECK(exporters::json_string_member(R"({"reason": "bad\nthing \"quoted\" caf\u00e9"})", "reason") ==
        "bad\nthing \"quoted\" caf\xC3\xA9");
  CHECK(exporters::json_bool_member(R"({ "on" : false })", "on") == false);
  // Nested members are not top-level members.
  CHECK_FALSE(exporters::json_bool_member(R"({"inner": {"on": true}})", "on").has_value());
  // Wrong types, non-objects and non-JSON are "absent".
  CHECK_FALSE(exporters::json_bool_member(R"({"on": "true"})", "on").has_value());
  CHECK_FALSE(exporters::json_string_member(R"({"level": 5})", "level").has_value());
  CHECK_FALSE(exporters::json_string_member(R"(["level", "debug"])", "level").has_value());
  CHECK_FALSE(exporters::json_bool_member("{\"on\": maybe}", "on").has_value());
  CHECK_FALSE(exporters::json_string_member("debug", "level").has_value());
  CHECK_FALSE(exporters::json_string_member("", "level").has_value());
}

}  // namespace test_exporters_json_test
