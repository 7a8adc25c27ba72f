// Simple Query flows: one statement, several, failures, PREPARE/EXECUTE, COPY, cancel,
// lost connections, session attributes and delivery.
#include <doctest/doctest.h>

#include "lifecycle/sql_analyzer.hpp"
#include "tests/lifecycle/wire.hpp"

using namespace pglc::testwire;
using pglc::lifecycle::EndReason;
using pglc::lifecycle::ExecutionStatus;
using pglc::lifecycle::MessageKind;
using pglc::lifecycle::StatementEvent;
using pglc::lifecycle::StatementKind;
using std::chrono::milliseconds;

namespace {
double ms(const std::optional<double>& s) {
  return s ? *s * 1000.0 : -1.0;
}
}  // namespace

TEST_CASE("single simple query: statement, execution, events, timings, session") {
  Session s;
  s.start("alice", "shop", "psql");
  REQUIRE(s.sink.opened.size() == 1);
  CHECK(s.sink.opened[0].backend_pid == 4242);
  CHECK(s.sink.opened[0].user_name == "alice");
  CHECK(s.sink.opened[0].database_name == "shop");
  CHECK(s.sink.opened[0].application_name == "psql");
  CHECK(s.sink.opened[0].id.size() == 36);

  s.fe(query("SELECT 1"), 10);
  s.be(cat({row_description({"?column?"}), data_row({"1"})}), 12);
  s.be(cat({command_complete("SELECT 1"), ready('I')}), 13);

  REQUIRE(s.sink.statements.size() == 1);
  const auto& st = s.sink.statements[0];
  CHECK(st.kind == StatementKind::simple);
  CHECK(st.name == "");
  CHECK(st.position == 0);
  CHECK(st.session_id == s.sink.opened[0].id);
  CHECK(st.sql->sql == "SELECT 1");
  CHECK(st.sql->normalized_sql == "SELECT $1");
  REQUIRE(st.sql->fingerprint.has_value());
  CHECK(st.sql->fingerprint->size() == 16);
  CHECK(st.sql->hash == pglc::lifecycle::sql_hash("SELECT 1"));
  CHECK(st.received_at == s.wall_at(10));
  CHECK(s.sink.statement_events.empty());  // simple kinds have no parsed event

  REQUIRE(s.sink.executions.size() == 1);
  const auto& ex = s.sink.executions[0];
  CHECK(ex.statement_id == st.id);
  CHECK(ex.status == ExecutionStatus::success);
  CHECK(ex.command_tag == "SELECT 1");
  CHECK(ex.rows == 1);
  CHECK(ex.result_bytes == static_cast<std::int64_t>(data_row({"1"}).size()));
  CHECK(ex.fetches == 1);
  CHECK(ex.kind == StatementKind::simple);
  CHECK(ex.application_name == "psql");
  CHECK(ex.user_name == "alice");
  CHECK(ex.database_name == "shop");
  CHECK(ex.began_at == s.wall_at(10));
  CHECK(ex.finished_at == s.wall_at(13));
  CHECK(CaptureSink::events(ex) == "received,executed,finished,delivered");
  CHECK(ex.events[1].second == s.wall_at(12));
  CHECK(ex.events[3].second == s.wall_at(13));
  CHECK(ms(ex.first_row_seconds) == doctest::Approx(2.0));
  CHECK(ms(ex.total_seconds) == doctest::Approx(3.0));
  CHECK(ms(ex.deliver_seconds) == doctest::Approx(0.0));
  CHECK_FALSE(ex.bind_seconds.has_value());
  CHECK_FALSE(ex.params.has_value());
  CHECK(s.sink.timed_of(MessageKind::query) ==
        std::vector{std::chrono::nanoseconds(milliseconds(3))});

  s.end(EndReason::client_terminate, 20);
  REQUIRE(s.sink.closed.size() == 1);
  CHECK(s.sink.closed[0].end_reason == EndReason::client_terminate);
  CHECK(s.sink.closed[0].disconnected_at == s.wall_at(20));
  CHECK(s.sink.order.front() == "session_opened");
  CHECK(s.sink.order.back() == "session_closed");
  CHECK(s.sink.opened.size() == 1);  // not emitted a second time at the end
}

