#include "pgwire/backend.hpp"

#include <cstring>

#include <limits>

#include "pgwire/reader.hpp"

namespace pglc::pgwire::be {

using detail::failed;
using detail::finish;
using detail::Reader;

std::uint32_t ParameterDescription::oid(std::size_t i) const {
  if (i >= count || (i + 1) * 4 > oids.size()) return 0;
  return detail::be32_at(oids, i * 4);
}

std::int64_t CommandComplete::rows() const {
  const std::size_t first_space = tag.find(' ');
  if (first_space == std::string_view::npos) return -1;
  const std::string_view verb = tag.substr(0, first_space);
  const std::string_view args = tag.substr(first_space + 1);
  // INSERT carries "oid rows"; the others carry "rows" alone.
  const bool insert = verb == "INSERT";
  if (!insert && verb != "UPDATE" && verb != "DELETE" && verb != "SELECT" && verb != "MOVE" &&
      verb != "FETCH" && verb != "COPY" && verb != "MERGE")
    return -1;
  const std::size_t last_space = args.rfind(' ');
  if (insert != (last_space != std::string_view::npos)) return -1;
  const std::string_view number = insert ? args.substr(last_space + 1) : args;
  if (number.empty()) return -1;
  std::int64_t n = 0;
  for (char c : number) {
    if (c < '0' || c > '9') return -1;
    if (n > (std::numeric_limits<std::int64_t>::max() - (c - '0')) / 10) return -1;
    n = n * 10 + (c - '0');
  }
  return n;
}

Decoded<ParameterDescription> decode_parameter_description(const Frame& f) {
  if (!f.complete()) return failed<ParameterDescription>(DecodeError::incomplete_frame);
  Reader r(f.body);
  ParameterDescription p;
  p.count = r.u16();
  p.oids = r.array(p.count, 4);
  return finish(p, r);
}

Decoded<RowDescription> decode_row_description(const Frame& f) {
  if (!f.complete()) return failed<RowDescription>(DecodeError::incomplete_frame);
  Reader r(f.body);
  RowDescription d;
  d.field_count = r.u16();
  for (std::size_t i = 0; i < d.field_count && r.ok(); ++i) {
    r.cstring();  // name
    // table oid, column number, type oid, type size, type modifier, format code
    r.bytes(4 + 2 + 4 + 2 + 4 + 2);
  }
  return finish(d, r);
}

Decoded<DataRow> decode_data_row(const Frame& f) {
  DataRow row;
  if (!f.complete()) {
    // The framer keeps no body of a DataRow that straddles reads; a retained prefix
    // still carries the column count.
    if (f.body.size() < 2 || f.body_length() < 2)
      return failed<DataRow>(DecodeError::incomplete_frame);
    row.column_count = static_cast<std::uint16_t>((f.body[0] << 8) | f.body[1]);
    return {row, DecodeError::none};
  }
  Reader r(f.body);
  row.column_count = r.u16();
  // No copy and no allocation: one bounds check per column.
  for (std::size_t i = 0; i < row.column_count && r.ok(); ++i) {
    const std::int32_t len = r.i32();
    if (len < -1) r.fail(DecodeError::invalid_value);
    if (len > 0) r.bytes(static_cast<std::size_t>(len));
  }
  return finish(row, r);
}

Decoded<CommandComplete> decode_command_complete(const Frame& f) {
  if (!f.complete()) return failed<CommandComplete>(DecodeError::incomplete_frame);
  Reader r(f.body);
  CommandComplete c;
  c.tag = r.cstring();
  return finish(c, r);
}

namespace {

// `prefix`: the body may be cut (the framer keeps at most its retain limit of a message):
// a last field without its terminator is taken as far as it goes.
Decoded<ErrorFields> error_fields(const Frame& f, bool prefix) {
  if (!prefix && !f.complete()) return failed<ErrorFields>(DecodeError::incomplete_frame);
  Reader r(f.body);
  ErrorFields e;
  std::string_view localized_severity;
  bool have_v = false;
  for (;;) {
    if (prefix && r.remaining() == 0) break;
    const char code = static_cast<char>(r.u8());
    if (!r.ok() || code == 0) break;
    std::string_view value;
    const Bytes rest = f.body.subspan(f.body.size() - r.remaining());
    if (prefix && (rest.empty() || std::memchr(rest.data(), 0, rest.size()) == nullptr)) {
      const Bytes cut = r.bytes(rest.size());
      value = std::string_view(reinterpret_cast<const char*>(cut.data()), cut.size());
    } else {
      value = r.cstring();
    }
    switch (code) {
      case 'S':
        localized_severity = value;
        break;
      case 'V':
        e.severity = value;
        have_v = true;
        break;
      case 'C':
        e.sqlstate = value;
        break;
      case 'M':
        e.message = value;
        break;
      case 'D':
        e.detail = value;
        break;
      default:
        break;  // hint, position, where, schema, ... are not recorded
    }
  }
  if (!have_v) e.severity = localized_severity;
  if (prefix) return Decoded<ErrorFields>{e, DecodeError::none};
  return finish(e, r);
}

}  // namespace

Decoded<ErrorFields> decode_error_fields(const Frame& f) {
  return error_fields(f, false);
}

Decoded<ErrorFields> decode_error_fields_prefix(const Frame& f) {
  return error_fields(f, true);
}

Decoded<ReadyForQuery> decode_ready_for_query(const Frame& f) {
  if (!f.complete()) return failed<ReadyForQuery>(DecodeError::incomplete_frame);
  Reader r(f.body);
  ReadyForQuery z;
  z.status = static_cast<char>(r.u8());
  if (r.ok() && z.status != 'I' && z.status != 'T' && z.status != 'E')
    return failed<ReadyForQuery>(DecodeError::invalid_value);
  return finish(z, r);
}

Decoded<CopyResponse> decode_copy_response(const Frame& f) {
  if (!f.complete()) return failed<CopyResponse>(DecodeError::incomplete_frame);
  Reader r(f.body);
  CopyResponse c;
  c.format = static_cast<std::int8_t>(r.u8());
  if (r.ok() && c.format != 0 && c.format != 1)
    return failed<CopyResponse>(DecodeError::invalid_value);
  c.column_count = r.u16();
  r.array(c.column_count, 2);
  return finish(c, r);
}

Decoded<BackendKeyData> decode_backend_key_data(const Frame& f) {
  if (!f.complete()) return failed<BackendKeyData>(DecodeError::incomplete_frame);
  Reader r(f.body);
  BackendKeyData k;
  k.pid = r.i32();
  if (!r.ok() || r.remaining() < 4) return failed<BackendKeyData>(DecodeError::truncated);
  if (r.remaining() > 256) return failed<BackendKeyData>(DecodeError::invalid_value);
  k.secret = r.bytes(r.remaining());
  k.key = static_cast<std::int32_t>(detail::be32_at(k.secret, 0));
  return finish(k, r);
}

Decoded<ParameterStatus> decode_parameter_status(const Frame& f) {
  if (!f.complete()) return failed<ParameterStatus>(DecodeError::incomplete_frame);
  Reader r(f.body);
  ParameterStatus p;
  p.name = r.cstring();
  p.value = r.cstring();
  return finish(p, r);
}

Decoded<Authentication> decode_authentication(const Frame& f) {
  if (!f.complete()) return failed<Authentication>(DecodeError::incomplete_frame);
  Reader r(f.body);
  Authentication a;
  a.code = r.i32();
  if (!r.ok()) return failed<Authentication>(r.error());
  switch (a.code) {
    case 0:  // ok
    case 2:  // KerberosV5
    case 3:  // cleartext password
    case 6:  // SCM credentials
    case 7:  // GSS
    case 9:  // SSPI
      break;
    case 5:  // MD5: salt
      a.data = r.bytes(4);
      break;
    case 8:   // GSS continue
    case 11:  // SASL continue
    case 12:  // SASL final
      a.data = r.bytes(r.remaining());
      break;
    case 10: {  // SASL: names, each NUL-terminated, then an empty name
      const std::size_t start = f.body.size() - r.remaining();
      while (r.ok() && !r.cstring().empty()) {
      }
      if (r.ok())
        a.sasl_mechanisms = f.body.subspan(start, f.body.size() - r.remaining() - start - 1);
      break;
    }
    default:
      return failed<Authentication>(DecodeError::invalid_value);
  }
  return finish(a, r);
}

bool is_known_type(char type) {
  return type_name(type) != "unknown";
}

std::string_view type_name(char type) {
  switch (type) {
    case kParseComplete:
      return "parse_complete";
    case kBindComplete:
      return "bind_complete";
    case kCloseComplete:
      return "close_complete";
    case kParameterDescription:
      return "parameter_description";
    case kRowDescription:
      return "row_description";
    case kNoData:
      return "no_data";
    case kDataRow:
      return "data_row";
    case kCommandComplete:
      return "command_complete";
    case kEmptyQueryResponse:
      return "empty_query_response";
    case kPortalSuspended:
      return "portal_suspended";
    case kErrorResponse:
      return "error_response";
    case kNoticeResponse:
      return "notice_response";
    case kReadyForQuery:
      return "ready_for_query";
    case kCopyInResponse:
      return "copy_in_response";
    case kCopyOutResponse:
      return "copy_out_response";
    case kCopyBothResponse:
      return "copy_both_response";
    case kCopyData:
      return "copy_data";
    case kCopyDone:
      return "copy_done";
    case kBackendKeyData:
      return "backend_key_data";
    case kParameterStatus:
      return "parameter_status";
    case kAuthentication:
      return "authentication";
    case kNotificationResponse:
      return "notification_response";
    case kFunctionCallResponse:
      return "function_call_response";
    case kNegotiateProtocolVersion:
      return "negotiate_protocol_version";
    default:
      return "unknown";
  }
}

}  // namespace pglc::pgwire::be
