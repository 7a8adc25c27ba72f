// Extended Query flows as real drivers send them: Npgsql batches, pgjdbc named statements,
// max-rows fetches, COPY, errors that make the server skip to Sync, and the namespaces.
#include <doctest/doctest.h>

#include <set>

#include "tests/lifecycle/wire.hpp"

using namespace pglc::testwire;
using pglc::lifecycle::EndReason;
using pglc::lifecycle::ExecutionStatus;
using pglc::lifecycle::MessageKind;
using pglc::lifecycle::StatementKind;
using std::chrono::milliseconds;

namespace {

double ms(const std::optional<double>& s) {
  return s ? *s * 1000.0 : -1.0;
}

// Npgsql: N x (Parse "" / Bind "" / Describe portal / Execute 0) and one Sync.
Msg npgsql_batch(std::initializer_list<std::string_view> sqls) {
  Msg out;
  for (auto sql : sqls) {
    Msg m = cat({parse("", sql), bind("", ""), describe('P', ""), execute("")});
    out.insert(out.end(), m.begin(), m.end());
  }
  Msg s = sync_msg();
  out.insert(out.end(), s.begin(), s.end());
  return out;
}

Msg one_row_result(std::string_view v) {
  return cat({row_description({"a"}), data_row({v}), command_complete("SELECT 1")});
}

}  // namespace

TEST_CASE("Npgsql-style batch of 3 statements with one Sync") {
  Session s;
  s.start("powerbi", "dw", "PowerBI");
  s.fe(npgsql_batch({"SELECT 1", "SELECT 2", "SELECT 3"}), 10);
  s.be(cat({parse_complete(), bind_complete(), one_row_result("1")}), 12);
  s.be(parse_complete(), 20);
  s.be(bind_complete(), 21);
  s.be(row_description({"a"}), 22);
  s.be(data_row({"2"}), 23);
  s.be(command_complete("SELECT 1"), 24);
  s.be(cat({parse_complete(), bind_complete(), one_row_result("3"), ready('I')}), 30);

  REQUIRE(s.sink.statements.size() == 3);
  REQUIRE(s.sink.executions.size() == 3);
  for (int i = 0; i < 3; ++i) {
    const auto& st = s.sink.statements[i];
    CHECK(st.kind == StatementKind::extended);
    CHECK(st.name == "");
    CHECK(st.received_at == s.wall_at(10));
    CHECK(st.sql->sql == "SELECT " + std::to_string(i + 1));
    CHECK(s.sink.events_of(st.id) == "parsed");
    const auto& ex = s.sink.executions[i];
    CHECK(ex.statement_id == st.id);
    CHECK(ex.kind == StatementKind::extended);
    CHECK(ex.status == ExecutionStatus::success);
    CHECK(ex.rows == 1);
    CHECK(ex.fetches == 1);
    CHECK(ex.portal == "");
    CHECK(ex.application_name == "PowerBI");
    CHECK(CaptureSink::events(ex) == "received,bound,executed,finished,delivered");
    CHECK(ex.began_at == s.wall_at(10));
  }
  // The second execution is not charged for waiting behind the first: its phases start
  // at its Parse's answer (20), not at the batch's arrival (10).
  const auto& second = s.sink.executions[1];
  CHECK(ms(second.bind_seconds) == doctest::Approx(1.0));
  CHECK(ms(second.first_row_seconds) == doctest::Approx(3.0));
  CHECK(ms(second.total_seconds) == doctest::Approx(4.0));
  CHECK(s.sink.timed_of(MessageKind::parse).size() == 3);
  CHECK(s.sink.timed_of(MessageKind::parse)[1] == milliseconds(20 - 12));
  CHECK(s.sink.timed_of(MessageKind::bind)[1] == milliseconds(1));
  CHECK(s.sink.timed_of(MessageKind::describe)[1] == milliseconds(1));
  // From the BindComplete: a Describe's answer is never flushed on its own, so its arrival
  // does not mark the server's progress.
  CHECK(s.sink.timed_of(MessageKind::execute)[1] == milliseconds(3));
  CHECK(s.sink.timed_of(MessageKind::sync) == std::vector{std::chrono::nanoseconds(0)});
}

