// explain --slowest ranks in time slices on parallel connections: whatever the number of
// slices, the answer must be the one ranking of every execution of the range (longest
// first, ties by id), in both stores, with the filters, and for a --since window wider
// than what the store holds.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "explain/slowest_rank.hpp"
#include "lifecycle/uuid.hpp"
#include "storage/recorder.hpp"
#include "storage/sqlite_id.hpp"
#include "storage/store_query.hpp"
#include "tests/storage/store_setup.hpp"

using namespace pglc;

namespace {

constexpr int kExecutions = 600;
constexpr lifecycle::WallMicros kDay = 86'400'000'000;

struct Row {
  int i;
  std::string uuid;
  lifecycle::WallMicros took;
  bool powerbi;
};

// 600 executions over three days ending at `end`; durations repeat (ties at every cut),
// every 50th never finished.
std::vector<Row> fill(const std::string& storage, lifecycle::WallMicros end) {
  auto rec = storage::open_recorder(test::options_for(storage));
  rec->start();
  const lifecycle::WallMicros t0 = end - 3 * kDay;
  lifecycle::SessionRecord session;
  session.id = lifecycle::uuid_v7_with(t0 / 1000 - 1, 0);
  session.proxy_instance = "proxy-a:6432";
  session.connected_at = t0 - 1000;
  rec->session_opened(session);
  lifecycle::StatementRecord st;
  st.id = lifecycle::uuid_v7_with(t0 / 1000 - 1, 1);
  st.session_id = session.id;
  st.received_at = t0 - 500;
  rec->statement(st);
  std::vector<Row> rows;
  for (int i = 0; i < kExecutions; ++i) {
    const lifecycle::WallMicros began = t0 + i * (3 * kDay / kExecutions);
    lifecycle::ExecutionRecord e;
    e.id = lifecycle::uuid_v7_with(began / 1000, static_cast<std::uint32_t>(i));
    e.statement_id = st.id;
    e.session_id = session.id;
    e.began_at = began;
    const lifecycle::WallMicros took = ((i * 7919) % 100) * 1000;
    const bool finished = i % 50 != 7;
    if (finished) e.finished_at = began + took;
    e.status = finished ? lifecycle::ExecutionStatus::success : lifecycle::ExecutionStatus::aborted;
    e.application_name = i % 3 == 0 ? "PowerBI Desktop" : "psql";
    e.events = {{lifecycle::ExecutionEvent::received, began}};
    rec->execution(e);
    if (finished) rows.push_back({i, e.id, took, i % 3 == 0});
  }
  rec->stop();
  REQUIRE(rec->stats().dropped_queue_full + rec->stats().dropped_store_error == 0);
  return rows;
}

std::vector<std::string> expected(std::vector<Row> rows, std::size_t n, lifecycle::WallMicros since,
                                  lifecycle::WallMicros t0, bool powerbi_only, bool postgres) {
  std::erase_if(rows, [&](const Row& r) {
    return t0 + r.i * (3 * kDay / kExecutions) < since || (powerbi_only && !r.powerbi);
  });
  // Ids grow with i (time, then the sequence): ties go to the earlier execution.
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    return a.took != b.took ? a.took > b.took : a.i < b.i;
  });
  std::vector<std::string> out;
  for (std::size_t k = 0; k < rows.size() && k < n; ++k) {
    out.push_back(postgres ? rows[k].uuid : std::to_string(storage::sqlite_id(rows[k].uuid)));
  }
  return out;
}

}  // namespace

TEST_CASE("slowest_ids gives one ranking whatever the number of slices, in both stores") {
  test::TempDir dir;
  const lifecycle::WallMicros end = lifecycle::to_wall(lifecycle::now());
  for (const std::string& storage :
       {"sqlite:" + dir.file("rank.db"), test::fresh_pg_database("pglc_rank")}) {
    CAPTURE(storage);
    const std::vector<Row> rows = fill(storage, end);
    auto q = storage::open_store_query(storage);
    for (const lifecycle::WallMicros since : {end - 30 * kDay, end - kDay, end + kDay}) {
      for (const bool powerbi : {false, true}) {
        for (const std::size_t n : {std::size_t{1}, std::size_t{7}, std::size_t{50}}) {
          CAPTURE(since);
          CAPTURE(powerbi);
          CAPTURE(n);
          const explain::RankFilter filter{"", powerbi ? "PowerBI%" : ""};
          const auto want = expected(rows, n, since, end - 3 * kDay, powerbi, q->postgres());
          CHECK(want.size() == (since > end ? 0 : n));
          for (const unsigned slices : {1u, 2u, 3u, 4u}) {
            CAPTURE(slices);
            CHECK(explain::slowest_ids(storage, *q, n, since, filter, slices) == want);
          }
        }
      }
    }
    CHECK(explain::slowest_ids(storage, *q, 0, end - kDay, {}, 4).empty());
  }
}

TEST_CASE("id_literal names only ids of its store") {
  test::TempDir dir;
  const std::string sqlite = "sqlite:" + dir.file("ids.db");
  { auto rec = storage::open_recorder(test::options_for(sqlite)); }  // creates the schema
  auto q = storage::open_store_query(sqlite);
  CHECK(q->id_literal("1234567890") == "1234567890");
  CHECK_THROWS(q->id_literal("1; DROP TABLE executions"));
  CHECK_THROWS(q->id_literal(""));
  const std::string conninfo = test::fresh_pg_database("pglc_ids");
  { auto rec = storage::open_recorder(test::options_for(conninfo)); }
  auto pg = storage::open_store_query(conninfo);
  const std::string uuid = lifecycle::uuid_v7_with(1'800'000'000'000, 3);
  CHECK(pg->id_literal(uuid) == "'" + uuid + "'::uuid");
  CHECK_THROWS(pg->id_literal("' OR '1'='1"));
}