TEST_CASE("SELECT 1; SELECT 2; SELECT 3: three simple_multi statements, same received") {
  Session s;
  s.start();
  s.fe(query("SELECT 1; SELECT 2; SELECT 3"), 10);
  s.be(cat({row_description({"a"}), data_row({"1"}), command_complete("SELECT 1")}), 11);
  s.be(cat({row_description({"a"}), data_row({"2"}), command_complete("SELECT 1")}), 13);
  s.be(cat({row_description({"a"}), data_row({"3"}), command_complete("SELECT 1")}), 16);
  s.be(ready('I'), 17);

  REQUIRE(s.sink.statements.size() == 3);
  for (int i = 0; i < 3; ++i) {
    CHECK(s.sink.statements[i].kind == StatementKind::simple_multi);
    CHECK(s.sink.statements[i].position == i);
    CHECK(s.sink.statements[i].received_at == s.wall_at(10));
    CHECK(s.sink.statements[i].sql->sql == "SELECT " + std::to_string(i + 1));
  }
  REQUIRE(s.sink.executions.size() == 3);
  for (int i = 0; i < 3; ++i) {
    CHECK(s.sink.executions[i].statement_id == s.sink.statements[i].id);
    CHECK(s.sink.executions[i].began_at == s.wall_at(10));
    CHECK(s.sink.executions[i].status == ExecutionStatus::success);
    CHECK(s.sink.executions[i].rows == 1);
  }
  // Each statement starts when the previous one finished (pipeline-aware).
  CHECK(ms(s.sink.executions[0].total_seconds) == doctest::Approx(1.0));
  CHECK(ms(s.sink.executions[1].total_seconds) == doctest::Approx(2.0));
  CHECK(ms(s.sink.executions[2].total_seconds) == doctest::Approx(3.0));
  CHECK(s.sink.timed_of(MessageKind::query) ==
        std::vector{std::chrono::nanoseconds(milliseconds(7))});
  CHECK(s.sink.order ==
        std::vector<std::string>{"session_opened", "statement SELECT 1", "statement SELECT 2",
                                 "statement SELECT 3", "execution success SELECT 1",
                                 "execution success SELECT 2", "execution success SELECT 3"});
}

TEST_CASE("multi-statement Query failing in the 2nd statement: 3rd aborted") {
  Session s;
  s.start();
  s.fe(query("SELECT 1; SELECT 1/0; SELECT 3"), 10);
  s.be(cat({row_description({"a"}), data_row({"1"}), command_complete("SELECT 1")}), 11);
  s.be(cat({error("22012", "division by zero"), ready('I')}), 12);
  REQUIRE(s.sink.executions.size() == 3);
  CHECK(s.sink.executions[0].status == ExecutionStatus::success);
  const auto& failed = s.sink.executions[1];
  CHECK(failed.status == ExecutionStatus::error);
  CHECK(failed.sqlstate == "22012");
  CHECK(failed.error_message == "division by zero");
  CHECK(failed.rows == 0);
  CHECK(CaptureSink::events(failed) == "received,executed,finished,delivered");
  const auto& aborted = s.sink.executions[2];
  CHECK(aborted.status == ExecutionStatus::aborted);
  CHECK(aborted.sql->sql == "SELECT 3");
  CHECK(CaptureSink::events(aborted) == "received");
  CHECK_FALSE(aborted.finished_at.has_value());
  CHECK_FALSE(aborted.total_seconds.has_value());
}

