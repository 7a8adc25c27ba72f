// What `pglifecycle explain` shows, read from a store's views (explain/command.cpp) and
// drawn by explain/render.cpp: plain values, no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pglc::explain {

struct ExecutionView {
  std::string id, session_id, statement_id;
  std::string user, database, application, kind, statement_name, sql, fingerprint;
  std::int64_t began_us = 0;
  std::string status, sqlstate, error_message, timing, command_tag;
  std::string statement_type, origin;  // statement classes (DESIGN §2)
  std::int64_t rows = 0, result_bytes = 0, fetches = 0;
  // The views' durations (parse: the statement's, kept with its first execution only).
  std::optional<double> parse_ms, bind_ms, first_row_ms, execute_ms, total_ms, deliver_ms;
  // The event times the tree is drawn from (parsed: that first execution's statement's).
  std::optional<std::int64_t> parsed_us, bound_us, executed_us, finished_us, delivered_us;
  // The fingerprint's figures from query_stats (all executions, from the rollups).
  std::optional<double> p50_ms, p95_ms;
  std::optional<std::int64_t> calls;
};

// One span of an execution's tree: consecutive, so that they add up to its total.
struct Span {
  std::string name;
  double ms = 0;
  std::string note;
};
std::vector<Span> spans(const ExecutionView&);

struct SessionExecution {
  std::string id;
  std::int64_t began_us = 0;
  std::optional<std::int64_t> finished_us;
  std::optional<double> total_ms;
  std::string status, sqlstate, error_message, kind, statement_name, sql, timing, fingerprint;
  std::string origin;
  std::int64_t rows = 0, result_bytes = 0;
  // For the trace's spans (parsed: when this is its statement's first, precisely timed).
  std::optional<std::int64_t> parsed_us, bound_us, executed_us, delivered_us;
};

// The execution as explain's tree sees it, for spans().
ExecutionView as_execution(const SessionExecution&);

// Executions that overlap in time were pipelined (sent before the previous one's answer
// came back, under one Sync, as Npgsql and libpq's pipeline mode send them).
std::vector<std::vector<const SessionExecution*>> pipelines(const std::vector<SessionExecution>&);

struct SessionView {
  std::string id, user, database, application, client_addr, end_reason, proxy_instance;
  std::int64_t client_port = 0;
  bool client_tls = false, backend_tls = false;
  std::optional<std::int64_t> backend_pid;
  std::int64_t connected_us = 0;
  std::optional<std::int64_t> disconnected_us;
  std::optional<double> tls_ms, startup_ms, backend_ms, auth_ms, connect_ms, duration_ms;
  std::int64_t execution_count = 0;  // all of them; `executions` may hold the first few
  std::vector<SessionExecution> executions;
};

struct SlowRow {
  std::string id, status, sqlstate, application, sql;
  std::int64_t began_us = 0;
  std::optional<double> total_ms;
};

struct SlowestView {
  std::int64_t since_us = 0;
  std::size_t limit = 0;
  std::vector<SlowRow> rows;
};

}  // namespace pglc::explain
