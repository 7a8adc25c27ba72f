#include "pgwire/frontend.hpp"

#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include "decoder_checks.hpp"
#include "sessions.hpp"

namespace pglc::pgwire::test {
namespace {

using namespace fe;

std::string str(Bytes b) {
  return std::string(b.begin(), b.end());
}

TEST_CASE("fe: Query") {
  const Msg q = Msg('Q').str("SELECT 1;");
  Decoding d(decode_query, q);
  REQUIRE(d.result.ok());
  CHECK(d.result.value.sql == "SELECT 1;");
  check_rejects_damage(decode_query, q);
  // An empty query string is legal (the server answers EmptyQueryResponse).
  CHECK(Decoding(decode_query, Msg('Q').str("")).result.value.sql.empty());
}

TEST_CASE("fe: Parse, named and unnamed, with and without parameter types") {
  const Msg named = Msg('P').str("S_1").str("INSERT INTO t VALUES ($1, $2)").i16(2).i32(23).i32(25);
  Decoding d(decode_parse, named);
  REQUIRE(d.result.ok());
  const Parse& p = d.result.value;
  CHECK(p.name == "S_1");
  CHECK(p.sql == "INSERT INTO t VALUES ($1, $2)");
  CHECK(p.param_type_count == 2);
  CHECK(p.param_type(0) == 23);
  CHECK(p.param_type(1) == 25);
  CHECK(p.param_type(2) == 0);  // out of range: no read
  check_rejects_damage(decode_parse, named);

  const Msg unnamed = Msg('P').str("").str("SELECT 1").i16(0);
  Decoding u(decode_parse, unnamed);
  REQUIRE(u.result.ok());
  CHECK(u.result.value.name.empty());
  CHECK(u.result.value.param_type_count == 0);
  check_rejects_damage(decode_parse, unnamed);
}

TEST_CASE("fe: Parse with a lying parameter count") {
  for (int count : {1, 3, 1000, 65535}) {
    CAPTURE(count);
    Decoding d(decode_parse, Msg('P').str("").str("SELECT $1").i16(count).i32(23).i32(25));
    CHECK(d.result.error == (count == 1 ? DecodeError::trailing_bytes : DecodeError::truncated));
  }
}

TEST_CASE("fe: Bind as Npgsql sends it: binary parameter and results") {
  const Msg npgsql =
      Msg('B').str("").str("").i16(1).i16(1).i16(1).param(int4_binary(40)).i16(1).i16(1);
  Decoding d(decode_bind, npgsql);
  REQUIRE(d.result.ok());
  const Bind& b = d.result.value;
  CHECK(b.portal.empty());
  CHECK(b.statement.empty());
  CHECK(b.param_format_count == 1);
  CHECK(b.param_count == 1);
  CHECK(b.param_format(0) == 1);
  CHECK(b.param_format(5) == 1);  // one format code applies to all
  CHECK(b.result_format_count == 1);
  CHECK(str(b.result_formats) == std::string("\0\1", 2));
  std::vector<std::optional<std::string>> values;
  b.for_each_param([&](std::size_t i, std::optional<Bytes> v) {
    CHECK(i == values.size());
    values.push_back(v ? std::optional<std::string>(str(*v)) : std::nullopt);
  });
  CHECK(values == std::vector<std::optional<std::string>>{int4_binary(40)});
  check_rejects_damage(decode_bind, npgsql);
}

TEST_CASE("fe: Bind as pgjdbc sends it: named statement, text and NULL parameters") {
  const Msg jdbc = Msg('B')
                       .str("C_3")
                       .str("S_1")
                       .i16(3)
                       .i16(0)
                       .i16(1)
                       .i16(0)
                       .i16(3)
                       .param("42")
                       .null_param()
                       .param("")
                       .i16(0);
  Decoding d(decode_bind, jdbc);
  REQUIRE(d.result.ok());
  const Bind& b = d.result.value;
  CHECK(b.portal == "C_3");
  CHECK(b.statement == "S_1");
  CHECK(b.param_count == 3);
  CHECK(b.param_format(0) == 0);
  CHECK(b.param_format(1) == 1);
  CHECK(b.param_format(2) == 0);
  CHECK(b.param_format(3) == 0);  // beyond the list: no read
  CHECK(b.result_format_count == 0);
  std::vector<std::optional<std::string>> values;
  b.for_each_param([&](std::size_t, std::optional<Bytes> v) {
    values.push_back(v ? std::optional<std::string>(str(*v)) : std::nullopt);
  });
  CHECK(values == std::vector<std::optional<std::string>>{"42", std::nullopt, ""});
  check_rejects_damage(decode_bind, jdbc);

  // No format codes: all text.
  Decoding none(decode_bind, Msg('B').str("").str("").i16(0).i16(0).i16(0));
  REQUIRE(none.result.ok());
  CHECK(none.result.value.param_format(0) == 0);
  CHECK(none.result.value.param_count == 0);
}

TEST_CASE("fe: Bind with lying counts and lengths") {
  // Parameter count far beyond the body.
  CHECK(Decoding(decode_bind, Msg('B').str("").str("").i16(0).i16(65535).param("1").i16(0))
            .result.error == DecodeError::truncated);
  // A parameter length larger than what remains, and INT32_MAX.
  CHECK(Decoding(decode_bind, Msg('B').str("").str("").i16(0).i16(1).i32(100).raw("abc").i16(0))
            .result.error == DecodeError::truncated);
  CHECK(Decoding(decode_bind,
                 Msg('B').str("").str("").i16(0).i16(1).i32(0x7fffffff).raw("abc").i16(0))
            .result.error == DecodeError::truncated);
  // Negative lengths other than -1 (NULL).
  CHECK(Decoding(decode_bind, Msg('B').str("").str("").i16(0).i16(1).i32(-2).i16(0)).result.error ==
        DecodeError::invalid_value);
  CHECK(Decoding(decode_bind, Msg('B').str("").str("").i16(0).i16(1).i32(INT32_MIN).i16(0))
            .result.error == DecodeError::invalid_value);
  // Format-code and result-format counts beyond the body.
  CHECK(Decoding(decode_bind, Msg('B').str("").str("").i16(40000).i16(0).i16(0)).result.error ==
        DecodeError::truncated);
  CHECK(Decoding(decode_bind, Msg('B').str("").str("").i16(0).i16(0).i16(3).i16(1)).result.error ==
        DecodeError::truncated);
  // Names without NUL.
  CHECK(Decoding(decode_bind, Msg('B').raw("portal")).result.error == DecodeError::unterminated);
}

TEST_CASE("fe: Describe and Close") {
  const Msg ds = Msg('D').u8('S').str("S_1");
  Decoding d(decode_describe, ds);
  REQUIRE(d.result.ok());
  CHECK(d.result.value.target == 'S');
  CHECK(d.result.value.name == "S_1");
  check_rejects_damage(decode_describe, ds);
  Decoding dp(decode_describe, Msg('D').u8('P').str(""));
  REQUIRE(dp.result.ok());
  CHECK(dp.result.value.target == 'P');
  CHECK(Decoding(decode_describe, Msg('D').u8('X').str("a")).result.error ==
        DecodeError::invalid_value);

  const Msg cp = Msg('C').u8('P').str("C_3");
  Decoding c(decode_close, cp);
  REQUIRE(c.result.ok());
  CHECK(c.result.value.target == 'P');
  CHECK(c.result.value.name == "C_3");
  check_rejects_damage(decode_close, cp);
  CHECK(Decoding(decode_close, Msg('C').u8(0).str("")).result.error == DecodeError::invalid_value);
}

TEST_CASE("fe: Execute") {
  const Msg e = Msg('E').str("C_3").i32(50);
  Decoding d(decode_execute, e);
  REQUIRE(d.result.ok());
  CHECK(d.result.value.portal == "C_3");
  CHECK(d.result.value.max_rows == 50);
  check_rejects_damage(decode_execute, e);
  CHECK(Decoding(decode_execute, Msg('E').str("").i32(0)).result.value.max_rows == 0);
}

TEST_CASE("fe: FunctionCall") {
  // lo_open(oid 1234, INV_READ) as libpq's fastpath sends it.
  const Msg f = Msg('F')
                    .i32(952)
                    .i16(1)
                    .i16(1)
                    .i16(2)
                    .param(int4_binary(1234))
                    .param(int4_binary(0x40000))
                    .i16(1);
  Decoding d(decode_function_call, f);
  REQUIRE(d.result.ok());
  CHECK(d.result.value.function_oid == 952);
  check_rejects_damage(decode_function_call, f);
  CHECK(Decoding(decode_function_call, Msg('F').i32(952).i16(0).i16(9).null_param().i16(0))
            .result.error == DecodeError::truncated);
  CHECK(
      Decoding(decode_function_call, Msg('F').i32(952).i16(0).i16(1).i32(-7).i16(0)).result.error ==
      DecodeError::invalid_value);
}

TEST_CASE("fe: CopyFail") {
  const Msg f = Msg('f').str("aborted by user");
  Decoding d(decode_copy_fail, f);
  REQUIRE(d.result.ok());
  CHECK(d.result.value.message == "aborted by user");
  check_rejects_damage(decode_copy_fail, f);
}

TEST_CASE("fe: prefix decoders give names and SQL of messages the framer cut") {
  const std::string sql = "SELECT '" + std::string(5000, 'x') + "'";
  const ByteVec q = Msg('Q').str(sql).body();
  HeapBody q_prefix(q, 100);
  const Frame qf{'Q', static_cast<std::uint32_t>(q.size() + 4), q_prefix.bytes()};
  CHECK(decode_query(qf).error == DecodeError::incomplete_frame);
  auto qp = decode_query_prefix(qf);
  REQUIRE(qp.ok());
  CHECK(qp.value.sql == sql.substr(0, 100));

  const ByteVec p = Msg('P').str("S_9").str(sql).i16(0).body();
  HeapBody p_prefix(p, 50);
  const Frame pf{'P', static_cast<std::uint32_t>(p.size() + 4), p_prefix.bytes()};
  CHECK(decode_parse(pf).error == DecodeError::incomplete_frame);
  auto pp = decode_parse_prefix(pf);
  REQUIRE(pp.ok());
  CHECK(pp.value.name == "S_9");
  CHECK(pp.value.sql == sql.substr(0, 50 - 4));
  // The name itself cut: nothing usable.
  HeapBody tiny(p, 2);
  CHECK(decode_parse_prefix(Frame{'P', pf.length, tiny.bytes()}).error ==
        DecodeError::incomplete_frame);

  const ByteVec b =
      Msg('B').str("").str("S_9").i16(0).i16(1).param(std::string(9000, 'b')).i16(0).body();
  HeapBody b_prefix(b, 64);
  const Frame bf{'B', static_cast<std::uint32_t>(b.size() + 4), b_prefix.bytes()};
  CHECK(decode_bind(bf).error == DecodeError::incomplete_frame);
  auto bp = decode_bind_prefix(bf);
  REQUIRE(bp.ok());
  CHECK(bp.value.portal.empty());
  CHECK(bp.value.statement == "S_9");
  CHECK(bp.value.param_count == 0);
  HeapBody b_tiny(b, 3);
  CHECK(decode_bind_prefix(Frame{'B', bf.length, b_tiny.bytes()}).error ==
        DecodeError::incomplete_frame);

  // Complete frames decode exactly as the strict decoders do.
  const ByteVec whole = Msg('P').str("x").str("SELECT 1").i16(1).i32(23).body();
  const auto full = decode_parse_prefix(frame_of('P', whole));
  REQUIRE(full.ok());
  CHECK(full.value.param_type(0) == 23);
  ByteVec lying = Msg('Q').raw("no nul").body();
  CHECK(decode_query_prefix(frame_of('Q', lying)).error == DecodeError::unterminated);
}

TEST_CASE("fe: type names and known types") {
  const std::string types = "QPBDECSHFdcfXp";
  const std::vector<std::string_view> names = {
      "query", "parse",         "bind",      "describe",  "execute",   "close",     "sync",
      "flush", "function_call", "copy_data", "copy_done", "copy_fail", "terminate", "password"};
  for (std::size_t i = 0; i < types.size(); ++i) {
    CHECK(is_known_type(types[i]));
    CHECK(type_name(types[i]) == names[i]);
  }
  for (char c : {'T', 'Z', '1', 'v', '\0', 'A'}) {
    CHECK_FALSE(is_known_type(c));
    CHECK(type_name(c) == "unknown");
  }
}

TEST_CASE("fe: every message of the real sessions decodes") {
  int decoded = 0;
  for (const ByteVec& s :
       {psql_frontend(), npgsql_frontend(), pgjdbc_frontend(), copy_frontend()}) {
    for (std::size_t pos = 0; pos < s.size();) {
      const std::uint32_t len = (std::uint32_t{s[pos + 1]} << 24) |
                                (std::uint32_t{s[pos + 2]} << 16) |
                                (std::uint32_t{s[pos + 3]} << 8) | s[pos + 4];
      const Frame f{static_cast<char>(s[pos]), len, Bytes(s.data() + pos + 5, len - 4)};
      CHECK(is_known_type(f.type));
      DecodeError e = DecodeError::none;
      switch (f.type) {
        case kQuery:
          e = decode_query(f).error;
          break;
        case kParse:
          e = decode_parse(f).error;
          break;
        case kBind:
          e = decode_bind(f).error;
          break;
        case kDescribe:
          e = decode_describe(f).error;
          break;
        case kExecute:
          e = decode_execute(f).error;
          break;
        case kClose:
          e = decode_close(f).error;
          break;
        case kCopyFail:
          e = decode_copy_fail(f).error;
          break;
        default:
          break;
      }
      CHECK(e == DecodeError::none);
      ++decoded;
      pos += 1 + len;
    }
  }
  CHECK(decoded == 2 + 13 + 15 + 8);
}

}  // namespace

TEST_CASE("leading_cstrings: the names of a message the decoders reject") {
  // A Bind whose parameter section is cut short: decode_bind refuses it, the names stay.
  const ByteVec cut = Msg('B').str("portal_1").str("S_7").i16(1).bytes();
  const ByteVec body(cut.begin() + 5, cut.end());
  const Frame f = frame_of('B', body);
  CHECK_FALSE(fe::decode_bind(f).ok());
  const auto [portal, statement] = fe::leading_cstrings(f);
  CHECK(portal == "portal_1");
  CHECK(statement == "S_7");
  // An unterminated string runs to the end; a missing second one is empty.
  const ByteVec open = {'a', 'b'};
  CHECK(fe::leading_cstrings(frame_of('Q', open)).first == "ab");
  CHECK(fe::leading_cstrings(frame_of('Q', open)).second.empty());
  const ByteVec empty;
  CHECK(fe::leading_cstrings(frame_of('E', empty)).first.empty());
}

TEST_CASE("be32 reads the protocol's big-endian integers") {
  const std::uint8_t b[4] = {0x12, 0x34, 0x56, 0x78};
  CHECK(be32(b) == 0x12345678u);
  const std::uint8_t high[4] = {0xff, 0xff, 0xff, 0xfe};
  CHECK(be32(high) == 0xfffffffeu);
}

}  // namespace pglc::pgwire::test

