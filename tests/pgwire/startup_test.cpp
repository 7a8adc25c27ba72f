#include "pgwire/startup.hpp"

#include <doctest/doctest.h>

#include <memory>

#include "wire_bytes.hpp"

namespace pglc::pgwire::test {
namespace {

// Parses from an exact-size heap copy so that ASan sees any read past the packet.
StartupParse parse(const ByteVec& packet) {
  auto copy = std::make_unique<std::uint8_t[]>(packet.size());
  std::copy(packet.begin(), packet.end(), copy.get());
  return parse_startup_packet(Bytes(copy.get(), packet.size()));
}

ByteVec psql_startup(std::uint32_t protocol = kProtocol30) {
  return Msg::untyped()
      .i32(protocol)
      .str("user")
      .str("alice")
      .str("database")
      .str("shop")
      .str("application_name")
      .str("psql")
      .str("options")
      .str("-c geqo=off")
      .u8(0)
      .bytes();
}

TEST_CASE("startup: StartupMessage with user, database, application_name, options") {
  const ByteVec packet = psql_startup();
  REQUIRE(startup_packet_length(Bytes(packet)) == packet.size());
  const auto r = parse(packet);
  REQUIRE(r.packet);
  CHECK(r.error.empty());
  CHECK(r.packet->kind == StartupPacket::Kind::startup);
  CHECK(r.packet->protocol == kProtocol30);
  CHECK(r.packet->parameters.size() == 4);
  CHECK(r.packet->parameter("user") == "alice");
  CHECK(r.packet->parameter("database") == "shop");
  CHECK(r.packet->parameter("application_name") == "psql");
  CHECK(r.packet->parameter("options") == "-c geqo=off");
  CHECK(r.packet->parameter("client_encoding").empty());
}

TEST_CASE("startup: SSLRequest, GSSENCRequest, CancelRequest") {
  const ByteVec ssl = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f};  // as psql sends it
  auto r = parse(ssl);
  REQUIRE(r.packet);
  CHECK(r.packet->kind == StartupPacket::Kind::ssl_request);

  const ByteVec gss = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30};
  r = parse(gss);
  REQUIRE(r.packet);
  CHECK(r.packet->kind == StartupPacket::Kind::gssenc_request);

  const ByteVec cancel = Msg::untyped().i32(kCancelRequestCode).i32(4242).i32(0x1badcafe).bytes();
  REQUIRE(cancel.size() == 16);
  r = parse(cancel);
  REQUIRE(r.packet);
  CHECK(r.packet->kind == StartupPacket::Kind::cancel_request);
  CHECK(r.packet->cancel_pid == 4242);
  CHECK(r.packet->cancel_key == 0x1badcafe);
  CHECK(r.packet->cancel_secret == std::string("\x1b\xad\xca\xfe", 4));

  // Protocol 3.2 servers hand out longer secrets (up to 256 bytes).
  const std::string secret(32, '\x5a');
  const ByteVec cancel32 = Msg::untyped().i32(kCancelRequestCode).i32(7).raw(secret).bytes();
  r = parse(cancel32);
  REQUIRE(r.packet);
  CHECK(r.packet->cancel_pid == 7);
  CHECK(r.packet->cancel_secret == secret);
  CHECK(r.packet->cancel_key == 0x5a5a5a5a);
  CHECK(parse(Msg::untyped().i32(kCancelRequestCode).i32(7).raw(std::string(256, 'k')).bytes())
            .packet);
  CHECK_FALSE(
      parse(Msg::untyped().i32(kCancelRequestCode).i32(7).raw(std::string(257, 'k')).bytes())
          .packet);
}