TEST_CASE("PREPARE + 3x EXECUTE + DEALLOCATE: sql_prepare statement with three executions") {
  Session s;
  s.start();
  s.fe(query("PREPARE q(int) AS SELECT $1 + 1"), 10);
  s.be(cat({command_complete("PREPARE"), ready('I')}), 11);
  for (int i = 0; i < 3; ++i) {
    const double t = 20 + 10 * i;
    s.fe(query("EXECUTE q(" + std::to_string(i) + ")"), t);
    s.be(cat({row_description({"?column?"}), data_row({"1"}), command_complete("SELECT 1"),
              ready('I')}),
         t + 2);
  }
  s.fe(query("/* bye */ deallocate \"q\""), 60);
  s.be(cat({command_complete("DEALLOCATE"), ready('I')}), 61);

  REQUIRE(s.sink.statements.size() == 2);
  const auto prep = s.sink.statements[0];  // a copy: more statements follow
  CHECK(prep.kind == StatementKind::sql_prepare);
  CHECK(prep.name == "q");
  CHECK(prep.sql->sql == "PREPARE q(int) AS SELECT $1 + 1");
  CHECK(s.sink.statements[1].kind == StatementKind::simple);
  CHECK(s.sink.events_of(prep.id) == "parsed,closed");
  CHECK(s.sink.statement_events[0].occurred_at == s.wall_at(11));
  CHECK(s.sink.statement_events[1].occurred_at == s.wall_at(61));

  REQUIRE(s.sink.executions.size() == 4);
  for (int i = 0; i < 3; ++i) {
    CHECK(s.sink.executions[i].statement_id == prep.id);
    CHECK(s.sink.executions[i].kind == StatementKind::sql_prepare);
    CHECK(s.sink.executions[i].rows == 1);
    CHECK(s.sink.executions[i].began_at == s.wall_at(20 + 10 * i));
    CHECK(ms(s.sink.executions[i].total_seconds) == doctest::Approx(2.0));
  }
  CHECK(s.sink.executions[3].statement_id == s.sink.statements[1].id);
  CHECK(s.sink.executions[3].command_tag == "DEALLOCATE");

  // After DEALLOCATE the name is free: EXECUTE q no longer links to the old statement.
  s.fe(query("EXECUTE q(1)"), 70);
  s.be(cat({error("26000", "prepared statement \"q\" does not exist"), ready('I')}), 71);
  REQUIRE(s.sink.executions.size() == 5);
  CHECK(s.sink.executions[4].statement_id != prep.id);
  CHECK(s.sink.executions[4].kind == StatementKind::simple);
  CHECK(s.sink.executions[4].sqlstate == "26000");
}

TEST_CASE("PREPARE in a multi-statement Query, EXECUTE of a protocol-level statement") {
  Session s;
  s.start();
  s.fe(cat({parse("proto", "SELECT 7"), sync_msg()}), 5);
  s.be(cat({parse_complete(), ready('I')}), 6);
  s.fe(query("PREPARE p AS SELECT 1; EXECUTE p; EXECUTE proto"), 10);
  s.be(command_complete("PREPARE"), 11);
  s.be(cat({row_description({"a"}), data_row({"1"}), command_complete("SELECT 1")}), 12);
  s.be(cat({row_description({"a"}), data_row({"7"}), command_complete("SELECT 1"), ready('I')}),
       13);
  REQUIRE(s.sink.statements.size() == 2);
  CHECK(s.sink.statements[1].kind == StatementKind::sql_prepare);
  CHECK(s.sink.statements[1].position == 0);
  REQUIRE(s.sink.executions.size() == 2);
  CHECK(s.sink.executions[0].statement_id == s.sink.statements[1].id);
  CHECK(s.sink.executions[1].statement_id == s.sink.statements[0].id);
  CHECK(s.sink.executions[1].kind == StatementKind::extended);
  CHECK(ms(s.sink.executions[0].total_seconds) == doctest::Approx(1.0));  // from PREPARE's end
}

