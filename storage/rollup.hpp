// Rollups (DESIGN §3): every execution aggregated in memory, before sampling,
// --min-duration and any drop of raw rows, per (minute, proxy, fingerprint, user,
// database, application, status, SQLSTATE), and written once per minute. They are the
// truth for counts and percentiles: query_stats and error_stats read them.
//
// Two halves:
// * RollupAggregator, on the io threads: one shard per thread (its mutex is taken by that
//   thread per execution, and by the writer once a second to take the shard's contents:
//   no lock is shared between io threads). The shard is keyed by the SqlText itself, since
//   the fingerprint is computed later, on the writer thread (deferred analysis).
// * RollupBook, on the writer thread: resolves texts to fingerprints, merges the shards
//   into minutes, hands out the minutes that are over and the all-time totals they change.
//
// Counts are exact whatever happens to raw rows; the memory is a few hundred bytes per
// active key per minute.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "lifecycle/records.hpp"
#include "storage/log_histogram.hpp"

namespace pglc::storage {

struct RollupStats {
  std::uint64_t calls = 0;
  std::uint64_t rows = 0;
  std::int64_t total_us = 0;
  std::int64_t min_us = 0;  // of executions with a total (0 when none)
  std::int64_t max_us = 0;
  std::uint64_t timed = 0;             // executions with a total
  lifecycle::WallMicros first_at = 0;  // began_at of the first and last execution
  lifecycle::WallMicros last_at = 0;
  std::string last_error;  // the latest execution's error message (already cut and masked)
  LogHistogram total, first_row, bind, parse;

  void add(const lifecycle::ExecutionRecord& r);
  void merge(const RollupStats& o);
};

// What a rollup row is about (the minute and the proxy are the row's).
struct RollupKey {
  std::string fingerprint;  // "" when the text was not analysed (stored as NULL)
  std::string user_name;
  std::string database_name;
  std::string application_name;
  lifecycle::ExecutionStatus status = lifecycle::ExecutionStatus::success;
  std::string sqlstate;  // "" for success and aborted

  auto tie() const {
    return std::tie(fingerprint, user_name, database_name, application_name, status, sqlstate);
  }
  bool operator<(const RollupKey& o) const { return tie() < o.tie(); }
  bool operator==(const RollupKey& o) const { return tie() == o.tie(); }
};

// Per (fingerprint, user, database) of one proxy: the merged histogram of the total time
// of every execution that ran (not aborted), all time. query_stats reads its percentiles
// from here instead of merging the histograms of every rollup_totals row per query.
struct QueryTotal {
  std::string fingerprint;
  std::string user_name;
  std::string database_name;
  LogHistogram total;
};

struct RollupRow {
  lifecycle::WallMicros minute = 0;  // start of the minute; 0 for an all-time total
  RollupKey key;
  std::string normalized_sql;  // a text of the fingerprint (totals only)
  RollupStats stats;
};

class RollupAggregator {
 public:
  RollupAggregator();
  ~RollupAggregator();
  RollupAggregator(const RollupAggregator&) = delete;
  RollupAggregator& operator=(const RollupAggregator&) = delete;

  // Any io thread, every execution.
  void add(const lifecycle::ExecutionRecord& r);

  struct Entry {
    lifecycle::WallMicros minute;
    std::shared_ptr<const lifecycle::SqlText> text;
    RollupKey key;  // fingerprint still empty
    RollupStats stats;
  };
  // The writer: what every shard holds now (the shards start over).
  std::vector<Entry> drain();

 private:
  struct Shard;
  Shard& shard();

  const std::uint64_t id_;
  std::mutex registry_mutex_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

// The writer's side: pending minutes and all-time totals of this proxy.
class RollupBook {
 public:
  // `analyse` completes a deferred text: its fingerprint and normalized text.
  using Analyse = std::function<std::pair<std::optional<std::string>, std::optional<std::string>>(
      const lifecycle::SqlText&)>;
  explicit RollupBook(Analyse analyse);

  void absorb(std::vector<RollupAggregator::Entry> entries);

  // Minutes that started before `before` (all of them when nullopt), and the all-time
  // totals as they will be once those are written. After writing, `commit` makes the
  // totals the book's; after a failure, `restore` puts the minutes back.
  struct Flush {
    std::vector<RollupRow> minutes;
    std::vector<RollupRow> totals;
    std::vector<QueryTotal> queries;  // every query key that `totals` touch, merged anew
  };
  Flush take(std::optional<lifecycle::WallMicros> before);
  void commit(const Flush& f);
  void restore(Flush f);

  // The store's totals for this proxy, before anything of this run: merged in once.
  void set_base_totals(std::vector<RollupRow> rows);
  // `pglifecycle reset` cleared the store's totals: forget ours; the next flush loads the
  // store's (what came after the reset) and merges the pending minutes onto them.
  void forget_totals() {
    totals_.clear();
    base_loaded_ = false;
  }
  bool has_base_totals() const { return base_loaded_; }
  bool empty() const { return minutes_.empty(); }
  std::size_t pending_keys() const { return minutes_.size(); }

 private:
  Analyse analyse_;
  std::map<std::pair<lifecycle::WallMicros, RollupKey>, RollupRow> minutes_;
  std::map<RollupKey, RollupRow> totals_;
  bool base_loaded_ = false;
};

}  // namespace pglc::storage