namespace pglc::pgwire::test {
namespace {

// Found by the fuzzer: an empty body has a null data() pointer (Terminate, Sync).
TEST_CASE("fe: empty bodies are rejected without touching memory") {
  const Frame empty{'Q', 4, {}};
  CHECK(fe::decode_query(empty).error == DecodeError::unterminated);
  CHECK(fe::decode_parse(empty).error == DecodeError::unterminated);
  CHECK(fe::decode_bind(empty).error == DecodeError::unterminated);
  CHECK(fe::decode_describe(empty).error == DecodeError::truncated);
  CHECK(fe::decode_close(empty).error == DecodeError::truncated);
  CHECK(fe::decode_execute(empty).error == DecodeError::unterminated);
  CHECK(fe::decode_function_call(empty).error == DecodeError::truncated);
  CHECK(fe::decode_copy_fail(empty).error == DecodeError::unterminated);
  const Frame cut{'Q', 40, {}};
  CHECK(fe::decode_query_prefix(cut).ok());
  CHECK(fe::decode_query_prefix(cut).value.sql.empty());
  CHECK(fe::decode_parse_prefix(cut).error == DecodeError::incomplete_frame);
  CHECK(fe::decode_bind_prefix(cut).error == DecodeError::incomplete_frame);
}

}  // namespace

}  // namespace pglc::pgwire::test