TEST_CASE("COPY FROM STDIN and COPY TO STDOUT in simple queries") {
  Session s;
  s.start();
  s.fe(query("COPY t FROM STDIN"), 10);
  s.be(copy_in_response(2), 11);
  s.fe(cat({fe_copy_data("1\ta\n"), fe_copy_data("2\tb\n"), fe_copy_done()}), 12);
  s.be(cat({command_complete("COPY 2"), ready('I')}), 14);
  REQUIRE(s.sink.executions.size() == 1);
  const auto& in = s.sink.executions[0];
  CHECK(in.status == ExecutionStatus::success);
  CHECK(in.rows == 2);
  CHECK(in.result_bytes == 0);
  CHECK(in.command_tag == "COPY 2");
  CHECK(in.events[1].second == s.wall_at(11));  // executed: CopyInResponse
  CHECK(ms(in.total_seconds) == doctest::Approx(4.0));

  s.fe(query("COPY t TO STDOUT"), 20);
  const Msg d1 = be_copy_data("1\ta\n"), d2 = be_copy_data("2\tbb\n"), d3 = be_copy_data("3\tc\n");
  s.be(cat({copy_out_response(2), d1, d2}), 21);
  s.be(cat({d3, be_copy_done(), command_complete("COPY 3"), ready('I')}), 22);
  REQUIRE(s.sink.executions.size() == 2);
  const auto& out = s.sink.executions[1];
  CHECK(out.rows == 3);
  CHECK(out.result_bytes == static_cast<std::int64_t>(d1.size() + d2.size() + d3.size()));
  CHECK(out.status == ExecutionStatus::success);

  // A failed copy-in (CopyFail) is an error, not a cancel.
  s.fe(query("COPY t FROM STDIN"), 30);
  s.be(copy_in_response(2), 31);
  s.fe(copy_fail("client gave up"), 32);
  s.be(cat({error("57014", "COPY from stdin failed: client gave up"), ready('I')}), 33);
  REQUIRE(s.sink.executions.size() == 3);
  CHECK(s.sink.executions[2].status == ExecutionStatus::error);
}

TEST_CASE("empty query: one statement, EmptyQueryResponse finishes it") {
  Session s;
  s.start();
  s.fe(query(""), 10);
  s.be(cat({empty_query(), ready('I')}), 11);
  REQUIRE(s.sink.statements.size() == 1);
  CHECK(s.sink.statements[0].sql->sql == "");
  REQUIRE(s.sink.executions.size() == 1);
  CHECK(s.sink.executions[0].status == ExecutionStatus::success);
  CHECK(s.sink.executions[0].command_tag == "");
  CHECK(s.sink.executions[0].rows == 0);
  CHECK(CaptureSink::events(s.sink.executions[0]) == "received,executed,finished,delivered");
}

TEST_CASE("cancel: 57014 after a CancelRequest is canceled, a statement_timeout stays error") {
  Session s;
  s.start();
  s.fe(query("SELECT pg_sleep(10)"), 10);
  s.cancel(20);
  s.be(cat({error("57014", "canceling statement due to user request"), ready('I')}), 21);
  REQUIRE(s.sink.executions.size() == 1);
  CHECK(s.sink.executions[0].status == ExecutionStatus::canceled);
  CHECK(s.sink.executions[0].sqlstate == "57014");

  s.fe(query("SELECT pg_sleep(10)"), 30);
  s.be(cat({error("57014", "canceling statement due to statement timeout"), ready('I')}), 31);
  REQUIRE(s.sink.executions.size() == 2);
  CHECK(s.sink.executions[1].status == ExecutionStatus::error);

  // A cancel that arrives when nothing runs does not taint the next statement.
  s.cancel(35);
  s.fe(query("SELECT pg_sleep(10)"), 40);
  s.be(cat({error("57014", "canceling statement due to statement timeout"), ready('I')}), 41);
  CHECK(s.sink.executions[2].status == ExecutionStatus::error);
}

TEST_CASE("connection dropped mid-result: execution aborted with the rows seen so far") {
  Session s;
  s.start();
  s.fe(query("SELECT g FROM generate_series(1, 1000000) g"), 10);
  s.be(cat({row_description({"g"}), data_row({"1"}), data_row({"2"})}), 11);
  CHECK(s.sink.executions.empty());
  s.end(EndReason::backend_closed, 12);
  REQUIRE(s.sink.executions.size() == 1);
  const auto& ex = s.sink.executions[0];
  CHECK(ex.status == ExecutionStatus::aborted);
  CHECK(ex.rows == 2);
  CHECK(CaptureSink::events(ex) == "received,executed");
  CHECK_FALSE(ex.finished_at.has_value());
  REQUIRE(s.sink.closed.size() == 1);
  CHECK(s.sink.closed[0].end_reason == EndReason::backend_closed);
  CHECK(s.sink.order.back() == "session_closed");
}

