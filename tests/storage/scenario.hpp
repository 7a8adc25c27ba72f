// Realistic records, as the tracker emits them for one PowerBI-like session: simple,
// simple_multi, sql_prepare and extended statements; success, error and aborted
// executions with their events. Times are offsets from t0 in microseconds, chosen so
// every duration in the views has a known exact value.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "lifecycle/records.hpp"
#include "lifecycle/sink.hpp"
#include "lifecycle/uuid.hpp"

namespace pglc::test {

using lifecycle::ExecutionEvent;
using lifecycle::ExecutionRecord;
using lifecycle::ExecutionStatus;
using lifecycle::SessionRecord;
using lifecycle::SqlText;
using lifecycle::StatementEvent;
using lifecycle::StatementEventRecord;
using lifecycle::StatementKind;
using lifecycle::StatementRecord;
using lifecycle::WallMicros;

inline std::shared_ptr<const SqlText> text(std::string hash, std::string sql,
                                           std::optional<std::string> normalized,
                                           std::optional<std::string> fingerprint) {
  return std::make_shared<const SqlText>(
      SqlText{std::move(hash), std::move(sql), std::move(normalized), std::move(fingerprint)});
}

// An id of the record's own time, as the proxy makes them: retention deletes by id range.
inline std::string new_id(WallMicros at) {
  static std::atomic<std::uint32_t> sequence{0};
  return lifecycle::uuid_v7_with(at / 1000, sequence++ & 0x3fffff);
}

inline SessionRecord make_session(WallMicros t0, std::string id = {}) {
  SessionRecord s;
  s.id = id.empty() ? new_id(t0) : std::move(id);
  s.proxy_instance = "proxy-a:6432";
  s.connected_at = t0;
  s.client_addr = "10.1.2.3";
  s.client_port = 51000;
  s.backend_addr = "127.0.0.1:5432";
  s.backend_pid = 4242;
  s.user_name = "alice";
  s.database_name = "sales";
  s.application_name = "PowerBI Desktop";
  s.client_tls = true;
  s.backend_tls = false;
  return s;
}

inline StatementRecord make_statement(const std::string& session_id, StatementKind kind,
                                      std::shared_ptr<const SqlText> sql, WallMicros received,
                                      std::string name = "", int position = 0,
                                      std::string param_types = "") {
  StatementRecord st;
  st.id = new_id(received);
  st.session_id = session_id;
  st.kind = kind;
  st.name = std::move(name);
  st.position = position;
  st.sql = std::move(sql);
  st.param_types = std::move(param_types);
  st.received_at = received;
  return st;
}

// events: received is `began`; the others are given as absolute times (0 = absent).
inline ExecutionRecord make_execution(const StatementRecord& st, WallMicros began, WallMicros bound,
                                      WallMicros executed, WallMicros finished,
                                      WallMicros delivered,
                                      ExecutionStatus status = ExecutionStatus::success) {
  ExecutionRecord e;
  e.id = new_id(began);
  e.statement_id = st.id;
  e.session_id = st.session_id;
  e.began_at = began;
  if (finished) e.finished_at = finished;
  e.status = status;
  e.kind = st.kind;
  e.sql = st.sql;
  e.application_name = "PowerBI Desktop";
  e.user_name = "alice";
  e.database_name = "sales";
  e.fetches = finished ? 1 : 0;
  e.events.emplace_back(ExecutionEvent::received, began);
  if (bound) e.events.emplace_back(ExecutionEvent::bound, bound);
  if (executed) e.events.emplace_back(ExecutionEvent::executed, executed);
  if (finished) e.events.emplace_back(ExecutionEvent::finished, finished);
  if (delivered) e.events.emplace_back(ExecutionEvent::delivered, delivered);
  return e;
}

struct Scenario {
  WallMicros t0;
  SessionRecord session;
  StatementRecord st1, st2a, st2b, st3, st4, st5;
  ExecutionRecord ex1, ex2a, ex2b, ex3a, ex3b, ex4a, ex4b, ex4c, ex5;

