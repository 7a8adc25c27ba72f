// Whatever order messages come in — including orders no server would send — the tracker
// must not crash, must emit every execution exactly once, only after its statement, and
// must close the session last.
#include <doctest/doctest.h>

#include <random>
#include <set>

#include "tests/lifecycle/wire.hpp"

using namespace pglc::testwire;
using pglc::lifecycle::EndReason;

TEST_CASE("random message orders: every execution once, after its statement") {
  const std::vector<Msg> frontend = {
      query("SELECT 1"),
      query("SELECT 1; SELECT 2"),
      query("PREPARE p AS SELECT 1"),
      query("EXECUTE p"),
      query("DEALLOCATE ALL"),
      query("DISCARD ALL"),
      query("COPY t FROM STDIN"),
      parse("", "SELECT $1"),
      parse("a", "SELECT 2"),
      bind("", ""),
      bind("c", "a", {std::string("x")}),
      describe('S', "a"),
      describe('P', ""),
      execute(""),
      execute("c", 10),
      close('S', "a"),
      close('P', "c"),
      sync_msg(),
      flush(),
      function_call(1),
      fe_copy_data("x"),
      fe_copy_done(),
      copy_fail("no"),
      password("pw"),
  };
  const std::vector<Msg> backend = {
      parse_complete(),
      bind_complete(),
      close_complete(),
      parameter_description({23}),
      row_description({"a"}),
      no_data(),
      data_row({"1"}),
      command_complete("SELECT 1"),
      command_complete("PREPARE"),
      command_complete("DEALLOCATE ALL"),
      empty_query(),
      portal_suspended(),
      error("22012", "division by zero"),
      error("57014", "canceled"),
      ready('I'),
      ready('T'),
      copy_in_response(1),
      copy_out_response(1),
      be_copy_data("x"),
      be_copy_done(),
      notice("n"),
      parameter_status("application_name", "x"),
      function_call_response("1"),
  };
  for (unsigned seed = 1; seed <= 300; ++seed) {
    std::mt19937 rng(seed);
    Session s;
    s.auto_write = (seed % 3) != 0;
    s.start();
    double t = 1;
    for (int step = 0; step < 200; ++step) {
      t += 0.1;
      switch (rng() % 6) {
        case 0:
        case 1:
          s.fe(frontend[rng() % frontend.size()], t);
          break;
        case 2:
        case 3:
        case 4:
          s.be(backend[rng() % backend.size()], t);
          break;
        default:
          if (rng() % 4 == 0) s.cancel(t);
          s.written(s.client_offset(), t);
      }
    }
    s.end(seed % 2 ? EndReason::client_closed : EndReason::backend_closed, t + 1);

    std::set<std::string> statement_ids;
    std::set<std::string> execution_ids;
    std::size_t next_statement = 0, next_execution = 0;
    for (const auto& line : s.sink.order) {
      if (line.rfind("statement ", 0) == 0) {
        statement_ids.insert(s.sink.statements.at(next_statement++).id);
      } else if (line.rfind("execution ", 0) == 0) {
        const auto& e = s.sink.executions.at(next_execution++);
        CHECK(statement_ids.count(e.statement_id) == 1);
        CHECK(execution_ids.insert(e.id).second);
        CHECK(!e.events.empty());
        for (std::size_t i = 1; i < e.events.size(); ++i) {
          CHECK(e.events[i - 1].second <= e.events[i].second);
        }
      }
    }
    REQUIRE(s.sink.order.back() == "session_closed");
    CHECK(s.sink.closed.size() == 1);
  }
}