TEST_CASE("application_name follows ParameterStatus (SET after connecting, as pgjdbc does)") {
  Session s;
  s.start("bob", "db", "");
  CHECK(s.sink.opened[0].application_name == "");
  s.fe(query("SET application_name = 'PowerBI'"), 10);
  s.be(cat({command_complete("SET"), parameter_status("application_name", "PowerBI"), ready('I')}),
       11);
  s.fe(query("SELECT 1"), 20);
  s.be(cat({notice("hello"), row_description({"a"}), notification("chan"), data_row({"1"}),
            parameter_status("TimeZone", "UTC"), command_complete("SELECT 1"), ready('I')}),
       21);
  REQUIRE(s.sink.executions.size() == 2);
  CHECK(s.sink.executions[0].application_name == "");
  CHECK(s.sink.executions[1].application_name == "PowerBI");
  CHECK(s.sink.executions[1].rows == 1);
  s.end(EndReason::client_terminate, 30);
  CHECK(s.sink.closed[0].application_name == "PowerBI");
}

TEST_CASE("delivered: stamped when the client write covers the terminal response") {
  Session s;
  s.start();
  s.auto_write = false;
  s.written(s.client_offset(), 0);
  s.fe(query("SELECT 1; SELECT 2"), 10);
  s.be(cat({row_description({"a"}), data_row({"1"}), command_complete("SELECT 1")}), 11);
  const std::uint64_t first_end = s.client_offset();
  s.be(cat({row_description({"a"}), data_row({"2"}), command_complete("SELECT 1"), ready('I')}),
       12);
  CHECK(s.sink.executions.empty());
  s.written(first_end - 1, 13);  // the CommandComplete is not wholly written yet
  CHECK(s.sink.executions.empty());
  s.written(first_end, 14);
  REQUIRE(s.sink.executions.size() == 1);
  CHECK(s.sink.executions[0].events.back().second == s.wall_at(14));
  CHECK(ms(s.sink.executions[0].deliver_seconds) == doctest::Approx(3.0));
  s.written(s.client_offset(), 15);
  REQUIRE(s.sink.executions.size() == 2);
  CHECK(CaptureSink::events(s.sink.executions[1]) == "received,executed,finished,delivered");
  CHECK(s.sink.executions[1].events.back().second == s.wall_at(15));

  // Never written: emitted at the end, without `delivered`.
  s.fe(query("SELECT 3"), 20);
  s.be(cat({row_description({"a"}), data_row({"3"}), command_complete("SELECT 1"), ready('I')}),
       21);
  CHECK(s.sink.executions.size() == 2);
  s.end(EndReason::client_closed, 22);
  REQUIRE(s.sink.executions.size() == 3);
  CHECK(CaptureSink::events(s.sink.executions[2]) == "received,executed,finished");
}

TEST_CASE("a text the parser rejects keeps sql, has no normalized text or fingerprint") {
  Session s;
  s.start();
  s.fe(query("SELEC 1; SELECT 2"), 10);
  s.be(cat({error("42601", "syntax error at or near \"SELEC\""), ready('I')}), 11);
  REQUIRE(s.sink.statements.size() == 2);
  CHECK(s.sink.statements[0].sql->sql == "SELEC 1");
  CHECK_FALSE(s.sink.statements[0].sql->normalized_sql.has_value());
  CHECK_FALSE(s.sink.statements[0].sql->fingerprint.has_value());
  CHECK(s.sink.statements[1].sql->sql == "SELECT 2");
  CHECK(s.sink.statements[1].sql->fingerprint.has_value());
  REQUIRE(s.sink.executions.size() == 2);
  CHECK(s.sink.executions[0].status == ExecutionStatus::error);
  CHECK(s.sink.executions[0].sqlstate == "42601");
  CHECK(s.sink.executions[1].status == ExecutionStatus::aborted);
}

