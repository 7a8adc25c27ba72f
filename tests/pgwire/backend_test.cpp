#include "pgwire/backend.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "decoder_checks.hpp"
#include "sessions.hpp"

namespace pglc::pgwire::test {
namespace {

using namespace be;

std::string str(Bytes b) {
  return std::string(b.begin(), b.end());
}

TEST_CASE("be: ParameterDescription") {
  const Msg t = Msg('t').i16(2).i32(23).i32(25);
  Decoding d(decode_parameter_description, t);
  REQUIRE(d.result.ok());
  CHECK(d.result.value.count == 2);
  CHECK(d.result.value.oid(0) == 23);
  CHECK(d.result.value.oid(1) == 25);
  CHECK(d.result.value.oid(2) == 0);
  check_rejects_damage(decode_parameter_description, t);
  CHECK(Decoding(decode_parameter_description, Msg('t').i16(65535).i32(23)).result.error ==
        DecodeError::truncated);
  CHECK(Decoding(decode_parameter_description, Msg('t').i16(0)).result.ok());
}

TEST_CASE("be: RowDescription") {
  const Msg t = Msg('T')
                    .i16(2)
                    .str("id")
                    .i32(16384)
                    .i16(1)
                    .i32(23)
                    .i16(4)
                    .i32(-1)
                    .i16(0)
                    .str("name")
                    .i32(16384)
                    .i16(2)
                    .i32(25)
                    .i16(-1)
                    .i32(-1)
                    .i16(0);
  Decoding d(decode_row_description, t);
  REQUIRE(d.result.ok());
  CHECK(d.result.value.field_count == 2);
  check_rejects_damage(decode_row_description, t);
  CHECK(Decoding(decode_row_description, Msg('T').i16(3000).str("x").i32(0)).result.error ==
        DecodeError::truncated);
}

TEST_CASE("be: DataRow counts columns without copying") {
  const Msg row = Msg('D').i16(3).param("42").null_param().param("");
  Decoding d(decode_data_row, row);
  REQUIRE(d.result.ok());
  CHECK(d.result.value.column_count == 3);
  // A retained prefix still tells the column count; an empty body does not.
  check_rejects_damage(decode_data_row, row, /*prefix_is_incomplete=*/false);
  const ByteVec body = row.body();
  HeapBody two(body, 2), none(body, 0), one(body, 1);
  const auto len = static_cast<std::uint32_t>(body.size() + 4);
  auto prefix = decode_data_row(Frame{'D', len, two.bytes()});
  REQUIRE(prefix.ok());
  CHECK(prefix.value.column_count == 3);
  CHECK(decode_data_row(Frame{'D', len, none.bytes()}).error == DecodeError::incomplete_frame);
  CHECK(decode_data_row(Frame{'D', len, one.bytes()}).error == DecodeError::incomplete_frame);
  // Lying column lengths.
  CHECK(Decoding(decode_data_row, Msg('D').i16(1).i32(0x7fffffff).raw("ab")).result.error ==
        DecodeError::truncated);
  CHECK(Decoding(decode_data_row, Msg('D').i16(1).i32(-2)).result.error ==
        DecodeError::invalid_value);
  CHECK(Decoding(decode_data_row, Msg('D').i16(65535).null_param()).result.error ==
        DecodeError::truncated);
  CHECK(Decoding(decode_data_row, Msg('D').i16(0)).result.ok());
}

TEST_CASE("be: CommandComplete and its row count") {
  const Msg c = Msg('C').str("INSERT 0 5");
  Decoding d(decode_command_complete, c);
  REQUIRE(d.result.ok());
  CHECK(d.result.value.tag == "INSERT 0 5");
  CHECK(d.result.value.rows() == 5);
  check_rejects_damage(decode_command_complete, c);

  struct Case {
    std::string_view tag;
    std::int64_t rows;
  };
  for (const Case& k : {Case{"INSERT 0 1", 1},
                        Case{"INSERT 16385 1", 1},
                        Case{"UPDATE 12", 12},
                        Case{"DELETE 0", 0},
                        Case{"SELECT 3", 3},
                        Case{"MOVE 7", 7},
                        Case{"FETCH 100", 100},
                        Case{"COPY 2", 2},
                        Case{"MERGE 4", 4},
                        Case{"SELECT 9223372036854775807", INT64_MAX},
                        Case{"SELECT 9223372036854775808", -1},
                        Case{"CREATE TABLE", -1},
                        Case{"BEGIN", -1},
                        Case{"SET", -1},
                        Case{"INSERT 5", -1},
                        Case{"UPDATE 1 2", -1},
                        Case{"SELECT", -1},
                        Case{"SELECT ", -1},
                        Case{"SELECT x", -1},
                        Case{"SELECT -1", -1},
                        Case{"", -1},
                        Case{"DISCARD ALL", -1},
                        Case{"PREPARE", -1},
                        Case{"INSERT 0 ", -1}}) {
    CAPTURE(k.tag);
    CHECK(CommandComplete{k.tag}.rows() == k.rows);
  }
}

TEST_CASE("be: ErrorResponse and NoticeResponse fields") {
  // A German server: 'S' is localized, 'V' is not.
  const Msg e = Msg('E')
                    .u8('S')
                    .str("FEHLER")
                    .u8('V')
                    .str("ERROR")
                    .u8('C')
                    .str("42P01")
                    .u8('M')
                    .str("Relation »nope« existiert nicht")
                    .u8('P')
                    .str("15")
                    .u8('F')
                    .str("parse_relation.c")
                    .u8('L')
                    .str("1392")
                    .u8('R')
                    .str("parserOpenTable")
                    .u8(0);
  Decoding d(decode_error_fields, e);
  REQUIRE(d.result.ok());
  CHECK(d.result.value.severity == "ERROR");
  CHECK(d.result.value.sqlstate == "42P01");
  CHECK(d.result.value.message == "Relation »nope« existiert nicht");
  CHECK(d.result.value.detail.empty());
  check_rejects_damage(decode_error_fields, e);

  // Pre-9.6 servers send no 'V'; 'V' wins even when it comes after 'S'.
  const Msg old = Msg('N')
                      .u8('S')
                      .str("NOTICE")
                      .u8('C')
                      .str("00000")
                      .u8('M')
                      .str("hi")
                      .u8('D')
                      .str("details")
                      .u8(0);
  Decoding o(decode_error_fields, old);
  REQUIRE(o.result.ok());
  CHECK(o.result.value.severity == "NOTICE");
  CHECK(o.result.value.detail == "details");
  Decoding v_first(decode_error_fields, Msg('E').u8('V').str("FATAL").u8('S').str("FATAL_L").u8(0));
  CHECK(v_first.result.value.severity == "FATAL");
  CHECK(Decoding(decode_error_fields, Msg('E').u8(0)).result.ok());
  CHECK(Decoding(decode_error_fields, Msg('E').u8('M').raw("no nul")).result.error ==
        DecodeError::unterminated);
}

TEST_CASE("be: ErrorResponse cut by the framer still gives its leading fields") {
  const Msg full = Msg('E').u8('S').str("ERROR").u8('C').str("22P02").u8('M').str(
      "invalid input syntax for type integer: \"xxxxxxxxxxxxxxxxxxxx\"").u8(0);
  const auto& body = full.body();
  const std::string text(body.begin(), body.end());
  for (std::size_t keep = 0; keep <= body.size(); ++keep) {
    CAPTURE(keep);
    HeapBody cut(body, keep);
    const Frame f{'E', static_cast<std::uint32_t>(body.size() + 4), cut.bytes()};
    const auto d = decode_error_fields_prefix(f);
    REQUIRE(d.ok());
    if (keep >= 15) CHECK(d.value.sqlstate == "22P02");
    if (keep >= 16) CHECK(text.find(d.value.message) != std::string::npos);
    CHECK(d.value.message.size() <= keep);
  }
}

TEST_CASE("be: ReadyForQuery") {
  for (char s : {'I', 'T', 'E'}) {
    Decoding d(decode_ready_for_query, Msg('Z').u8(s));
    REQUIRE(d.result.ok());
    CHECK(d.result.value.status == s);
  }
  check_rejects_damage(decode_ready_for_query, Msg('Z').u8('T'));
  CHECK(Decoding(decode_ready_for_query, Msg('Z').u8('X')).result.error ==
        DecodeError::invalid_value);
}

TEST_CASE("be: CopyIn/Out/Both responses") {
  for (char type : {'G', 'H', 'W'}) {
    const Msg c = Msg(type).u8(1).i16(3).i16(1).i16(1).i16(1);
    Decoding d(decode_copy_response, c);
    REQUIRE(d.result.ok());
    CHECK(d.result.value.format == 1);
    CHECK(d.result.value.column_count == 3);
    check_rejects_damage(decode_copy_response, c);
  }
  CHECK(Decoding(decode_copy_response, Msg('G').u8(2).i16(0)).result.error ==
        DecodeError::invalid_value);
  CHECK(Decoding(decode_copy_response, Msg('G').u8(0).i16(500).i16(0)).result.error ==
        DecodeError::truncated);
}

TEST_CASE("be: BackendKeyData, 3.0 and 3.2") {
  const Msg k = Msg('K').i32(4242).i32(0x1badcafe);
  Decoding d(decode_backend_key_data, k);
  REQUIRE(d.result.ok());
  CHECK(d.result.value.pid == 4242);
  CHECK(d.result.value.key == 0x1badcafe);
  CHECK(d.result.value.secret.size() == 4);
  // A longer secret is legal from protocol 3.2 on, so an extra byte is not trailing.
  check_rejects_damage(decode_backend_key_data, k, true, false);
  // Protocol 3.2: a 32-byte secret.
  Decoding d32(decode_backend_key_data, Msg('K').i32(7).raw(std::string(32, '\x11')));
  REQUIRE(d32.result.ok());
  CHECK(str(d32.result.value.secret) == std::string(32, '\x11'));
  CHECK(d32.result.value.key == 0x11111111);
  CHECK(
      Decoding(decode_backend_key_data, Msg('K').i32(7).raw(std::string(257, 'k'))).result.error ==
      DecodeError::invalid_value);
}

TEST_CASE("be: ParameterStatus") {
  const Msg s = Msg('S').str("application_name").str("PowerBI");
  Decoding d(decode_parameter_status, s);
  REQUIRE(d.result.ok());
  CHECK(d.result.value.name == "application_name");
  CHECK(d.result.value.value == "PowerBI");
  check_rejects_damage(decode_parameter_status, s);
}

TEST_CASE("be: Authentication requests") {
  const Msg sasl = Msg('R').i32(10).str("SCRAM-SHA-256-PLUS").str("SCRAM-SHA-256").u8(0);
  Decoding d(decode_authentication, sasl);
  REQUIRE(d.result.ok());
  CHECK(d.result.value.code == 10);
  std::vector<std::string> mechs;
  d.result.value.for_each_mechanism([&](std::string_view m) { mechs.emplace_back(m); });
  CHECK(mechs == std::vector<std::string>{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"});
  check_rejects_damage(decode_authentication, sasl);

  const Msg ok = Msg('R').i32(0);
  CHECK(Decoding(decode_authentication, ok).result.value.code == 0);
  check_rejects_damage(decode_authentication, ok);
  check_rejects_damage(decode_authentication, Msg('R').i32(3));

  const Msg md5 = Msg('R').i32(5).raw("salt");
  Decoding m(decode_authentication, md5);
  REQUIRE(m.result.ok());
  CHECK(str(m.result.value.data) == "salt");
  check_rejects_damage(decode_authentication, md5);

  Decoding cont(decode_authentication, Msg('R').i32(11).raw("r=abc,s=xyz,i=4096"));
  REQUIRE(cont.result.ok());
  CHECK(str(cont.result.value.data) == "r=abc,s=xyz,i=4096");
  Decoding fin(decode_authentication, Msg('R').i32(12).raw("v=sig"));
  CHECK(str(fin.result.value.data) == "v=sig");

  CHECK(Decoding(decode_authentication, Msg('R').i32(99)).result.error ==
        DecodeError::invalid_value);
  CHECK(Decoding(decode_authentication, Msg('R').i32(10).str("SCRAM-SHA-256")).result.error ==
        DecodeError::unterminated);
  CHECK(Decoding(decode_authentication, Msg('R').i32(10).u8(0)).result.ok());
}

TEST_CASE("be: type names and known types") {
  const std::string types = "123tTnDCIsEZNGHWdcKSRAVv";
  for (char c : types) {
    CAPTURE(c);
    CHECK(is_known_type(c));
    CHECK(type_name(c) != "unknown");
  }
  CHECK(type_name('1') == "parse_complete");
  CHECK(type_name('D') == "data_row");
  CHECK(type_name('C') == "command_complete");
  CHECK(type_name('Z') == "ready_for_query");
  CHECK(type_name('E') == "error_response");
  for (char c : {'Q', 'P', 'B', 'X', '\0'}) CHECK_FALSE(is_known_type(c));
}

TEST_CASE("be: every message of the real sessions decodes") {
  int decoded = 0;
  for (const ByteVec& s :
       {psql_backend(), npgsql_backend(), pgjdbc_backend(), copy_backend(), big_backend()}) {
    for (std::size_t pos = 0; pos < s.size();) {
      const std::uint32_t len = (std::uint32_t{s[pos + 1]} << 24) |
                                (std::uint32_t{s[pos + 2]} << 16) |
                                (std::uint32_t{s[pos + 3]} << 8) | s[pos + 4];
      const Frame f{static_cast<char>(s[pos]), len, Bytes(s.data() + pos + 5, len - 4)};
      CAPTURE(f.type);
      CHECK(is_known_type(f.type));
      DecodeError e = DecodeError::none;
      switch (f.type) {
        case kParameterDescription:
          e = decode_parameter_description(f).error;
          break;
        case kRowDescription:
          e = decode_row_description(f).error;
          break;
        case kDataRow:
          e = decode_data_row(f).error;
          break;
        case kCommandComplete:
          e = decode_command_complete(f).error;
          break;
        case kErrorResponse:
        case kNoticeResponse:
          e = decode_error_fields(f).error;
          break;
        case kReadyForQuery:
          e = decode_ready_for_query(f).error;
          break;
        case kCopyInResponse:
        case kCopyOutResponse:
          e = decode_copy_response(f).error;
          break;
        case kBackendKeyData:
          e = decode_backend_key_data(f).error;
          break;
        case kParameterStatus:
          e = decode_parameter_status(f).error;
          break;
        case kAuthentication:
          e = decode_authentication(f).error;
          break;
        default:
          break;
      }
      CHECK(e == DecodeError::none);
      ++decoded;
      pos += 1 + len;
    }
  }
  CHECK(decoded == 10 + 16 + 18 + 15 + 4);
}

}  // namespace
}  // namespace pglc::pgwire::test

namespace pglc::pgwire::test {
namespace {

TEST_CASE("be: empty bodies are rejected without touching memory") {
  const Frame empty{'C', 4, {}};
  CHECK(be::decode_command_complete(empty).error == DecodeError::unterminated);
  CHECK(be::decode_parameter_status(empty).error == DecodeError::unterminated);
  CHECK(be::decode_error_fields(empty).error == DecodeError::truncated);
  CHECK(be::decode_data_row(empty).error == DecodeError::truncated);
  CHECK(be::decode_row_description(empty).error == DecodeError::truncated);
  CHECK(be::decode_parameter_description(empty).error == DecodeError::truncated);
  CHECK(be::decode_ready_for_query(empty).error == DecodeError::truncated);
  CHECK(be::decode_copy_response(empty).error == DecodeError::truncated);
  CHECK(be::decode_backend_key_data(empty).error == DecodeError::truncated);
  CHECK(be::decode_authentication(empty).error == DecodeError::truncated);
}

}  // namespace
}  // namespace pglc::pgwire::test