TEST_CASE("an extended statement is one record, sent with its ParseComplete") {
  Session s;
  s.start();
  s.fe(npgsql_batch({"SELECT 1", "SELECT 2"}), 10);
  // Nothing yet: the record waits for the server's answer to the Parse.
  CHECK(s.sink.statements.empty());
  s.be(cat({parse_complete(), bind_complete(), one_row_result("1")}), 12);
  REQUIRE(s.sink.statements.size() == 1);
  CHECK(s.sink.statements[0].sql->sql == "SELECT 1");
  CHECK(s.sink.statements[0].received_at == s.wall_at(10));
  CHECK(s.sink.statements[0].parsed_at == s.wall_at(12));
  s.be(cat({parse_complete(), bind_complete(), one_row_result("2"), ready('I')}), 14);
  REQUIRE(s.sink.statements.size() == 2);
  CHECK(s.sink.statements[1].parsed_at == s.wall_at(14));
  CHECK(s.sink.statement_events.empty());  // parsed went in the records
  // Each execution comes after its statement.
  CHECK(s.sink.order == std::vector<std::string>{"session_opened", "statement SELECT 1",
                                                 "execution success SELECT 1",
                                                 "statement SELECT 2",
                                                 "execution success SELECT 2"});
}

TEST_CASE("a Parse that fails or is never answered still records its statement") {
  Session s;
  s.start();
  s.fe(cat({parse("", "SELEC 1"), sync_msg()}), 10);
  s.be(cat({error("42601", "syntax error"), ready('I')}), 11);
  REQUIRE(s.sink.statements.size() == 1);
  CHECK(s.sink.statements[0].sql->sql == "SELEC 1");
  CHECK_FALSE(s.sink.statements[0].parsed_at.has_value());

  s.fe(cat({parse("late", "SELECT 5", {23}), sync_msg()}), 20);
  CHECK(s.sink.statements.size() == 1);
  s.end(EndReason::backend_closed, 30);
  REQUIRE(s.sink.statements.size() == 2);
  CHECK(s.sink.statements[1].name == "late");
  CHECK(s.sink.statements[1].param_types == "{23}");
  CHECK(s.sink.statements[1].received_at == s.wall_at(20));
  CHECK_FALSE(s.sink.statements[1].parsed_at.has_value());
  CHECK(s.sink.order.back() == "session_closed");
}

TEST_CASE("Npgsql-style batch with an execution error in statement 2: statement 3 aborted") {
  Session s;
  s.start();
  s.fe(npgsql_batch({"SELECT 1", "SELECT 1/0", "SELECT 3"}), 10);
  s.be(cat({parse_complete(), bind_complete(), one_row_result("1")}), 11);
  s.be(cat({parse_complete(), bind_complete(), row_description({"a"}),
            error("22012", "division by zero"), ready('I')}),
       12);
  REQUIRE(s.sink.executions.size() == 3);
  CHECK(s.sink.executions[0].status == ExecutionStatus::success);
  CHECK(s.sink.executions[1].status == ExecutionStatus::error);
  CHECK(s.sink.executions[1].sqlstate == "22012");
  CHECK(CaptureSink::events(s.sink.executions[1]) == "received,bound,executed,finished,delivered");
  CHECK(s.sink.executions[2].status == ExecutionStatus::aborted);
  CHECK(CaptureSink::events(s.sink.executions[2]) == "received");
  CHECK(s.sink.events_of(s.sink.statements[2].id) == "");  // skipped: never parsed
  // The skipped messages have no responses and no timings.
  CHECK(s.sink.timed_of(MessageKind::parse).size() == 2);
  CHECK(s.sink.timed_of(MessageKind::execute).size() == 2);
  CHECK(s.sink.timed_of(MessageKind::sync).size() == 1);

  // The session goes on normally after the Sync.
  s.fe(npgsql_batch({"SELECT 4"}), 20);
  s.be(cat({parse_complete(), bind_complete(), one_row_result("4"), ready('I')}), 21);
  REQUIRE(s.sink.executions.size() == 4);
  CHECK(s.sink.executions[3].status == ExecutionStatus::success);
  CHECK(s.sink.executions[3].sql->sql == "SELECT 4");
}

TEST_CASE("Npgsql-style batch with a syntax error in statement 2: its execution carries it") {
  Session s;
  s.start();
  s.fe(npgsql_batch({"SELECT 1", "SELEC 2", "SELECT 3"}), 10);
  s.be(cat({parse_complete(), bind_complete(), one_row_result("1")}), 11);
  s.be(cat({error("42601", "syntax error at or near \"SELEC\""), ready('I')}), 12);
  REQUIRE(s.sink.executions.size() == 3);
  CHECK(s.sink.executions[1].status == ExecutionStatus::error);
  CHECK(s.sink.executions[1].sqlstate == "42601");
  CHECK(s.sink.executions[1].statement_id == s.sink.statements[1].id);
  CHECK(s.sink.executions[2].status == ExecutionStatus::aborted);
  CHECK_FALSE(s.sink.statements[1].sql->fingerprint.has_value());
}