TEST_CASE("authentication failure: session_opened at the end with end_reason auth_failed") {
  Session s;
  s.start("mallory", "db", "x", false);
  s.be(auth_md5(), 1);
  s.fe(password("wrong password"), 2);
  s.be(error("28P01", "password authentication failed for user \"mallory\""), 3);
  CHECK(s.sink.opened.empty());
  s.end(EndReason::backend_closed, 4);
  REQUIRE(s.sink.opened.size() == 1);
  CHECK(s.sink.opened[0].end_reason == EndReason::auth_failed);
  REQUIRE(s.sink.closed.size() == 1);
  CHECK(s.sink.closed[0].end_reason == EndReason::auth_failed);
  CHECK_FALSE(s.sink.closed[0].backend_pid.has_value());
  CHECK(s.sink.statements.empty());
  CHECK(s.sink.executions.empty());
}

TEST_CASE("session phases: accepted, TLS, startup, backend, authenticated, ready, closed") {
  Session s;
  s.phases.accepted = s.at(-30);
  s.phases.tls_established = s.at(-20);
  s.phases.backend_connected = s.at(0.5);  // the proxy connects once it has the startup
  s.start("alice", "shop", "psql", false);  // the StartupMessage at 0
  s.be(auth_md5(), 1);
  s.fe(password("secret"), 2);
  s.be(auth_ok(), 4);
  s.be(cat({backend_key(7, 8), ready('I')}), 6);
  REQUIRE(s.sink.opened.size() == 1);
  const auto& r = s.sink.opened[0];
  CHECK(r.connected_at == s.wall_at(-30));
  CHECK(r.tls_established_at == s.wall_at(-20));
  CHECK(r.startup_received_at == s.wall_at(0));
  CHECK(r.backend_connected_at == s.wall_at(0.5));
  CHECK(r.authenticated_at == s.wall_at(4));
  CHECK(r.ready_at == s.wall_at(6));
  const auto p = pglc::lifecycle::connect_phases(r);
  CHECK(p.tls.value_or(-1) == doctest::Approx(0.010));
  CHECK(p.startup.value_or(-1) == doctest::Approx(0.020));
  CHECK(p.backend.value_or(-1) == doctest::Approx(0.0005));
  CHECK(p.auth.value_or(-1) == doctest::Approx(0.0035));
  CHECK(p.total.value_or(-1) == doctest::Approx(0.036));
}

TEST_CASE("session phases of a failed login: up to the backend, no authenticated, no ready") {
  Session s;
  s.phases.accepted = s.at(-3);
  s.phases.backend_connected = s.at(0.5);
  s.start("mallory", "db", "x", false);
  s.be(auth_md5(), 1);
  s.fe(password("wrong password"), 2);
  s.be(error("28P01", "password authentication failed for user \"mallory\""), 3);
  s.end(EndReason::backend_closed, 4);
  REQUIRE(s.sink.opened.size() == 1);
  const auto& r = s.sink.opened[0];
  CHECK_FALSE(r.tls_established_at.has_value());
  CHECK(r.startup_received_at == s.wall_at(0));
  CHECK(r.backend_connected_at == s.wall_at(0.5));
  CHECK_FALSE(r.authenticated_at.has_value());
  CHECK_FALSE(r.ready_at.has_value());
  const auto p = pglc::lifecycle::connect_phases(r);
  CHECK(p.startup.value_or(-1) == doctest::Approx(0.003));
  CHECK(p.backend.value_or(-1) == doctest::Approx(0.0005));
  CHECK_FALSE(p.auth.has_value());
  CHECK_FALSE(p.total.has_value());
}

