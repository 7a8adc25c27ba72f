// What a session may make the tracker hold, and what its records may carry: the owed-
// response bound the relay's backpressure reads, cut error messages, masked values.
#include <doctest/doctest.h>

#include "tests/lifecycle/wire.hpp"

using namespace pglc::testwire;
using pglc::lifecycle::EndReason;
using pglc::lifecycle::ExecutionStatus;

TEST_CASE("owed bytes grow with a pipeline the server has not answered and drain with it") {
  Session s;
  s.start();
  CHECK(s.owed_bytes() == 0);
  s.fe(parse("s", "SELECT $1::int"), 1);
  std::size_t before = s.owed_bytes();
  CHECK(before > 0);
  // A client that pipelines and never reads: every Bind/Execute/Sync is owed an answer.
  for (int i = 0; i < 1000; ++i) s.fe(cat({bind("", "s", {"1"}), execute(""), sync_msg()}), 2);
  const std::size_t owed = s.owed_bytes();
  CHECK(owed > before + 1000 * 3 * 64);
  CHECK(owed < 1000 * 4096);  // an estimate of real objects, not a wild overcount
  s.be(cat({parse_complete()}), 3);
  for (int i = 0; i < 1000; ++i) {
    s.be(cat({bind_complete(), data_row({"1"}), command_complete("SELECT 1"), ready('I')}), 4);
  }
  CHECK(s.owed_bytes() == 0);
  REQUIRE(s.sink.executions.size() == 1000);

  // Query texts count with their size; an error that skips to Sync drains them too.
  s.fe(cat({query(std::string(10000, ' ') + "SELECT 1")}), 5);
  CHECK(s.owed_bytes() > 10000);
  s.be(cat({command_complete("SELECT 1"), ready('I')}), 6);
  CHECK(s.owed_bytes() == 0);
  s.fe(cat({parse("", "SELEC"), bind("", ""), execute(""), sync_msg()}), 7);
  CHECK(s.owed_bytes() > 0);
  s.be(cat({error("42601", "syntax error"), ready('I')}), 8);
  CHECK(s.owed_bytes() == 0);
  // Ending the session releases everything.
  s.fe(cat({bind("", "s", {"1"}), execute(""), sync_msg()}), 9);
  s.end(EndReason::client_closed, 10);
  CHECK(s.owed_bytes() == 0);
}

TEST_CASE("error messages are cut, and bound values are masked unless parameters are recorded") {
  for (bool record : {false, true}) {
    pglc::lifecycle::TrackerConfig config;
    config.record_parameters = record;
    config.max_error_length = 100;
    Session s(config);
    s.start();
    s.fe(cat({parse("s", "SELECT $1::int, $2::text, $3::text")}), 1);
    s.fe(cat({bind("", "s", {"bind-secret-2", "ab", std::nullopt}), execute(""), sync_msg()}), 2);
    s.be(cat({parse_complete(),
              error("22P02", "invalid input syntax for type integer: \"bind-secret-2\" near ab, "
                             "\"ab\"")}),
         3);
    s.be(ready('I'), 4);
    // A message that echoes a huge value: cut on a UTF-8 boundary.
    s.fe(cat({bind("", "s", {"x"}), execute(""), sync_msg()}), 5);
    s.be(cat({error("22001", "value too long: " + std::string(1 << 20, 'v') + "\xc3\xa9")}), 6);
    s.be(ready('I'), 7);
    REQUIRE(s.sink.executions.size() == 2);
    const auto& first = s.sink.executions[0];
    CHECK(first.status == ExecutionStatus::error);
    if (record) {
      CHECK(first.error_message == "invalid input syntax for type integer: \"bind-secret-2\" near "
                                   "ab, \"ab\"");
    } else {
      CHECK(first.error_message == "invalid input syntax for type integer: \"***\" near ab, \"***\"");
    }
    CHECK(s.sink.executions[1].error_message.size() <= 100);
    CHECK(s.sink.executions[1].error_message.rfind("value too long: vvv", 0) == 0);
  }

  // More bound text than the tracker keeps for masking: the message is withheld.
  Session s;
  s.start();
  s.fe(cat({parse("s", "SELECT $1::int")}), 1);
  s.fe(cat({bind("", "s", {std::string(20000, 'q')}), execute(""), sync_msg()}), 2);
  s.be(cat({parse_complete(), error("22P02", "invalid input syntax: \"" + std::string(20000, 'q') +
                                                 "\"")}),
       3);
  s.be(ready('I'), 4);
  REQUIRE(s.sink.executions.size() == 1);
  CHECK(s.sink.executions[0].error_message.find("qqq") == std::string::npos);
  CHECK(s.sink.executions[0].sqlstate == "22P02");
}

