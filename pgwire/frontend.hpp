// Typed, zero-copy views of frontend (client → server) message bodies.
// Every string_view/span points into the Frame's body: valid only as long as it is.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>

#include "pgwire/decode.hpp"
#include "pgwire/frame.hpp"

namespace pglc::pgwire::fe {

// Type bytes of the normal phase.
inline constexpr char kQuery = 'Q', kParse = 'P', kBind = 'B', kDescribe = 'D', kExecute = 'E',
                      kClose = 'C', kSync = 'S', kFlush = 'H', kFunctionCall = 'F', kCopyData = 'd',
                      kCopyDone = 'c', kCopyFail = 'f', kTerminate = 'X',
                      kPassword = 'p';  // also SASLInitialResponse / SASLResponse / GSSResponse

struct Query {
  std::string_view sql;
};

struct Parse {
  std::string_view name;  // "" = unnamed statement
  std::string_view sql;
  std::uint16_t param_type_count = 0;
  Bytes param_types;  // param_type_count big-endian int32 OIDs
  std::uint32_t param_type(std::size_t i) const;
};

struct Bind {
  std::string_view portal;
  std::string_view statement;
  std::uint16_t param_format_count = 0;
  Bytes param_formats;  // int16 each
  std::uint16_t param_count = 0;
  Bytes params;  // param_count × (int32 length, -1 = NULL; bytes)
  std::uint16_t result_format_count = 0;
  Bytes result_formats;
  // Format code of parameter i per the protocol's 0/1/N rule.
  std::int16_t param_format(std::size_t i) const;
  // Calls f(index, std::optional<Bytes> value) for each parameter; nullopt = NULL.
  template <class F>
  void for_each_param(F&& f) const;
};

struct Describe {
  char target = 'S';  // 'S' statement, 'P' portal
  std::string_view name;
};

struct Execute {
  std::string_view portal;
  std::int32_t max_rows = 0;  // 0 = no limit
};

struct Close {
  char target = 'S';
  std::string_view name;
};

struct FunctionCall {
  std::uint32_t function_oid = 0;
};

struct CopyFail {
  std::string_view message;
};

Decoded<Query> decode_query(const Frame& f);
Decoded<Parse> decode_parse(const Frame& f);
Decoded<Bind> decode_bind(const Frame& f);
Decoded<Describe> decode_describe(const Frame& f);
Decoded<Execute> decode_execute(const Frame& f);
Decoded<Close> decode_close(const Frame& f);
Decoded<FunctionCall> decode_function_call(const Frame& f);
Decoded<CopyFail> decode_copy_fail(const Frame& f);

// For messages larger than the framer's retain limit (frame.complete() is false) the
// decoders above return incomplete_frame. These variants still give the tracker what
// sits at the front of the body: a complete frame decodes exactly as above; an
// incomplete one yields the names (which must be whole inside the prefix, else
// incomplete_frame) and the SQL text cut at the end of the prefix; counts stay 0.
Decoded<Query> decode_query_prefix(const Frame& f);
Decoded<Parse> decode_parse_prefix(const Frame& f);
Decoded<Bind> decode_bind_prefix(const Frame& f);

// The two leading C strings of a body, whatever follows them (a message the decoders
// above reject, a body the framer did not retain): Parse's name and SQL, Bind's portal
// and statement, Execute's portal, Query's SQL. Enough to keep the statement and portal
// namespaces right; an unterminated string runs to the body's end, a missing one is empty.
std::pair<std::string_view, std::string_view> leading_cstrings(const Frame& f);

// Message types a client may legally send in the normal phase.
bool is_known_type(char type);
// Lowercase name for logs and metric labels ("parse", "bind", ...).
std::string_view type_name(char type);

template <class F>
void Bind::for_each_param(F&& f) const {
  std::size_t pos = 0;
  for (std::size_t i = 0; i < param_count; ++i) {
    const auto len = static_cast<std::int32_t>(be32(params.data() + pos));
    pos += 4;
    if (len < 0) {
      f(i, std::optional<Bytes>{});
    } else {
      f(i, std::optional<Bytes>{params.subspan(pos, static_cast<std::size_t>(len))});
      pos += static_cast<std::size_t>(len);
    }
  }
}

}  // namespace pglc::pgwire::fe