TEST_CASE("before AuthenticationOk nothing the client sends is analysed or recorded") {
  Session s;
  s.start("mallory", "db", "x", false);
  s.be(auth_md5(), 1);
  // Queries and extended messages instead of a password: the server answers with a FATAL
  // error, the tracker counts and records none of them, and times nothing.
  s.fe(cat({query("SELECT 1; SELECT 2"), parse("", "SELECT 3"), bind("", ""), execute(""),
            sync_msg(), query("ALTER ROLE r PASSWORD 'x'")}),
       2);
  s.be(error("08P01", "invalid frontend message type 81"), 3);
  s.end(EndReason::backend_closed, 4);
  CHECK(s.sink.statements.empty());
  CHECK(s.sink.executions.empty());
  CHECK(s.sink.timed.empty());

  // A password round trip, then AuthenticationOk: from then on the client is tracked.
  Session ok;
  ok.start("alice", "db", "x", false);
  ok.be(auth_md5(), 1);
  ok.fe(query("SELECT 'before'"), 2);  // pipelined behind the password: still before
  ok.be(cat({auth_ok(), ready('I')}), 3);
  ok.fe(query("SELECT 'after'"), 4);
  ok.be(cat({command_complete("SELECT 1"), ready('I')}), 5);
  REQUIRE(ok.sink.statements.size() == 1);
  CHECK(ok.sink.statements[0].sql->sql == "SELECT 'after'");
}

TEST_CASE("a connection that never sent a StartupMessage (CancelRequest) records nothing") {
  CaptureSink sink;
  pglc::lifecycle::TrackerFactory factory({}, sink);
  auto observer = factory.create();
  observer->on_session_end(EndReason::client_closed, pglc::lifecycle::now());
  CHECK(sink.order.empty());
}

TEST_CASE("FunctionCall is timed to its FunctionCallResponse") {
  Session s;
  s.start();
  s.fe(function_call(1598), 10);
  s.be(function_call_response("42"), 12);
  s.be(ready('I'), 13);
  CHECK(s.sink.timed_of(MessageKind::function_call) ==
        std::vector{std::chrono::nanoseconds(milliseconds(2))});
  // The queue is clean: the next Query is matched normally.
  s.fe(query("SELECT 1"), 20);
  s.be(cat({row_description({"a"}), data_row({"1"}), command_complete("SELECT 1"), ready('I')}),
       21);
  REQUIRE(s.sink.executions.size() == 1);
  CHECK(s.sink.executions[0].status == ExecutionStatus::success);
}

TEST_CASE("max_sql_length cuts the stored text on a UTF-8 boundary, hash covers it all") {
  pglc::lifecycle::TrackerConfig config;
  config.max_sql_length = 11;
  Session s(config);
  s.start();
  s.fe(query("SELECT 'ééééé'"), 10);  // 'é' is 2 bytes: byte 11 is inside one
  s.be(cat({row_description({"a"}), data_row({"x"}), command_complete("SELECT 1"), ready('I')}),
       11);
  REQUIRE(s.sink.statements.size() == 1);
  CHECK(s.sink.statements[0].sql->sql == "SELECT 'é");
  CHECK(s.sink.statements[0].sql->hash == pglc::lifecycle::sql_hash("SELECT 'ééééé'"));
}

TEST_CASE("defer_sql_analysis: statements carry texts for the consumer to analyze") {
  pglc::lifecycle::TrackerConfig config;
  config.defer_sql_analysis = true;
  Session s(config);
  s.start();
  s.fe(query("SELECT 1; SELECT 2"), 10);
  s.be(cat({row_description({"a"}), data_row({"1"}), command_complete("SELECT 1"),
            row_description({"a"}), data_row({"2"}), command_complete("SELECT 1"), ready('I')}),
       11);
  REQUIRE(s.sink.statements.size() == 2);
  CHECK(s.sink.statements[0].sql->analysis_deferred);
  CHECK(s.sink.statements[0].sql->sql == "SELECT 1");
  CHECK(pglc::lifecycle::analyze_sql(s.sink.statements[0].sql->sql, 100).normalized_sql ==
        "SELECT $1");
  CHECK(s.sink.executions.size() == 2);
}