TEST_CASE("answers read together: the group's time goes to what ran, not to the first answer") {
  using pglc::lifecycle::MessageKind;
  using std::chrono::milliseconds;
  auto only = [](const std::vector<std::chrono::nanoseconds>& v) {
    REQUIRE(v.size() == 1);
    return v[0];
  };
  SUBCASE("precise timing: Parse and Bind answered alone, Describe waits with the rows") {
    Session s;
    s.start();
    s.fe(cat({parse("", "SELECT pg_sleep(1)"), bind("", ""), describe('P', ""), execute(""),
              sync_msg()}),
         10);
    s.be(parse_complete(), 11);
    s.be(bind_complete(), 12);
    s.be(cat({row_description({"pg_sleep"}), data_row({""}), command_complete("SELECT 1"),
              ready('I')}),
         1012);
    CHECK(only(s.sink.timed_of(MessageKind::parse)) == milliseconds(1));
    CHECK(only(s.sink.timed_of(MessageKind::bind)) == milliseconds(1));
    CHECK(only(s.sink.timed_of(MessageKind::describe)) == milliseconds(0));
    CHECK(only(s.sink.timed_of(MessageKind::execute)) == milliseconds(1000));
    CHECK(only(s.sink.timed_of(MessageKind::sync)) == milliseconds(0));
  }
  SUBCASE("passive timing: everything answered at Sync") {
    Session s;
    s.start();
    s.fe(cat({parse("", "SELECT pg_sleep(1)"), bind("", ""), describe('P', ""), execute(""),
              sync_msg()}),
         10);
    s.be(cat({parse_complete(), bind_complete(), row_description({"pg_sleep"}), data_row({""}),
              command_complete("SELECT 1"), ready('I')}),
         1012);
    CHECK(only(s.sink.timed_of(MessageKind::parse)) == milliseconds(0));
    CHECK(only(s.sink.timed_of(MessageKind::describe)) == milliseconds(0));
    CHECK(only(s.sink.timed_of(MessageKind::execute)) == milliseconds(1002));
    CHECK(only(s.sink.timed_of(MessageKind::sync)) == milliseconds(0));
  }
  SUBCASE("a batch of three answered together: split evenly between the Executes") {
    Session s;
    s.start();
    Msg batch;
    for (int i = 0; i < 3; ++i) batch = cat({batch, parse("", "SELECT 1"), bind("", ""), execute("")});
    s.fe(cat({batch, sync_msg()}), 0);
    Msg answers;
    for (int i = 0; i < 3; ++i) {
      answers = cat({answers, parse_complete(), bind_complete(), data_row({"1"}),
                     command_complete("SELECT 1")});
    }
    s.be(cat({answers, ready('I')}), 30);
    CHECK(s.sink.timed_of(MessageKind::execute) ==
          std::vector<std::chrono::nanoseconds>(3, milliseconds(10)));
    CHECK(s.sink.timed_of(MessageKind::parse) ==
          std::vector<std::chrono::nanoseconds>(3, milliseconds(0)));
    CHECK(s.sink.executions.size() == 3);
  }
}

TEST_CASE("a Parse's parameter types count while its statement waits for ParseComplete") {
  Session s;
  s.start();
  Builder b('P');
  b.str("many").str("SELECT 1").i16(10000);
  for (int i = 0; i < 10000; ++i) b.i32(23);
  s.fe(cat({b.done(), sync_msg()}), 1);
  // "{23,23,...}": three bytes per type, held by the statement until its record goes.
  CHECK(s.owed_bytes() > 30000);
  s.be(cat({parse_complete(), ready('I')}), 2);
  CHECK(s.owed_bytes() == 0);
  REQUIRE(s.sink.statements.size() == 1);
  CHECK(s.sink.statements[0].param_types.size() == 30001);
}
