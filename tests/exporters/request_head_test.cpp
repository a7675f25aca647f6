// The strict request-head parser (exporters/src/http/request_head.hpp): what
// it accepts, and that every ambiguity is refused with the status and a
// message that names what was wrong.
#include <catch2/catch.hpp>

#include "http/request_head.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_exporters_request_head_test {

using canopy::exporters::http::HeadParse;
using canopy::exporters::http::parse_request_head;
using canopy::exporters::http::percent_decode;
using State = HeadParse::State;

namespace {
HeadParse parse(const std::string& text) { return parse_request_head(text, 16 * 1024); }
}  // namespace

TEST_CASE("a request head is parsed into method, target, version, headers and framing", "[http][parser]") {
  const HeadParse p = parse("GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nAccept-Encoding:  gzip \r\n\r\nrest");
  REQUIRE(p.state == State::complete);
  CHECK(p.head_bytes == std::string("GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nAccept-Encoding:  gzip \r\n\r\n").size());
  CHECK(p.head.method == "GET");
  CHECK(p.head.target == "/metrics?x=1");
  CHECK(p.head.minor_version == 1);
  REQUIRE(p.head.header("accept-encoding") != nullptr);
  CHECK(*p.head.header("accept-encoding") == "gzip");
  CHECK(p.head.header("x-none") == nullptr);
  CHECK(p.head.keep_alive);
  CHECK(p.head.content_length == 0);
}

TEST_CASE("keep-alive follows the version and the Connection header", "[http][parser]") {
  CHECK_FALSE(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n").head.keep_alive);
  CHECK_FALSE(parse("GET / HTTP/1.0\r\n\r\n").head.keep_alive);
  CHECK(parse("GET / HTTP/1.0\r\nConnection: te, Keep-Alive\r\n\r\n").head.keep_alive);
}

TEST_CASE("an unfinished head is incomplete until it is too long", "[http][parser]") {
  CHECK(parse("GET /metrics HTTP/1.1\r\nHost: a\r\n").state == State::incomplete);
  CHECK(parse("G").state == State::incomplete);
  const HeadParse big = parse_request_head("GET /" + std::string(200, 'a'), 100);
  CHECK(big.state == State::invalid);
  CHECK(big.status == 431);
}

TEST_CASE("ambiguous framing is refused: two Content-Lengths, Transfer-Encoding, bad numbers", "[http][parser]") {
  const HeadParse two = parse("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n");
  CHECK(two.state == State::invalid);
  CHECK(two.status == 400);
  CHECK(two.message == "two different Content-Length headers (5 and 7)");
  // The same value twice is one length.
  CHECK(parse("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n").head.content_length ==
        5);
  const HeadParse te = parse("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
  CHECK(te.status == 411);
  CHECK(parse("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n").status == 400);
  CHECK(parse("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1e3\r\n\r\n").status == 400);
  CHECK(parse("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n").status == 400);
}

TEST_CASE("malformed request lines and headers are 400s that say what was wrong", "[http][parser]") {
  CHECK(parse("BLAH\r\n\r\n").message == "the request line 'BLAH' is not METHOD TARGET HTTP/1.x");
  CHECK(parse("GET  / HTTP/1.1\r\nHost: a\r\n\r\n").status == 400);
  CHECK(parse("GET http://x/ HTTP/1.1\r\nHost: a\r\n\r\n").message ==
        "the request target 'http://x/' must be a path starting with '/'");
  CHECK(parse("GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n").message ==
        "the request target '/\\x01' has a byte that must be percent-encoded");
  CHECK(parse("GET / HTTP/9.9\r\nHost: a\r\n\r\n").message == "HTTP version 9.9 is not supported (HTTP/1.0 and 1.1 are)");
  CHECK(parse("GET / HTTX/1.1\r\nHost: a\r\n\r\n").status == 400);
  CHECK(parse("GET / HTTP/1.1\r\nHost : a\r\n\r\n").status == 400);
  CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n").message ==
        "header lines folded onto the next line (obs-fold) are not accepted");
  CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f"
              "b\r\n\r\n")
            .status == 400);
  CHECK(parse("GET / HTTP/1.1\r\nNoColon\r\n\r\n").status == 400);
  CHECK(parse("GET / HTTP/1.1\r\n\r\n").message == "an HTTP/1.1 request needs a Host header");
  CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").message == "more than one Host header");
  CHECK(parse("GET / HTTP/1.1\nHost: a\n\n").message == "request lines must end in CRLF, not a bare LF");
}

TEST_CASE("percent-decoding happens once and refuses broken escapes", "[http][parser]") {
  std::string out;
  REQUIRE(percent_decode("/a%2522b%2Fc+d", out));
  CHECK(out == "/a%22b/c+d");
  REQUIRE(percent_decode("%00", out));
  CHECK(out == std::string(1, '\0'));
  CHECK_FALSE(percent_decode("%", out));
  CHECK_FALSE(percent_decode("%4", out));
  CHECK_FALSE(percent_decode("%zz", out));
}

}  // namespace test_exporters_request_head_test