TEST_CASE("error with no Sync yet in the pipeline: later messages up to Sync are skipped") {
  Session s;
  s.start();
  s.fe(cat({parse("", "SELECT 1/0"), bind("", ""), execute("")}), 10);
  s.be(cat({parse_complete(), bind_complete(), error("22012", "division by zero")}), 11);
  // The client, not knowing yet, pipelines more before its Sync.
  s.fe(cat({parse("", "SELECT 2"), bind("", ""), execute("")}), 12);
  s.fe(sync_msg(), 13);
  s.be(ready('I'), 14);
  REQUIRE(s.sink.executions.size() == 2);
  CHECK(s.sink.executions[0].status == ExecutionStatus::error);
  CHECK(s.sink.executions[1].status == ExecutionStatus::aborted);
  s.fe(cat({parse("", "SELECT 3"), bind("", ""), execute(""), sync_msg()}), 20);
  s.be(cat({parse_complete(), bind_complete(), one_row_result("3"), ready('I')}), 21);
  REQUIRE(s.sink.executions.size() == 3);
  CHECK(s.sink.executions[2].status == ExecutionStatus::success);
}

TEST_CASE("named statement prepared once, executed 5 times, closed (pgjdbc)") {
  pglc::lifecycle::TrackerConfig config;
  config.record_parameters = true;
  Session s(config);
  s.start();
  s.fe(cat({parse("S_1", "SELECT $1::int, $2::bytea", {23, 17}), describe('S', "S_1"), sync_msg()}),
       10);
  s.be(cat({parse_complete(), parameter_description({23, 17}), row_description({"a", "b"}),
            ready('I')}),
       11);
  for (int i = 0; i < 5; ++i) {
    const double t = 20 + 10 * i;
    s.fe(cat({bind("", "S_1", {std::to_string(i), std::nullopt}), execute(""), sync_msg()}), t);
    s.be(cat({bind_complete(), data_row({"1", "x"}), command_complete("SELECT 1"), ready('I')}),
         t + 1);
  }
  s.fe(cat({bind("", "S_1", {std::string("\x01\xff", 2)}, true), execute(""), sync_msg()}), 80);
  s.be(cat({bind_complete(), command_complete("SELECT 0"), ready('I')}), 81);
  s.fe(cat({close('S', "S_1"), sync_msg()}), 100);
  s.be(cat({close_complete(), ready('I')}), 102);

  REQUIRE(s.sink.statements.size() == 1);
  const auto& st = s.sink.statements[0];
  CHECK(st.name == "S_1");
  CHECK(st.param_types == "{23,17}");
  CHECK(s.sink.events_of(st.id) == "parsed,described,closed");
  REQUIRE(s.sink.executions.size() == 6);
  for (int i = 0; i < 5; ++i) {
    CHECK(s.sink.executions[i].statement_id == st.id);
    CHECK(s.sink.executions[i].params == "[\"" + std::to_string(i) + "\",null]");
    CHECK(ms(s.sink.executions[i].total_seconds) == doctest::Approx(1.0));
  }
  CHECK(s.sink.executions[5].params == "[\"\\\\x01ff\"]");
  CHECK(s.sink.executions[5].rows == 0);
  CHECK(s.sink.timed_of(MessageKind::close) ==
        std::vector{std::chrono::nanoseconds(milliseconds(2))});
  // Pipelined behind the Parse, whose answer came in the same packet: no time of its own.
  CHECK(s.sink.timed_of(MessageKind::describe) == std::vector{std::chrono::nanoseconds(0)});
}

TEST_CASE("parameters are not recorded unless record_parameters is on") {
  Session s;
  s.start();
  s.fe(cat({parse("", "SELECT $1"), bind("", "", {std::string("hunter2")}), execute(""),
            sync_msg()}),
       10);
  s.be(cat({parse_complete(), bind_complete(), one_row_result("x"), ready('I')}), 11);
  REQUIRE(s.sink.executions.size() == 1);
  CHECK_FALSE(s.sink.executions[0].params.has_value());
}

