// The records of DESIGN §3, as the tracker emits them. Plain values: the sinks copy what
// they keep.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lifecycle/clock.hpp"

namespace pglc::lifecycle {

enum class StatementKind { simple, simple_multi, sql_prepare, extended };
enum class ExecutionStatus { success, error, canceled, aborted };
enum class EndReason {
  client_terminate,
  client_closed,
  backend_closed,
  protocol_error,
  auth_failed,
  shutdown
};
enum class StatementEvent { received, parsed, described, closed };
// How a statement's parse or an execution's bind was timed (DESIGN §2): `precise` when the
// proxy's Flush made the server send its answer as soon as it existed, `passive` when the
// answer may have waited in the server's buffer (its time marks a packet's arrival).
enum class Timing { precise, passive };
enum class ExecutionEvent { received, bound, executed, finished, delivered };
// Frontend message types timed by pglifecycle_message_duration_seconds.
enum class MessageKind { query, parse, bind, describe, execute, close, sync, function_call };

std::string_view to_string(StatementKind);
std::string_view to_string(ExecutionStatus);
// The inverse, for what a store reads back; nullopt for any other text.
std::optional<ExecutionStatus> execution_status_from(std::string_view name);
std::string_view to_string(EndReason);
std::string_view to_string(StatementEvent);
std::string_view to_string(Timing);
std::string_view to_string(ExecutionEvent);
std::string_view to_string(MessageKind);

struct SessionRecord {
  std::string id;  // UUIDv7
  std::string proxy_instance;
  WallMicros connected_at = 0;
  std::optional<WallMicros> disconnected_at;
  std::string client_addr;
  int client_port = 0;
  std::string backend_addr;  // host:port
  std::optional<std::int32_t> backend_pid;
  std::string user_name;
  std::string database_name;
  std::string application_name;  // last value seen (StartupMessage, then ParameterStatus)
  bool client_tls = false;
  bool backend_tls = false;
  std::optional<EndReason> end_reason;
  // Session phases (DESIGN §2): connected_at is `accepted` (TCP accept) and
  // disconnected_at `closed`; a phase the session never reached stays empty.
  std::optional<WallMicros> tls_established_at;   // client TLS handshake done
  std::optional<WallMicros> startup_received_at;  // StartupMessage read
  std::optional<WallMicros> backend_connected_at; // backend TCP (+ TLS) ready
  std::optional<WallMicros> authenticated_at;     // AuthenticationOk
  std::optional<WallMicros> ready_at;             // first ReadyForQuery
};

// The durations of pglifecycle_connect_duration_seconds{phase} and session_summary, in
// seconds: tls = accepted → tls_established; startup = (tls_established, else accepted) →
// startup_received; backend = startup_received → backend_connected; auth =
// backend_connected → authenticated; total = accepted → ready.
struct ConnectPhases {
  std::optional<double> tls, startup, backend, auth, total;
};
inline ConnectPhases connect_phases(const SessionRecord& r) {
  auto between = [](std::optional<WallMicros> from,
                    std::optional<WallMicros> to) -> std::optional<double> {
    if (!from || !to || *to < *from) return std::nullopt;
    return static_cast<double>(*to - *from) / 1e6;
  };
  const std::optional<WallMicros> accepted = r.connected_at;
  ConnectPhases p;
  p.tls = between(accepted, r.tls_established_at);
  p.startup = between(r.tls_established_at ? r.tls_established_at : accepted, r.startup_received_at);
  p.backend = between(r.startup_received_at, r.backend_connected_at);
  p.auth = between(r.backend_connected_at, r.authenticated_at);
  p.total = between(accepted, r.ready_at);
  return p;
}

struct SqlText {
  std::string hash;  // digest of the full text as sent (before any cut): sql_hash
  std::string sql;   // cut at max_sql_length bytes
  std::optional<std::string> normalized_sql;  // NULL when the parser rejects the text
  std::optional<std::string> fingerprint;     // libpg_query fingerprint, hex
  std::string_view statement_type{};          // statement_class.hpp; empty with fingerprint
  // Set when the tracker left normalization and fingerprinting to the consumer
  // (TrackerConfig::defer_sql_analysis): `sql` then holds the whole text, and
  // lifecycle::analyze_sql(sql) gives the two fields, e.g. on the storage writer's thread.
  bool analysis_deferred = false;
  // The text carries credentials (sql_lexer's carries_credentials): `sql` has its string
  // constants masked, and a consumer that completes the analysis stores the normalized
  // text in its place. `hash` is the masked text's, so no digest of a secret is kept.
  bool credentials = false;
  // Texts of one literal shape (lifecycle/literal_shape.hpp: they differ only inside their
  // constants) that are single queries fingerprint alike: a consumer that aggregates by
  // fingerprint may group texts by this before it knows the fingerprint (the rollups do,
  // on the io threads). Zero when the text is not such a query.
  std::array<std::uint64_t, 2> shape{};
};

struct StatementRecord {
  std::string id;
  std::string session_id;
  StatementKind kind = StatementKind::simple;
  std::string name;                    // protocol or PREPARE name; "" for unnamed / simple
  int position = 0;                    // index inside a multi-statement Query, 0-based
  std::shared_ptr<const SqlText> sql;  // shared: PowerBI repeats the same texts
  std::string param_types;             // e.g. "{23,25}", "" when none
  WallMicros received_at = 0;
  Timing timing = Timing::precise;  // of its Parse (extended); simple kinds: the session's mode
  // An extended statement's record waits for its ParseComplete and carries it: one record
  // instead of two per unnamed Parse (PowerBI, pgbench -M extended). Unset when the Parse
  // failed or was skipped; later events (described, closed) still come as event records.
  std::optional<WallMicros> parsed_at;
};

struct StatementEventRecord {
  std::string statement_id;
  StatementEvent event = StatementEvent::received;
  WallMicros occurred_at = 0;
};

struct ExecutionRecord {
  std::string id;
  std::string statement_id;
  std::string session_id;
  std::string portal;
  std::optional<std::string> params;  // only with --record-parameters
  WallMicros began_at = 0;            // = the received event
  std::optional<WallMicros> finished_at;
  ExecutionStatus status = ExecutionStatus::success;
  std::string sqlstate;
  std::string error_message;
  std::string command_tag;
  std::int64_t rows = 0;
  std::int64_t result_bytes = 0;
  int fetches = 0;
  std::string application_name;                               // in force when the execution began
  std::vector<std::pair<ExecutionEvent, WallMicros>> events;  // in the order they happened

  // Denormalized for the metrics and the debug log; not stored as columns.
  StatementKind kind = StatementKind::simple;
  std::shared_ptr<const SqlText> sql;
  std::string user_name;
  std::string database_name;
  // Pipeline-aware phase start (DESIGN §2): the later of `received` and the previous
  // response of the same pipeline. Durations below are measured from it.
  std::optional<double> first_row_seconds;  // start → executed
  std::optional<double> total_seconds;      // start → finished
  std::optional<double> bind_seconds;       // start → bound (extended only)
  std::optional<double> deliver_seconds;    // finished → delivered
  // The statement's Parse → ParseComplete, carried by its first execution only (so that a
  // rollup counts each parse once), and only when the statement was timed precisely.
  std::optional<double> parse_seconds;
  // Of its Bind: bind_seconds of a passively timed execution only marks when a packet
  // arrived. Stored (executions.timing) and kept out of the bind histograms.
  Timing timing = Timing::precise;
};

}  // namespace pglc::lifecycle
