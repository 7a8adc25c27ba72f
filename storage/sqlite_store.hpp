// The embedded store: one SQLite file in WAL mode (readers never block the writer),
// created 0600, prepared statements, one transaction per batch.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/event_times.hpp"
#include "storage/recorder_config.hpp"
#include "storage/sql_text_cache.hpp"
#include "storage/store.hpp"
#include "storage/text_row.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace pglc::storage {

class SqliteStore final : public Store {
 public:
  // Opens or creates the file and migrates the schema; throws std::runtime_error.
  SqliteStore(std::string path, const RecorderConfig& options);
  ~SqliteStore() override;

  RowCounts write(std::span<const Item* const> items) override;
  ExpireResult expire(lifecycle::WallMicros cutoff, std::size_t limit) override;
  bool write_rollups(const std::string& instance, std::span<const RollupRow> minutes,
                     std::span<const RollupRow> totals,
                     std::span<const QueryTotal> queries) override;
  std::vector<RollupRow> load_rollup_totals(const std::string& instance) override;
  void reset_totals(lifecycle::WallMicros at) override;
  ExpireResult expire_rollups(lifecycle::WallMicros cutoff, std::size_t limit) override;
  std::string describe() const override { return "SQLite store " + shown_path_; }

 private:
  std::optional<lifecycle::WallMicros> loaded_reset_;  // stats_reset of the last load
  std::optional<lifecycle::WallMicros> stats_reset_at();
  class Stmt;
  template <typename Row>
  class Batch;
  // An execution to insert (the item holds its event times).
  struct ExecutionRow {
    const ExecutionItem* item;
  };
  // A statement and the times of its events that arrived in the same batch.
  struct StatementRow {
    const lifecycle::StatementRecord* record;
    StatementTimes times;  // by value: the fold computes it per statement
    TextClasses classes;
  };
  void migrate();
  void exec(const char* sql);
  [[noreturn]] void fail(int rc, std::string_view what);
  void rollback_quietly();
  std::size_t expire_step(const char* select_ids, std::initializer_list<Stmt*> deletes,
                          lifecycle::WallMicros cutoff, std::size_t limit);
  void write_session(const lifecycle::SessionRecord& r);
  void write_statement(const lifecycle::StatementRecord& r, RowCounts& c);
  // False when no row took the event (its statement was dropped).
  bool write_statement_event(const lifecycle::StatementEventRecord& r);
  void write_execution(const ExecutionItem& item, RowCounts& c);

  std::string path_;
  std::string shown_path_;  // absolute, for log lines: where the data goes
  std::size_t max_sql_length_;
  sqlite3* db_ = nullptr;
  SqlTextCache texts_;
  // The batch's new texts, inserted in hash order when it is flushed (write_texts).
  struct NewText {
    const lifecycle::SqlText* text;  // in its record, alive until the batch is written
    TextAnalysis analysis;
    lifecycle::WallMicros used_at;
  };
  std::vector<NewText> new_texts_;
  void write_texts(RowCounts& c);
  void flush_batches();
  void clear_batches();

  std::unique_ptr<Stmt> session_, sql_text_;
  StatementFold fold_;
  std::unique_ptr<Batch<StatementRow>> statements_;
  std::unique_ptr<Stmt> statement_parsed_, statement_described_, statement_closed_;
  std::unique_ptr<Batch<ExecutionRow>> executions_;
  std::unique_ptr<Stmt> del_executions_, del_statements_, del_sessions_, del_sql_texts_;
  std::unique_ptr<Stmt> rollup_insert_, rollup_total_, query_total_;
};

}  // namespace pglc::storage