TEST_CASE("Execute with max rows 100 over 250 rows: one execution, 3 fetches, 250 rows") {
  Session s;
  s.start();
  s.fe(query("BEGIN"), 1);
  s.be(cat({command_complete("BEGIN"), ready('T')}), 2);
  Msg hundred, fifty;
  for (int i = 0; i < 100; ++i) {
    Msg r = data_row({"12345"});
    hundred.insert(hundred.end(), r.begin(), r.end());
    if (i < 50) fifty.insert(fifty.end(), r.begin(), r.end());
  }
  s.fe(cat({parse("", "SELECT g FROM generate_series(1, 250) g"), bind("C_1", ""),
            describe('P', "C_1"), execute("C_1", 100), sync_msg()}),
       10);
  s.be(cat({parse_complete(), bind_complete(), row_description({"g"}), hundred, portal_suspended(),
            ready('T')}),
       12);
  s.fe(cat({execute("C_1", 100), sync_msg()}), 20);
  s.be(cat({hundred, portal_suspended(), ready('T')}), 22);
  s.fe(cat({execute("C_1", 100), sync_msg()}), 30);
  s.be(cat({fifty, command_complete("SELECT 50"), ready('T')}), 33);
  s.fe(query("COMMIT"), 40);
  s.be(cat({command_complete("COMMIT"), ready('I')}), 41);

  REQUIRE(s.sink.executions.size() == 3);  // BEGIN, the cursor, COMMIT
  const auto& ex = s.sink.executions[1];
  CHECK(ex.rows == 250);
  CHECK(ex.fetches == 3);
  CHECK(ex.command_tag == "SELECT 50");
  CHECK(ex.portal == "C_1");
  CHECK(ex.result_bytes == static_cast<std::int64_t>(250 * data_row({"12345"}).size()));
  CHECK(ex.finished_at == s.wall_at(33));
  CHECK(CaptureSink::events(ex) == "received,bound,executed,finished,delivered");
  CHECK(s.sink.timed_of(MessageKind::execute).size() == 3);
}

TEST_CASE("abandoned suspended portal: finished at its last PortalSuspended") {
  Session s;
  s.start();
  Msg hundred;
  for (int i = 0; i < 100; ++i) {
    Msg r = data_row({"1"});
    hundred.insert(hundred.end(), r.begin(), r.end());
  }
  s.fe(cat({parse("", "SELECT 1 FROM generate_series(1, 250)"), bind("", ""), execute("", 100),
            sync_msg()}),
       10);
  s.be(cat({parse_complete(), bind_complete(), hundred, portal_suspended()}), 12);
  CHECK(s.sink.executions.empty());  // still fetchable until the transaction ends
  s.be(ready('I'), 13);
  REQUIRE(s.sink.executions.size() == 1);
  const auto& ex = s.sink.executions[0];
  CHECK(ex.status == ExecutionStatus::success);
  CHECK(ex.rows == 100);
  CHECK(ex.fetches == 1);
  CHECK(ex.finished_at == s.wall_at(12));
  CHECK(CaptureSink::events(ex) == "received,bound,executed,finished,delivered");
}

TEST_CASE("COPY FROM STDIN through the extended protocol (libpq sends Sync twice)") {
  Session s;
  s.start();
  s.fe(cat({parse("", "COPY t FROM STDIN"), bind("", ""), describe('P', ""), execute(""),
            sync_msg()}),
       10);
  s.be(cat({parse_complete(), bind_complete(), no_data(), copy_in_response(1)}), 11);
  s.fe(cat({fe_copy_data("1\n"), fe_copy_done(), sync_msg()}), 12);
  s.be(cat({command_complete("COPY 1"), ready('I')}), 13);
  REQUIRE(s.sink.executions.size() == 1);
  CHECK(s.sink.executions[0].status == ExecutionStatus::success);
  CHECK(s.sink.executions[0].rows == 1);
  CHECK(s.sink.timed_of(MessageKind::sync) ==
        std::vector{std::chrono::nanoseconds(milliseconds(0))});
  // Nothing is left over in the queue: the next command matches its own responses.
  s.fe(query("SELECT 5"), 20);
  s.be(cat({one_row_result("5"), ready('I')}), 21);
  REQUIRE(s.sink.executions.size() == 2);
  CHECK(s.sink.executions[1].sql->sql == "SELECT 5");
  CHECK(s.sink.executions[1].status == ExecutionStatus::success);
  CHECK(ms(s.sink.executions[1].total_seconds) == doctest::Approx(1.0));
}

TEST_CASE("COPY TO STDOUT through the extended protocol counts CopyData bytes") {
  Session s;
  s.start();
  s.fe(cat({parse("", "COPY t TO STDOUT"), bind("", ""), execute(""), sync_msg()}), 10);
  const Msg d = be_copy_data("abc\n");
  s.be(cat({parse_complete(), bind_complete(), copy_out_response(1), d, d, be_copy_done(),
            command_complete("COPY 2"), ready('I')}),
       11);
  REQUIRE(s.sink.executions.size() == 1);
  CHECK(s.sink.executions[0].rows == 2);
  CHECK(s.sink.executions[0].result_bytes == static_cast<std::int64_t>(2 * d.size()));
}

