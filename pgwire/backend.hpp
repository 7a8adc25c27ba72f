// Typed, zero-copy views of backend (server → client) message bodies.
// Every string_view/span points into the Frame's body: valid only as long as it is.
#pragma once

#include <cstdint>
#include <string_view>

#include "pgwire/decode.hpp"
#include "pgwire/frame.hpp"

namespace pglc::pgwire::be {

inline constexpr char kParseComplete = '1', kBindComplete = '2', kCloseComplete = '3',
                      kParameterDescription = 't', kRowDescription = 'T', kNoData = 'n',
                      kDataRow = 'D', kCommandComplete = 'C', kEmptyQueryResponse = 'I',
                      kPortalSuspended = 's', kErrorResponse = 'E', kNoticeResponse = 'N',
                      kReadyForQuery = 'Z', kCopyInResponse = 'G', kCopyOutResponse = 'H',
                      kCopyBothResponse = 'W', kCopyData = 'd', kCopyDone = 'c',
                      kBackendKeyData = 'K', kParameterStatus = 'S', kAuthentication = 'R',
                      kNotificationResponse = 'A', kFunctionCallResponse = 'V',
                      kNegotiateProtocolVersion = 'v';

struct ParameterDescription {
  std::uint16_t count = 0;
  Bytes oids;  // count × int32
  std::uint32_t oid(std::size_t i) const;
};

struct RowDescription {
  std::uint16_t field_count = 0;
};

// Only the header: a DataRow is counted, never copied.
struct DataRow {
  std::uint16_t column_count = 0;
};

struct CommandComplete {
  std::string_view tag;  // e.g. "INSERT 0 5", "SELECT 3"
  // Row count at the end of the tag (INSERT/UPDATE/DELETE/SELECT/MOVE/FETCH/COPY/MERGE);
  // -1 when the tag carries none.
  std::int64_t rows() const;
};

// ErrorResponse and NoticeResponse share this layout.
struct ErrorFields {
  std::string_view severity;  // 'V' (non-localized) when present, else 'S'
  std::string_view sqlstate;  // 'C'
  std::string_view message;   // 'M'
  std::string_view detail;    // 'D'
};

struct ReadyForQuery {
  char status = 'I';  // 'I' idle, 'T' in transaction, 'E' failed transaction
};

struct CopyResponse {  // CopyIn/CopyOut/CopyBoth
  std::int8_t format = 0;
  std::uint16_t column_count = 0;
};

struct BackendKeyData {
  std::int32_t pid = 0;
  std::int32_t key = 0;  // the first 4 bytes of `secret`
  // The whole secret key: 4 bytes in protocol 3.0, 4 to 256 bytes from protocol 3.2 on.
  Bytes secret;
};

struct ParameterStatus {
  std::string_view name;
  std::string_view value;
};

struct Authentication {
  std::int32_t code = 0;  // 0 ok, 3 cleartext, 5 md5, 10 SASL, 11 SASL continue, 12 SASL final
  // For code 10: the mechanism list (NUL-separated names, final empty name excluded).
  Bytes sasl_mechanisms;
  // Code 5: the 4-byte salt; codes 8, 11, 12: the exchange data; empty otherwise.
  Bytes data;
  template <class F>
  void for_each_mechanism(F&& f) const;
};

Decoded<ParameterDescription> decode_parameter_description(const Frame& f);
Decoded<RowDescription> decode_row_description(const Frame& f);
Decoded<DataRow> decode_data_row(const Frame& f);  // needs only the first 2 body bytes
Decoded<CommandComplete> decode_command_complete(const Frame& f);
Decoded<ErrorFields> decode_error_fields(const Frame& f);  // 'E' and 'N'
// The same over a body the framer cut (a message larger than its retain limit, e.g. an
// error echoing a huge value): the fields it holds, the last one possibly cut.
Decoded<ErrorFields> decode_error_fields_prefix(const Frame& f);
Decoded<ReadyForQuery> decode_ready_for_query(const Frame& f);
Decoded<CopyResponse> decode_copy_response(const Frame& f);
Decoded<BackendKeyData> decode_backend_key_data(const Frame& f);
Decoded<ParameterStatus> decode_parameter_status(const Frame& f);
Decoded<Authentication> decode_authentication(const Frame& f);

bool is_known_type(char type);
std::string_view type_name(char type);

template <class F>
void Authentication::for_each_mechanism(F&& f) const {
  std::size_t start = 0;
  for (std::size_t i = 0; i < sasl_mechanisms.size(); ++i) {
    if (sasl_mechanisms[i] == 0) {
      if (i == start) return;
      f(std::string_view(reinterpret_cast<const char*>(sasl_mechanisms.data() + start), i - start));
      start = i + 1;
    }
  }
}

}  // namespace pglc::pgwire::be