  explicit Scenario(WallMicros t = 1'800'000'000'000'000) : t0(t), session(make_session(t)) {
    auto t1 = text("h1", "SELECT 1", "SELECT $1", "fp1");
    auto t2 = text("h2", "SELECT 2", "SELECT $1", "fp1");
    auto t3 = text("h3", "PREPARE q AS SELECT $1::int", "PREPARE q AS SELECT $1::int", "fp3");
    auto t4 = text("h4", "SELECT * FROM orders WHERE id = $1", "SELECT * FROM orders WHERE id = $1",
                   "fp4");
    auto t5 = text("h5", "SELEC oops", std::nullopt, std::nullopt);
    const std::string& sid = session.id;
    using K = StatementKind;
    using S = ExecutionStatus;
    st1 = make_statement(sid, K::simple, t1, t0 + 1000);
    ex1 = make_execution(st1, t0 + 1000, 0, t0 + 2500, t0 + 3000, t0 + 3100);
    ex1.command_tag = "SELECT 1", ex1.rows = 1, ex1.result_bytes = 24;

    st2a = make_statement(sid, K::simple_multi, t1, t0 + 10000, "", 0);  // same text as st1
    st2b = make_statement(sid, K::simple_multi, t2, t0 + 10000, "", 1);
    ex2a = make_execution(st2a, t0 + 10000, 0, t0 + 10800, t0 + 11000, t0 + 11050);
    ex2a.command_tag = "SELECT 1", ex2a.rows = 1;
    ex2b = make_execution(st2b, t0 + 10000, 0, t0 + 12000, t0 + 13000, t0 + 13100);
    ex2b.command_tag = "SELECT 1", ex2b.rows = 1;

    st3 = make_statement(sid, K::sql_prepare, t3, t0 + 20000, "q");
    ex3a = make_execution(st3, t0 + 40000, 0, t0 + 40500, t0 + 41000, t0 + 41100);
    ex3a.command_tag = "SELECT 1", ex3a.rows = 1;
    ex3b = make_execution(st3, t0 + 50000, 0, t0 + 50500, t0 + 54000, t0 + 54100);
    ex3b.command_tag = "SELECT 1", ex3b.rows = 1;

    st4 = make_statement(sid, K::extended, t4, t0 + 30000, "s1", 0, "{23}");
    st4.parsed_at = t0 + 30250;  // as the tracker sends an extended statement
    ex4a = make_execution(st4, t0 + 60000, t0 + 60200, t0 + 61000, t0 + 65000, t0 + 65500);
    ex4a.command_tag = "SELECT 3", ex4a.rows = 3, ex4a.result_bytes = 300, ex4a.portal = "";
    ex4b =
        make_execution(st4, t0 + 70000, t0 + 70100, t0 + 70900, t0 + 70900, t0 + 71000, S::error);
    ex4b.sqlstate = "22P02";
    ex4b.error_message = "invalid input syntax for type integer: \"x\"";
    ex4c = make_execution(st4, t0 + 70050, 0, 0, 0, 0, S::aborted);

    st5 = make_statement(sid, K::simple, t5, t0 + 95000);
    ex5 = make_execution(st5, t0 + 95000, 0, t0 + 95300, t0 + 95300, t0 + 95400, S::error);
    ex5.sqlstate = "42601";
    ex5.error_message = "syntax error at or near \"SELEC\"";
  }

  // In the order the tracker would emit them.
  void feed(lifecycle::Sink& sink) const {
    sink.session_opened(session);
    sink.statement(st1);
    sink.execution(ex1);
    sink.statement(st2a);
    sink.statement(st2b);
    sink.execution(ex2a);
    sink.execution(ex2b);
    sink.statement(st3);
    sink.statement_event({st3.id, StatementEvent::parsed, t0 + 20400});
    sink.statement(st4);
    sink.statement_event({st4.id, StatementEvent::described, t0 + 30300});
    sink.execution(ex3a);
    sink.execution(ex3b);
    sink.execution(ex4a);
    sink.execution(ex4b);
    sink.execution(ex4c);
    sink.statement_event({st4.id, StatementEvent::closed, t0 + 90000});
    sink.statement(st5);
    sink.execution(ex5);
    SessionRecord closed = session;
    closed.disconnected_at = t0 + 100000;
    closed.end_reason = lifecycle::EndReason::client_terminate;
    closed.application_name = "PowerBI Desktop (mashup)";
    sink.session_closed(closed);
  }
};

}  // namespace pglc::test