TEST_CASE("the unnamed statement is replaced by each Parse, and by a simple Query") {
  Session s;
  s.start();
  s.fe(cat({parse("", "SELECT 1"), parse("", "SELECT 2"), bind("", ""), execute(""), sync_msg()}),
       10);
  s.be(cat({parse_complete(), parse_complete(), bind_complete(), one_row_result("2"), ready('I')}),
       11);
  REQUIRE(s.sink.statements.size() == 2);
  REQUIRE(s.sink.executions.size() == 1);
  CHECK(s.sink.executions[0].statement_id == s.sink.statements[1].id);

  s.fe(query("SELECT 3"), 20);
  s.be(cat({one_row_result("3"), ready('I')}), 21);
  s.fe(cat({bind("", ""), execute(""), sync_msg()}), 30);
  s.be(cat({error("26000", "unnamed prepared statement does not exist"), ready('I')}), 31);
  REQUIRE(s.sink.executions.size() == 3);
  CHECK(s.sink.executions[2].statement_id != s.sink.statements[1].id);
  CHECK(s.sink.executions[2].status == ExecutionStatus::error);
  CHECK(s.sink.executions[2].sqlstate == "26000");
}

TEST_CASE("DISCARD ALL and DEALLOCATE ALL close every named statement") {
  Session s;
  s.start();
  s.fe(cat({parse("a", "SELECT 1"), parse("b", "SELECT 2"), sync_msg()}), 10);
  s.be(cat({parse_complete(), parse_complete(), ready('I')}), 11);
  s.fe(query("discard ALL"), 20);
  s.be(cat({command_complete("DISCARD ALL"), ready('I')}), 21);
  REQUIRE(s.sink.statements.size() == 3);
  CHECK(s.sink.events_of(s.sink.statements[0].id) == "parsed,closed");
  CHECK(s.sink.events_of(s.sink.statements[1].id) == "parsed,closed");
  CHECK(s.sink.statement_events.back().occurred_at == s.wall_at(21));

  // The names are free again: a new "a" is a new statement.
  s.fe(cat({parse("a", "SELECT 10"), bind("", "a"), execute(""), sync_msg()}), 30);
  s.be(cat({parse_complete(), bind_complete(), one_row_result("10"), ready('I')}), 31);
  CHECK(s.sink.executions.back().statement_id == s.sink.statements[3].id);

  s.fe(query("DEALLOCATE ALL"), 40);
  s.be(cat({command_complete("DEALLOCATE ALL"), ready('I')}), 41);
  CHECK(s.sink.events_of(s.sink.statements[3].id) == "parsed,closed");
}

TEST_CASE("a re-Parse of an existing name does not replace it (the server refuses)") {
  Session s;
  s.start();
  s.fe(cat({parse("a", "SELECT 1"), sync_msg()}), 10);
  s.be(cat({parse_complete(), ready('I')}), 11);
  s.fe(cat({parse("a", "SELECT 2"), bind("", "a"), execute(""), sync_msg()}), 20);
  s.be(cat({error("42P05", "prepared statement \"a\" already exists"), ready('I')}), 21);
  s.fe(cat({bind("", "a"), execute(""), sync_msg()}), 30);
  s.be(cat({bind_complete(), one_row_result("1"), ready('I')}), 31);
  REQUIRE(s.sink.executions.size() == 2);
  CHECK(s.sink.executions[1].statement_id == s.sink.statements[0].id);
  CHECK(s.sink.executions[1].status == ExecutionStatus::success);
}

TEST_CASE("pipelined named statements (postgres.js / libpq pipeline) match by order") {
  Session s;
  s.start();
  s.fe(cat({parse("s1", "SELECT $1"), parse("s2", "INSERT INTO t VALUES ($1)"),
            bind("", "s1", {std::string("a")}), execute(""), bind("", "s2", {std::string("b")}),
            execute(""), sync_msg(), bind("", "s2", {std::string("c")}), execute(""), sync_msg()}),
       10);
  s.be(cat({parse_complete(), parse_complete(), bind_complete(), one_row_result("a"),
            bind_complete(), command_complete("INSERT 0 1"), ready('I'), bind_complete(),
            command_complete("INSERT 0 1"), ready('I')}),
       11);
  REQUIRE(s.sink.executions.size() == 3);
  CHECK(s.sink.executions[0].statement_id == s.sink.statements[0].id);
  CHECK(s.sink.executions[1].statement_id == s.sink.statements[1].id);
  CHECK(s.sink.executions[1].rows == 1);
  CHECK(s.sink.executions[1].command_tag == "INSERT 0 1");
  CHECK(s.sink.executions[2].statement_id == s.sink.statements[1].id);
  CHECK(s.sink.timed_of(MessageKind::sync).size() == 2);
}

