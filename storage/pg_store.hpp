// The fleet store: PostgreSQL over libpq, straight to the server the user names (never
// through the proxy). Each batch is COPied into session-local temp tables and moved into
// the real tables by INSERT ... SELECT in the same transaction; a retried batch (whose
// COMMIT outcome may be unknown) uses ON CONFLICT DO NOTHING, so it never duplicates rows.
#pragma once

#include <string>

#include "storage/recorder_config.hpp"
#include "storage/event_times.hpp"
#include "storage/sql_text_cache.hpp"
#include "storage/store.hpp"

typedef struct pg_conn PGconn;

namespace pglc::storage {

class PgStore final : public Store {
 public:
  // Connects and migrates the schema; throws std::runtime_error when the store is
  // reachable but unusable. An unreachable store is connected and migrated later, by the
  // first write that gets through (startup_problem() says so meanwhile).
  PgStore(std::string conninfo, const RecorderConfig& options);
  ~PgStore() override;

  RowCounts write(std::span<const Item* const> items) override;
  ExpireResult expire(lifecycle::WallMicros cutoff, std::size_t limit) override;
  bool write_rollups(const std::string& instance, std::span<const RollupRow> minutes,
                     std::span<const RollupRow> totals,
                     std::span<const QueryTotal> queries) override;
  std::vector<RollupRow> load_rollup_totals(const std::string& instance) override;
  void reset_totals(lifecycle::WallMicros at) override;
  ExpireResult expire_rollups(lifecycle::WallMicros cutoff, std::size_t limit) override;
  std::string describe() const override {
    return "PostgreSQL store " + (where_.empty() ? std::string("(not reached yet)") : where_);
  }
  std::string startup_problem() const override { return startup_problem_; }

 private:
  std::optional<lifecycle::WallMicros> loaded_reset_;  // stats_reset of the last load
  std::optional<lifecycle::WallMicros> stats_reset_at(const char* lock);
  void connect();  // throws StoreError (transient)
  void connect_migrated();
  void migrate();
  void prepare_schema();
  void exec(const std::string& sql, std::string_view what);
  void copy_in(const std::string& command, const std::string& data);
  // A statement with parameters ($1, ...); the rows it touched. `what` names it in errors.
  std::size_t exec_count(const char* sql, const std::vector<std::string>& params,
                         std::string_view what = "retention");
  [[noreturn]] void fail(std::string message, const char* sqlstate);
  void disconnect();

  std::string conninfo_;
  std::string where_;
  std::size_t max_sql_length_;
  PGconn* conn_ = nullptr;
  SqlTextCache texts_;
  StatementFold fold_;
  bool careful_ = true;        // the next batch uses ON CONFLICT DO NOTHING everywhere
  std::string last_sqlstate_;  // of the last failure
  bool migrated_ = false;
  std::string startup_problem_;
};

}  // namespace pglc::storage