TEST_CASE("startup: bad lengths") {
  CHECK_FALSE(startup_packet_length(Bytes(ByteVec{0, 0, 0})));
  CHECK_FALSE(startup_packet_length(Bytes(ByteVec{0, 0, 0, 7})));
  CHECK(startup_packet_length(Bytes(ByteVec{0, 0, 0, 8})) == 8u);
  CHECK(startup_packet_length(Bytes(ByteVec{0, 0, 0x27, 0x10})) == kMaxStartupPacket);
  CHECK_FALSE(startup_packet_length(Bytes(ByteVec{0, 0, 0x27, 0x11})));
  CHECK_FALSE(startup_packet_length(Bytes(ByteVec{0x80, 0, 0, 8})));

  // Announced length differs from the bytes given.
  ByteVec packet = psql_startup();
  ByteVec longer = packet;
  longer.push_back(0);
  CHECK_FALSE(parse(longer).packet);
  CHECK_FALSE(parse(ByteVec(packet.begin(), packet.end() - 1)).packet);
  CHECK_FALSE(parse(ByteVec{}).packet);
  CHECK_FALSE(parse(ByteVec{0, 0}).packet);

  // Encryption and cancel requests have fixed sizes.
  auto r = parse(Msg::untyped().i32(kSslRequestCode).i32(0).bytes());
  CHECK_FALSE(r.packet);
  CHECK_FALSE(r.error.empty());
  CHECK_FALSE(parse(Msg::untyped().i32(kGssEncRequestCode).u8(0).bytes()).packet);
  CHECK_FALSE(parse(Msg::untyped().i32(kCancelRequestCode).i32(1).bytes()).packet);
  CHECK_FALSE(parse(Msg::untyped().i32(kCancelRequestCode).i32(1).i16(0).bytes()).packet);
}

TEST_CASE("startup: missing terminators and trailing bytes") {
  // No final empty name.
  auto r = parse(Msg::untyped().i32(kProtocol30).str("user").str("alice").bytes());
  CHECK_FALSE(r.packet);
  CHECK(r.error.find("terminator") != std::string::npos);
  // Value without NUL.
  CHECK_FALSE(parse(Msg::untyped().i32(kProtocol30).str("user").raw("alice").bytes()).packet);
  // Name without NUL.
  CHECK_FALSE(parse(Msg::untyped().i32(kProtocol30).raw("user").bytes()).packet);
  // Name, no value.
  CHECK_FALSE(parse(Msg::untyped().i32(kProtocol30).str("user").bytes()).packet);
  // Bytes after the terminator.
  CHECK_FALSE(
      parse(Msg::untyped().i32(kProtocol30).str("user").str("a").u8(0).raw("x").bytes()).packet);
  // Every truncation of a valid packet, length word rewritten to match, is rejected.
  const ByteVec packet = psql_startup();
  for (std::size_t n = 8; n < packet.size(); ++n) {
    ByteVec cut(packet.begin(), packet.begin() + n);
    cut[2] = static_cast<std::uint8_t>(n >> 8);
    cut[3] = static_cast<std::uint8_t>(n);
    CAPTURE(n);
    CHECK_FALSE(parse(cut).packet);
  }
  // An empty parameter list is well-formed (the server then complains about the user).
  CHECK(parse(Msg::untyped().i32(kProtocol30).u8(0).bytes()).packet);
}

TEST_CASE("startup: protocol versions") {
  auto r = parse(psql_startup(0x00020000));
  CHECK_FALSE(r.packet);
  CHECK(r.error.find("2.0") != std::string::npos);
  CHECK_FALSE(parse(psql_startup(0x00040000)).packet);
  r = parse(psql_startup(0x00030002));  // 3.2, PostgreSQL 18's libpq may ask for it
  REQUIRE(r.packet);
  CHECK(r.packet->protocol == 0x00030002);
  CHECK(r.packet->parameter("user") == "alice");
  // Unknown negotiation codes are neither 3.x nor special requests.
  CHECK_FALSE(parse(Msg::untyped().i32(80877105).bytes()).packet);
}

}  // namespace
}  // namespace pglc::pgwire::test