TEST_CASE("connection lost with a pipeline in flight: everything pending aborted") {
  Session s;
  s.start();
  s.fe(npgsql_batch({"SELECT 1", "SELECT 2"}), 10);
  s.be(cat({parse_complete(), bind_complete(), row_description({"a"}), data_row({"1"})}), 11);
  s.end(EndReason::client_closed, 12);
  REQUIRE(s.sink.executions.size() == 2);
  CHECK(s.sink.executions[0].status == ExecutionStatus::aborted);
  CHECK(s.sink.executions[0].rows == 1);
  CHECK(CaptureSink::events(s.sink.executions[0]) == "received,bound,executed");
  CHECK(s.sink.executions[1].status == ExecutionStatus::aborted);
  CHECK(CaptureSink::events(s.sink.executions[1]) == "received");
  CHECK(s.sink.order.back() == "session_closed");
}

TEST_CASE("a canceled extended execution") {
  Session s;
  s.start();
  s.fe(npgsql_batch({"SELECT pg_sleep(5)"}), 10);
  s.be(cat({parse_complete(), bind_complete(), row_description({"a"})}), 11);
  s.cancel(15);
  s.be(cat({error("57014", "canceling statement due to user request"), ready('I')}), 16);
  REQUIRE(s.sink.executions.size() == 1);
  CHECK(s.sink.executions[0].status == ExecutionStatus::canceled);
}

TEST_CASE("the password message is never kept") {
  Session s;
  s.start();
  s.fe(password("hunter2"), 1);
  s.end(EndReason::client_terminate, 2);
  CHECK(s.sink.statements.empty());
  CHECK(s.sink.executions.empty());
  for (const auto& line : s.sink.order) CHECK(line.find("hunter2") == std::string::npos);
}

TEST_CASE("COPY FROM STDIN failing on bad data in the extended protocol") {
  Session s;
  s.start();
  s.fe(cat({parse("", "COPY t FROM STDIN"), bind("", ""), execute(""), sync_msg()}), 10);
  s.be(cat({parse_complete(), bind_complete(), copy_in_response(1)}), 11);
  s.fe(fe_copy_data("not a number\n"), 12);
  s.be(error("22P02", "invalid input syntax for type integer"), 13);
  s.fe(cat({fe_copy_done(), sync_msg()}), 14);
  s.be(ready('I'), 15);
  REQUIRE(s.sink.executions.size() == 1);
  CHECK(s.sink.executions[0].status == ExecutionStatus::error);
  CHECK(s.sink.executions[0].sqlstate == "22P02");
  CHECK(s.sink.timed_of(MessageKind::sync) ==
        std::vector{std::chrono::nanoseconds(milliseconds(1))});
  s.fe(query("SELECT 1"), 20);
  s.be(cat({one_row_result("1"), ready('I')}), 21);
  REQUIRE(s.sink.executions.size() == 2);
  CHECK(s.sink.executions[1].status == ExecutionStatus::success);
}

TEST_CASE("named portals in a transaction: Close or COMMIT ends a suspended one") {
  Session s;
  s.start();
  Msg ten;
  for (int i = 0; i < 10; ++i) {
    Msg r = data_row({"1"});
    ten.insert(ten.end(), r.begin(), r.end());
  }
  s.fe(query("BEGIN"), 1);
  s.be(cat({command_complete("BEGIN"), ready('T')}), 2);
  s.fe(cat({parse("S_1", "SELECT 1 FROM generate_series(1, 100)"), bind("C_1", "S_1"),
            execute("C_1", 10), bind("C_2", "S_1"), execute("C_2", 10), sync_msg()}),
       10);
  s.be(cat({parse_complete(), bind_complete(), ten, portal_suspended(), bind_complete(), ten,
            portal_suspended(), ready('T')}),
       11);
  CHECK(s.sink.executions.size() == 1);  // BEGIN
  s.fe(cat({close('P', "C_1"), sync_msg()}), 20);
  s.be(cat({close_complete(), ready('T')}), 21);
  REQUIRE(s.sink.executions.size() == 2);
  CHECK(s.sink.executions[1].portal == "C_1");
  CHECK(s.sink.executions[1].rows == 10);
  CHECK(s.sink.executions[1].finished_at == s.wall_at(11));
  s.fe(query("COMMIT"), 30);
  s.be(cat({command_complete("COMMIT"), ready('I')}), 31);
  REQUIRE(s.sink.executions.size() == 4);
  // C_2 was delivered long ago: it is emitted as soon as the COMMIT ends it, before the
  // COMMIT itself (which waits for its own delivery).
  CHECK(s.sink.executions[2].portal == "C_2");
  CHECK(s.sink.executions[2].status == ExecutionStatus::success);
  CHECK(s.sink.executions[2].rows == 10);
  CHECK(s.sink.executions[2].finished_at == s.wall_at(11));
  CHECK(CaptureSink::events(s.sink.executions[2]) == "received,bound,executed,finished,delivered");
  CHECK(s.sink.executions[3].command_tag == "COMMIT");
}

