// The queued form of an execution keeps every stored column, and the recorder's byte
// bound counts it the same before (from the record, to decide) and after (from the item,
// to release).
#include <doctest/doctest.h>

#include <string>

#include "lifecycle/uuid.hpp"
#include "storage/item.hpp"

using namespace pglc;

namespace {

lifecycle::ExecutionRecord record() {
  lifecycle::ExecutionRecord r;
  r.id = lifecycle::uuid_v7();
  r.statement_id = lifecycle::uuid_v7();
  r.session_id = lifecycle::uuid_v7();
  r.began_at = 1000;
  r.finished_at = 1900;
  r.command_tag = "SELECT 1";
  r.application_name = "pgbench";
  r.rows = 1;
  r.result_bytes = 11;
  r.fetches = 1;
  r.timing = lifecycle::Timing::passive;
  r.events = {{lifecycle::ExecutionEvent::received, 1000},
              {lifecycle::ExecutionEvent::executed, 1500},
              {lifecycle::ExecutionEvent::executed, 1400},  // a repeat: the first time wins
              {lifecycle::ExecutionEvent::finished, 1900},
              {lifecycle::ExecutionEvent::delivered, 1950}};
  // Denormalized for the metrics: not queued.
  r.user_name = "a user name longer than the small-string buffer";
  r.total_seconds = 0.0009;
  return r;
}

}  // namespace

TEST_CASE("a queued execution keeps its columns and no heap text in the common case") {
  const lifecycle::ExecutionRecord r = record();
  const storage::Item item(std::in_place_type<storage::ExecutionItem>, r, 4.0);
  const auto& x = std::get<storage::ExecutionItem>(item);
  CHECK(x.id.view() == r.id);
  CHECK(x.statement_id.view() == r.statement_id);
  CHECK(x.session_id.view() == r.session_id);
  CHECK(x.began_at == 1000);
  CHECK(x.finished_at == 1900);
  CHECK_FALSE(x.times.bound.has_value());
  CHECK(x.times.executed == 1400);
  CHECK(x.times.delivered == 1950);
  CHECK(x.event_rows() == 4);  // received, executed, finished, delivered
  CHECK(x.sample_rate == 4.0);
  CHECK(x.timing == lifecycle::Timing::passive);
  CHECK(x.command_tag == "SELECT 1");
  CHECK(x.rare == nullptr);
  CHECK(x.portal().empty());
  CHECK_FALSE(x.params().has_value());
  // Nothing beyond the item itself.
  CHECK(storage::item_bytes(r) == sizeof(storage::Item));
  CHECK(storage::item_bytes(item) == storage::item_bytes(r));
}

TEST_CASE("a queued execution with a portal, parameters, an error and a long id") {
  lifecycle::ExecutionRecord r = record();
  r.id = std::string(50, 'x');  // not ours, but kept whole
  r.portal = "C_1";
  r.params = std::string(100, 'p');
  r.status = lifecycle::ExecutionStatus::error;
  r.sqlstate = "22012";
  r.error_message = "division by zero, and a message longer than fifteen bytes";
  const storage::Item item(std::in_place_type<storage::ExecutionItem>, r, 1.0);
  const auto& x = std::get<storage::ExecutionItem>(item);
  CHECK(x.id.view() == r.id);
  REQUIRE(x.rare != nullptr);
  CHECK(x.portal() == "C_1");
  CHECK(x.params() == r.params);
  CHECK(x.error_message() == r.error_message);
  CHECK(x.sqlstate == "22012");
  CHECK(x.status == lifecycle::ExecutionStatus::error);
  CHECK(storage::item_bytes(r) > sizeof(storage::Item) + 150);
  CHECK(storage::item_bytes(item) == storage::item_bytes(r));
}
