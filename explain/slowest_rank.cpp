#include "explain/slowest_rank.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <optional>
#include <thread>

namespace pglc::explain {
namespace {

using storage::StoreQuery;

struct Ranked {
  std::int64_t micros = 0;
  std::string id;
};

// SQLite's ids are integers: compared as such. PostgreSQL's uuid text (fixed length,
// lowercase hex) orders as the uuids do.
bool id_less(const std::string& a, const std::string& b, bool postgres) {
  if (!postgres && a.size() != b.size()) return a.size() < b.size();
  return a < b;
}

// One slice: ids in [from, until) (no upper bound when `until` is empty).
std::vector<Ranked> rank_slice(StoreQuery& q, std::size_t n, lifecycle::WallMicros since,
                               lifecycle::WallMicros from,
                               std::optional<lifecycle::WallMicros> until,
                               const RankFilter& filter) {
  std::vector<std::string> params{std::to_string(since)};
  // PostgreSQL: float8 (exact to the microsecond for any duration), as numeric arithmetic
  // on every row of the range made the ranking a third slower.
  const std::string took = q.postgres() ? "date_part('epoch', e.finished_at - e.began_at) * 1000000"
                                        : "e.finished_at - e.began_at";
  std::string sql = "SELECT e.id, " + took + " FROM executions e WHERE " + q.id_since("e.id", from);
  if (until) sql += " AND " + q.id_before("e.id", *until);
  sql += " AND " + q.micros("e.began_at") + " >= CAST(?1 AS BIGINT) AND e.finished_at IS NOT NULL";
  if (!filter.fingerprint.empty()) {
    params.push_back(filter.fingerprint);
    sql +=
        " AND e.statement_id IN (SELECT st.id FROM statements st JOIN sql_texts t ON "
        "t.hash = st.sql_hash WHERE t.fingerprint = ?" +
        std::to_string(params.size()) + ")";
  }
  if (!filter.application.empty()) {
    params.push_back(filter.application);
    sql += " AND e.application_name LIKE ?" + std::to_string(params.size());
  }
  sql += " ORDER BY 2 DESC, e.id LIMIT " + std::to_string(n);
  std::vector<Ranked> out;
  for (const storage::QueryRow& r : q.query(sql, params)) {
    if (r[0] && r[1]) out.push_back({std::llround(std::stod(*r[1])), *r[0]});
  }
  return out;
}

// began_at of the first or the last execution from `since` on, by id (the primary key).
std::optional<lifecycle::WallMicros> edge(StoreQuery& q, lifecycle::WallMicros since, bool last) {
  const auto rows =
      q.query("SELECT " + q.micros("began_at") + " FROM executions WHERE " +
                  q.id_since("id", since) + " ORDER BY id" + (last ? " DESC" : "") + " LIMIT 1",
              {});
  if (rows.empty() || !rows[0][0]) return std::nullopt;
  return std::stoll(*rows[0][0]);
}

}  // namespace

unsigned default_rank_slices() {
  return std::clamp(std::thread::hardware_concurrency(), 1u, 4u);
}

std::vector<std::string> slowest_ids(const std::string& storage_spec, StoreQuery& q, std::size_t n,
                                     lifecycle::WallMicros since, const RankFilter& filter,
                                     unsigned slices) {
  if (n == 0) return {};
  // Slices of the time the rows span, not of the --since window: a store holds a week
  // when asked for 30 days.
  std::vector<std::vector<Ranked>> found;
  const auto lo = edge(q, since, false), hi = edge(q, since, true);
  if (!lo) return {};
  const lifecycle::WallMicros span = std::max<lifecycle::WallMicros>(*hi - *lo, 0);
  if (slices <= 1 || span < 1000 * static_cast<lifecycle::WallMicros>(slices)) {
    found.push_back(rank_slice(q, n, since, since, std::nullopt, filter));
  } else {
    found.resize(slices);
    std::vector<std::exception_ptr> failed(slices);
    std::vector<std::thread> threads;
    // Joins what started also when starting another thread throws.
    struct Joiner {
      std::vector<std::thread>& threads;
      ~Joiner() {
        for (std::thread& t : threads) {
          if (t.joinable()) t.join();
        }
      }
    } joiner{threads};
    for (unsigned i = 0; i < slices; ++i) {
      // Slice 0 from `since`, the last without an upper bound: rows outside [lo, hi]
      // (another proxy's clock) are still ranked.
      const lifecycle::WallMicros from = i == 0 ? since : *lo + span * i / slices;
      std::optional<lifecycle::WallMicros> until;
      if (i + 1 < slices) until = *lo + span * (i + 1) / slices;
      threads.emplace_back([&, i, from, until] {
        try {
          auto own = storage::open_store_query(storage_spec);
          found[i] = rank_slice(*own, n, since, from, until, filter);
        } catch (...) {
          failed[i] = std::current_exception();
        }
      });
    }
    for (std::thread& t : threads) t.join();
    for (const auto& e : failed) {
      if (e) std::rethrow_exception(e);
    }
  }
  std::vector<Ranked> all;
  for (auto& f : found) all.insert(all.end(), f.begin(), f.end());
  const bool pg = q.postgres();
  std::sort(all.begin(), all.end(), [pg](const Ranked& a, const Ranked& b) {
    if (a.micros != b.micros) return a.micros > b.micros;
    return id_less(a.id, b.id, pg);
  });
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < all.size() && i < n; ++i) ids.push_back(all[i].id);
  return ids;
}

}  // namespace pglc::explain