TEST_CASE("re-binding the unnamed portal while a fetch is still pipelined keeps both apart") {
  Session s;
  s.start();
  s.fe(cat({parse("", "SELECT 1"), bind("", ""), execute("", 1), bind("", ""), execute(""),
            sync_msg()}),
       10);
  s.be(cat({parse_complete(), bind_complete(), data_row({"1"}), portal_suspended(), bind_complete(),
            data_row({"1"}), command_complete("SELECT 1"), ready('I')}),
       11);
  REQUIRE(s.sink.executions.size() == 2);
  CHECK(s.sink.executions[0].rows == 1);
  CHECK(s.sink.executions[0].fetches == 1);
  CHECK(s.sink.executions[1].rows == 1);
  CHECK(s.sink.executions[1].command_tag == "SELECT 1");
}

TEST_CASE("DEALLOCATE ALL through the extended protocol closes named statements too") {
  Session s;
  s.start();
  s.fe(cat({parse("S_1", "SELECT 1"), sync_msg()}), 10);
  s.be(cat({parse_complete(), ready('I')}), 11);
  s.fe(cat({parse("", "DEALLOCATE ALL"), bind("", ""), execute(""), sync_msg()}), 20);
  s.be(cat({parse_complete(), bind_complete(), command_complete("DEALLOCATE ALL"), ready('I')}),
       21);
  CHECK(s.sink.events_of(s.sink.statements[0].id) == "parsed,closed");
  // S_1 can be prepared again, and its executions link to the new statement.
  s.fe(cat({parse("S_1", "SELECT 2"), bind("", "S_1"), execute(""), sync_msg()}), 30);
  s.be(cat({parse_complete(), bind_complete(), one_row_result("2"), ready('I')}), 31);
  REQUIRE(s.sink.statements.size() == 3);
  CHECK(s.sink.executions.back().statement_id == s.sink.statements[2].id);
  CHECK(s.sink.executions.back().sql->sql == "SELECT 2");
}

TEST_CASE("--phase-timing sampled: a new text and its first execution precise, the rest not") {
  pglc::lifecycle::TrackerConfig config;
  config.timing = pglc::lifecycle::TimingMode::sampled;
  config.precise_sample_rate = 0;
  Session s(config);
  s.start();
  // pgjdbc: S_1 prepared once, bound three times.
  s.fe(cat({parse("S_1", "SELECT $1::int"), bind("", "S_1", {"1"}), execute(""), sync_msg()}), 10);
  s.be(cat({parse_complete(), bind_complete(), data_row({"1"}), command_complete("SELECT 1"),
            ready('I')}),
       12);
  for (int i = 0; i < 2; ++i) {
    s.fe(cat({bind("", "S_1", {"2"}), execute(""), sync_msg()}), 20 + 10 * i);
    s.be(cat({bind_complete(), data_row({"2"}), command_complete("SELECT 1"), ready('I')}),
         22 + 10 * i);
  }
  // pgbench -M extended: the unnamed statement parsed again with a known text, then a new one.
  for (const char* sql : {"SELECT $1::int", "SELECT 2"}) {
    s.fe(cat({parse("", sql), bind("", ""), execute(""), sync_msg()}), 50);
    s.be(cat({parse_complete(), bind_complete(), command_complete("SELECT 1"), ready('I')}), 51);
  }
  s.fe(query("SELECT 3"), 60);
  s.be(cat({command_complete("SELECT 1"), ready('I')}), 61);
  CHECK(s.flushes == "PBbbpbPB");

  using pglc::lifecycle::Timing;
  REQUIRE(s.sink.statements.size() == 4);
  CHECK(s.sink.statements[0].timing == Timing::precise);
  CHECK(s.sink.statements[1].timing == Timing::passive);
  CHECK(s.sink.statements[2].timing == Timing::precise);
  CHECK(s.sink.statements[3].timing == Timing::precise);  // simple: nothing to hide
  REQUIRE(s.sink.executions.size() == 6);
  const Timing want[] = {Timing::precise, Timing::passive, Timing::passive,
                         Timing::passive, Timing::precise, Timing::precise};
  for (int i = 0; i < 6; ++i) {
    CAPTURE(i);
    CHECK(s.sink.executions[i].timing == want[i]);
  }
  // Parse time travels with the first execution of a precisely timed statement only.
  CHECK(s.sink.executions[0].parse_seconds.has_value());
  CHECK_FALSE(s.sink.executions[3].parse_seconds.has_value());
  CHECK(s.sink.executions[4].parse_seconds.has_value());
}

