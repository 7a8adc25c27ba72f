#include "proxy/sasl_rewrite.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "pgwire/framer.hpp"

using pglc::proxy::strip_channel_binding;

namespace {

std::string auth_message(std::int32_t code, const std::string& payload) {
  std::string body;
  for (int shift : {24, 16, 8, 0}) body.push_back(static_cast<char>((code >> shift) & 0xff));
  body += payload;
  std::string out(1, 'R');
  std::uint32_t len = static_cast<std::uint32_t>(body.size() + 4);
  for (int shift : {24, 16, 8, 0}) out.push_back(static_cast<char>((len >> shift) & 0xff));
  return out + body;
}

std::string sasl(const std::vector<std::string>& mechanisms) {
  std::string payload;
  for (auto& m : mechanisms) payload += m + std::string(1, '\0');
  payload.push_back('\0');
  return auth_message(10, payload);
}

// Frames a whole message and runs the rewrite on it.
std::optional<std::string> rewrite(const std::string& wire) {
  pglc::pgwire::Framer framer(pglc::pgwire::Direction::backend);
  std::optional<std::vector<std::uint8_t>> out;
  int frames = 0;
  framer.feed(pglc::pgwire::Bytes(reinterpret_cast<const std::uint8_t*>(wire.data()), wire.size()),
              [&](const pglc::pgwire::Frame& f, std::size_t) {
                ++frames;
                out = strip_channel_binding(f);
              });
  REQUIRE(frames == 1);
  if (!out) return std::nullopt;
  return std::string(out->begin(), out->end());
}

}  // namespace

TEST_CASE("PostgreSQL's list over TLS loses SCRAM-SHA-256-PLUS, keeps the rest in order") {
  // What PostgreSQL 15 sends on a TLS connection.
  auto out = rewrite(sasl({"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"}));
  REQUIRE(out);
  CHECK(*out == sasl({"SCRAM-SHA-256"}));
  // The length field is rewritten: the result frames as one message.
  CHECK(out->size() == 1 + 4 + 4 + std::string("SCRAM-SHA-256").size() + 2);

  auto mixed = rewrite(sasl({"X-FIRST", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "X-LAST"}));
  REQUIRE(mixed);
  CHECK(*mixed == sasl({"X-FIRST", "SCRAM-SHA-256", "X-LAST"}));
}

TEST_CASE("messages without SCRAM-SHA-256-PLUS are left alone") {
  CHECK_FALSE(rewrite(sasl({"SCRAM-SHA-256"})));
  CHECK_FALSE(rewrite(auth_message(0, "")));                     // AuthenticationOk
  CHECK_FALSE(rewrite(auth_message(5, "salt")));                 // MD5
  CHECK_FALSE(rewrite(auth_message(11, "r=abc,s=def,i=4096")));  // SASLContinue
  // Not an Authentication message at all (ReadyForQuery).
  CHECK_FALSE(rewrite(std::string("Z\0\0\0\5I", 6)));
  // A name that merely starts with the mechanism is a different mechanism.
  CHECK_FALSE(rewrite(sasl({"SCRAM-SHA-256-PLUS-X", "SCRAM-SHA-256"})));
}

TEST_CASE("a malformed SASL list is forwarded unchanged, never over-read") {
  // Missing the final empty name and the NUL of the last mechanism.
  std::string bad = auth_message(10, "SCRAM-SHA-256-PLUS");
  CHECK_FALSE(rewrite(bad));
}

TEST_CASE("the gs2 flag of a SASLInitialResponse") {
  auto flag = [](const std::string& mechanism, const std::string& data) {
    std::string body = mechanism + std::string(1, '\0');
    const auto n = static_cast<std::uint32_t>(data.size());
    for (int shift : {24, 16, 8, 0}) body.push_back(static_cast<char>((n >> shift) & 0xff));
    body += data;
    pglc::pgwire::Frame f{'p', static_cast<std::uint32_t>(body.size() + 4),
                          pglc::pgwire::Bytes(reinterpret_cast<const std::uint8_t*>(body.data()),
                                              body.size())};
    return pglc::proxy::scram_gs2_flag(f);
  };
  CHECK(flag("SCRAM-SHA-256", "y,,n=,r=abc") == 'y');
  CHECK(flag("SCRAM-SHA-256", "n,,n=,r=abc") == 'n');
  CHECK(flag("SCRAM-SHA-256-PLUS", "p=tls-server-end-point,,n=,r=abc") == 'p');
  CHECK_FALSE(flag("SCRAM-SHA-256", "").has_value());
  CHECK_FALSE(flag("md5", "y").has_value());
  // A password message is not a SASL answer.
  const std::string pw = "secret" + std::string(1, '\0');
  pglc::pgwire::Frame f{'p', static_cast<std::uint32_t>(pw.size() + 4),
                        pglc::pgwire::Bytes(reinterpret_cast<const std::uint8_t*>(pw.data()),
                                            pw.size())};
  CHECK_FALSE(pglc::proxy::scram_gs2_flag(f).has_value());
}
