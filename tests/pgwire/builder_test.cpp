#include "pgwire/builder.hpp"

#include <doctest/doctest.h>

#include "pgwire/backend.hpp"
#include "pgwire/framer.hpp"

namespace pglc::pgwire::test {
namespace {

// Frames `bytes` and expects exactly one whole message.
Frame only_frame(const std::vector<std::uint8_t>& bytes) {
  Framer framer(Direction::backend);
  Frame out;
  int n = 0;
  REQUIRE(framer.feed(Bytes(bytes), [&](const Frame& f, std::size_t end) {
    out = f;
    ++n;
    CHECK(end == bytes.size());
  }) == FrameError::none);
  REQUIRE(n == 1);
  REQUIRE(out.complete());
  return out;
}

TEST_CASE("builder: error_response round-trips through decode_error_fields") {
  const auto bytes = error_response("08P01", "invalid message length");
  const Frame f = only_frame(bytes);
  CHECK(f.type == 'E');
  const auto e = be::decode_error_fields(f);
  REQUIRE(e.ok());
  CHECK(e.value.severity == "FATAL");
  CHECK(e.value.sqlstate == "08P01");
  CHECK(e.value.message == "invalid message length");
  // Both the localized and the non-localized severity are present.
  const std::string s(bytes.begin(), bytes.end());
  CHECK(s.find(std::string("SFATAL\0", 7)) != std::string::npos);
  CHECK(s.find(std::string("VFATAL\0", 7)) != std::string::npos);
  CHECK(bytes.back() == 0);

  const auto warn_bytes = error_response("01000", "", "WARNING");
  const auto warn = be::decode_error_fields(only_frame(warn_bytes));
  REQUIRE(warn.ok());
  CHECK(warn.value.severity == "WARNING");
  CHECK(warn.value.message.empty());
  // An embedded NUL cannot break the message apart.
  const auto cut_bytes = error_response("XX000", std::string_view("bad\0tail", 8));
  const auto cut = be::decode_error_fields(only_frame(cut_bytes));
  REQUIRE(cut.ok());
  CHECK(cut.value.message == "bad");
}

TEST_CASE("builder: authentication_sasl round-trips through decode_authentication") {
  const auto bytes = authentication_sasl({"SCRAM-SHA-256"});
  const std::vector<std::uint8_t> expected = {'R', 0,   0,   0,   23,  0,   0,   0,
                                              10,  'S', 'C', 'R', 'A', 'M', '-', 'S',
                                              'H', 'A', '-', '2', '5', '6', 0,   0};
  CHECK(bytes == expected);
  const auto a = be::decode_authentication(only_frame(bytes));
  REQUIRE(a.ok());
  CHECK(a.value.code == 10);
  std::vector<std::string> names;
  a.value.for_each_mechanism([&](std::string_view m) { names.emplace_back(m); });
  CHECK(names == std::vector<std::string>{"SCRAM-SHA-256"});

  const auto two_bytes = authentication_sasl({"SCRAM-SHA-256-PLUS", "", "SCRAM-SHA-256"});
  const auto two = be::decode_authentication(only_frame(two_bytes));
  REQUIRE(two.ok());
  names.clear();
  two.value.for_each_mechanism([&](std::string_view m) { names.emplace_back(m); });
  CHECK(names == std::vector<std::string>{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"});
}

TEST_CASE("builder: Flush is the 5-byte message the server expects") {
  const std::vector<std::uint8_t> flush(std::begin(kFlushMessage), std::end(kFlushMessage));
  Framer framer(Direction::frontend);
  int n = 0;
  framer.feed(Bytes(flush), [&](const Frame& f, std::size_t) {
    CHECK(f.type == 'H');
    CHECK(f.length == 4);
    ++n;
  });
  CHECK(n == 1);
}

}  // namespace
}  // namespace pglc::pgwire::test