TEST_CASE("--phase-timing precise and passive: every Parse/Bind alike") {
  for (auto mode : {pglc::lifecycle::TimingMode::precise, pglc::lifecycle::TimingMode::passive}) {
    pglc::lifecycle::TrackerConfig config;
    config.timing = mode;
    Session s(config);
    s.start();
    for (int i = 0; i < 2; ++i) {
      s.fe(cat({parse("", "SELECT 1"), bind("", ""), execute(""), sync_msg()}), 10 + i);
      s.be(cat({parse_complete(), bind_complete(), command_complete("SELECT 1"), ready('I')}),
           10.5 + i);
    }
    const bool precise = mode == pglc::lifecycle::TimingMode::precise;
    CHECK(s.flushes == (precise ? "PBPB" : "pbpb"));
    REQUIRE(s.sink.executions.size() == 2);
    const auto want = precise ? pglc::lifecycle::Timing::precise : pglc::lifecycle::Timing::passive;
    CHECK(s.sink.executions[1].timing == want);
    CHECK(s.sink.statements[1].timing == want);
    CHECK(s.sink.executions[0].parse_seconds.has_value() == precise);
  }
}

TEST_CASE(
    "a passively timed execution's total starts at its Bind, not at answers bundled with it") {
  pglc::lifecycle::TrackerConfig config;
  config.timing = pglc::lifecycle::TimingMode::passive;
  Session s(config);
  s.start();
  // Without the proxy's Flush the server sends ParseComplete, BindComplete and the result
  // in one packet: they all carry its arrival time.
  s.fe(cat({parse("", "SELECT 1"), bind("", ""), describe('P', ""), execute(""), sync_msg()}), 10);
  s.be(cat({parse_complete(), bind_complete(), row_description({"a"}), data_row({"1"}),
            command_complete("SELECT 1"), ready('I')}),
       14);
  REQUIRE(s.sink.executions.size() == 1);
  const auto& e = s.sink.executions[0];
  CHECK(e.timing == pglc::lifecycle::Timing::passive);
  CHECK(ms(e.total_seconds) == doctest::Approx(4.0));  // was 0: counted from the bundle
  CHECK(ms(e.first_row_seconds) == doctest::Approx(4.0));
}

TEST_CASE("executions made from reused records and blocks keep their own ids and events") {
  // The tracker reuses an emitted record's id strings and event vector, the map node of
  // the unnamed portal and the blocks of its executions: nothing of one may show in the
  // next, pipelined or one after the other.
  Session s(pglc::lifecycle::TrackerConfig{});
  s.start();
  s.fe(cat({parse("S_1", "SELECT $1::int", {23}), sync_msg()}), 10);
  s.be(cat({parse_complete(), ready('I')}), 11);
  for (int i = 0; i < 20; ++i) {
    const double t = 20 + 10 * i;
    if (i % 2 == 0) {
      s.fe(cat({bind("", "S_1", {std::to_string(i)}), execute(""), sync_msg()}), t);
      s.be(cat({bind_complete(), data_row({"1"}), command_complete("SELECT 1"), ready('I')}),
           t + 1);
    } else {  // two executions in one pipeline, the second failing
      s.fe(cat({bind("", "S_1", {"1"}), execute(""), bind("p", "S_1", {"2"}), execute("p"),
                sync_msg()}),
           t);
      s.be(cat({bind_complete(), command_complete("SELECT 0"), bind_complete(),
                error("22012", "division by zero"), ready('I')}),
           t + 2);
    }
  }
  REQUIRE(s.sink.statements.size() == 1);
  const std::string& sid = s.sink.statements[0].id;
  REQUIRE(s.sink.executions.size() == 30);
  std::set<std::string> ids;
  for (const auto& e : s.sink.executions) {
    CHECK(e.id.size() == 36);
    ids.insert(e.id);
    CHECK(e.statement_id == sid);
    CHECK(e.session_id == s.sink.opened.at(0).id);
    // received, bound, executed, finished, delivered: each once, in order
    REQUIRE(e.events.size() == 5);
    CHECK(e.events.front().first == pglc::lifecycle::ExecutionEvent::received);
    CHECK(e.events.back().first == pglc::lifecycle::ExecutionEvent::delivered);
    for (std::size_t k = 1; k < e.events.size(); ++k)
      CHECK(e.events[k - 1].first != e.events[k].first);
  }
  CHECK(ids.size() == 30);
  // Per round: even i one execution, odd i a success and a failure on portal "p".
  CHECK(s.sink.executions[2].portal == "p");
  CHECK(s.sink.executions[2].status == ExecutionStatus::error);
  CHECK(s.sink.executions[2].sqlstate == "22012");
  CHECK(s.sink.executions[3].portal == "");
  CHECK(s.sink.executions[3].status == ExecutionStatus::success);
  CHECK(s.sink.executions[3].rows == 1);
  CHECK(s.sink.executions[4].rows == 0);
  CHECK(s.sink.executions[4].sqlstate == "");
  CHECK(s.sink.executions[29].portal == "p");
}
