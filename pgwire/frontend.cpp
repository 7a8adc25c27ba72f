#include "pgwire/frontend.hpp"

#include <cstring>

#include "pgwire/reader.hpp"

namespace pglc::pgwire::fe {

using detail::failed;
using detail::finish;
using detail::Reader;

std::uint32_t Parse::param_type(std::size_t i) const {
  if (i >= param_type_count || (i + 1) * 4 > param_types.size()) return 0;
  return detail::be32_at(param_types, i * 4);
}

std::int16_t Bind::param_format(std::size_t i) const {
  std::size_t at = 0;
  if (param_format_count == 0) return 0;
  if (param_format_count != 1) at = i;
  if (at >= param_format_count || (at + 1) * 2 > param_formats.size()) return 0;
  return static_cast<std::int16_t>((param_formats[at * 2] << 8) | param_formats[at * 2 + 1]);
}

Decoded<Query> decode_query(const Frame& f) {
  if (!f.complete()) return failed<Query>(DecodeError::incomplete_frame);
  Reader r(f.body);
  Query q;
  q.sql = r.cstring();
  return finish(q, r);
}

Decoded<Parse> decode_parse(const Frame& f) {
  if (!f.complete()) return failed<Parse>(DecodeError::incomplete_frame);
  Reader r(f.body);
  Parse p;
  p.name = r.cstring();
  p.sql = r.cstring();
  p.param_type_count = r.u16();
  p.param_types = r.array(p.param_type_count, 4);
  return finish(p, r);
}

Decoded<Bind> decode_bind(const Frame& f) {
  if (!f.complete()) return failed<Bind>(DecodeError::incomplete_frame);
  Reader r(f.body);
  Bind b;
  b.portal = r.cstring();
  b.statement = r.cstring();
  b.param_format_count = r.u16();
  b.param_formats = r.array(b.param_format_count, 2);
  b.param_count = r.u16();
  // Every parameter is checked here so that Bind::for_each_param may trust the layout.
  const std::size_t params_start = f.body.size() - r.remaining();
  for (std::size_t i = 0; i < b.param_count && r.ok(); ++i) {
    const std::int32_t len = r.i32();
    if (len < -1) r.fail(DecodeError::invalid_value);
    if (len > 0) r.bytes(static_cast<std::size_t>(len));
  }
  if (r.ok()) b.params = f.body.subspan(params_start, f.body.size() - r.remaining() - params_start);
  b.result_format_count = r.u16();
  b.result_formats = r.array(b.result_format_count, 2);
  return finish(b, r);
}

namespace {
// Describe and Close share the layout: target byte ('S' or 'P'), name.
template <class T>
Decoded<T> decode_target_name(const Frame& f) {
  if (!f.complete()) return failed<T>(DecodeError::incomplete_frame);
  Reader r(f.body);
  T t;
  t.target = static_cast<char>(r.u8());
  if (r.ok() && t.target != 'S' && t.target != 'P') return failed<T>(DecodeError::invalid_value);
  t.name = r.cstring();
  return finish(t, r);
}
}  // namespace

Decoded<Describe> decode_describe(const Frame& f) {
  return decode_target_name<Describe>(f);
}
Decoded<Close> decode_close(const Frame& f) {
  return decode_target_name<Close>(f);
}

Decoded<Execute> decode_execute(const Frame& f) {
  if (!f.complete()) return failed<Execute>(DecodeError::incomplete_frame);
  Reader r(f.body);
  Execute e;
  e.portal = r.cstring();
  e.max_rows = r.i32();
  return finish(e, r);
}

Decoded<FunctionCall> decode_function_call(const Frame& f) {
  if (!f.complete()) return failed<FunctionCall>(DecodeError::incomplete_frame);
  Reader r(f.body);
  FunctionCall c;
  c.function_oid = r.u32();
  r.array(r.u16(), 2);  // argument format codes
  const std::uint16_t nargs = r.u16();
  for (std::size_t i = 0; i < nargs && r.ok(); ++i) {
    const std::int32_t len = r.i32();
    if (len < -1) r.fail(DecodeError::invalid_value);
    if (len > 0) r.bytes(static_cast<std::size_t>(len));
  }
  r.u16();  // result format code
  return finish(c, r);
}

Decoded<CopyFail> decode_copy_fail(const Frame& f) {
  if (!f.complete()) return failed<CopyFail>(DecodeError::incomplete_frame);
  Reader r(f.body);
  CopyFail c;
  c.message = r.cstring();
  return finish(c, r);
}

namespace {
// The bytes of the prefix up to the first NUL, or all of it.
std::string_view text_until_nul(Bytes b) {
  if (b.empty()) return {};  // data() may be null
  const void* nul = std::memchr(b.data(), 0, b.size());
  const std::size_t len =
      nul ? static_cast<std::size_t>(static_cast<const std::uint8_t*>(nul) - b.data()) : b.size();
  return {reinterpret_cast<const char*>(b.data()), len};
}
}  // namespace

std::pair<std::string_view, std::string_view> leading_cstrings(const Frame& f) {
  const std::string_view body(reinterpret_cast<const char*>(f.body.data()), f.body.size());
  const std::size_t a = body.find('\0');
  if (a == std::string_view::npos) return {body, {}};
  const std::string_view rest = body.substr(a + 1);
  return {body.substr(0, a), rest.substr(0, rest.find('\0'))};
}

Decoded<Query> decode_query_prefix(const Frame& f) {
  if (f.complete()) return decode_query(f);
  Decoded<Query> out;
  out.value.sql = text_until_nul(f.body);
  return out;
}

Decoded<Parse> decode_parse_prefix(const Frame& f) {
  if (f.complete()) return decode_parse(f);
  Reader r(f.body);
  Parse p;
  p.name = r.cstring();
  if (!r.ok()) return failed<Parse>(DecodeError::incomplete_frame);
  p.sql = text_until_nul(f.body.subspan(f.body.size() - r.remaining()));
  Decoded<Parse> out;
  out.value = p;
  return out;
}

Decoded<Bind> decode_bind_prefix(const Frame& f) {
  if (f.complete()) return decode_bind(f);
  Reader r(f.body);
  Bind b;
  b.portal = r.cstring();
  b.statement = r.cstring();
  if (!r.ok()) return failed<Bind>(DecodeError::incomplete_frame);
  Decoded<Bind> out;
  out.value = b;
  return out;
}

bool is_known_type(char type) {
  switch (type) {
    case kQuery:
    case kParse:
    case kBind:
    case kDescribe:
    case kExecute:
    case kClose:
    case kSync:
    case kFlush:
    case kFunctionCall:
    case kCopyData:
    case kCopyDone:
    case kCopyFail:
    case kTerminate:
    case kPassword:
      return true;
    default:
      return false;
  }
}

std::string_view type_name(char type) {
  switch (type) {
    case kQuery:
      return "query";
    case kParse:
      return "parse";
    case kBind:
      return "bind";
    case kDescribe:
      return "describe";
    case kExecute:
      return "execute";
    case kClose:
      return "close";
    case kSync:
      return "sync";
    case kFlush:
      return "flush";
    case kFunctionCall:
      return "function_call";
    case kCopyData:
      return "copy_data";
    case kCopyDone:
      return "copy_done";
    case kCopyFail:
      return "copy_fail";
    case kTerminate:
      return "terminate";
    case kPassword:
      return "password";
    default:
      return "unknown";
  }
}

}  // namespace pglc::pgwire::fe
