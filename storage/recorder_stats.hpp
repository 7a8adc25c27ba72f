// Counters the recorder keeps for the metrics layer (read at scrape time).
#pragma once

#include <atomic>
#include <cstdint>

namespace pglc::storage {

struct RecorderStats {
  std::atomic<std::int64_t> queue_depth{0};
  // Bytes held by queued records and the writer's retry backlog (bounded by
  // --recorder-queue-bytes).
  std::atomic<std::int64_t> queue_bytes{0};
  // Rows written, per table.
  std::atomic<std::uint64_t> rows_sessions{0}, rows_sql_texts{0}, rows_statements{0},
      rows_executions{0}, rows_statement_events{0}, rows_execution_events{0}, rows_rollups{0};
  // Records lost, per reason.
  std::atomic<std::uint64_t> dropped_queue_full{0}, dropped_store_error{0};
  // Rollup rows (key-minutes) lost: only when the store failed through the stop timeout.
  std::atomic<std::uint64_t> dropped_rollups{0};
  // Retention: rows deleted, and the longest pass (its transactions one after another):
  // the longest time retention kept the writer from inserting.
  std::atomic<std::uint64_t> rows_expired{0};
  std::atomic<std::int64_t> retention_longest_pass_us{0};
  // Executions deliberately not stored (counted, not dropped).
  std::atomic<std::uint64_t> sampled_out{0}, below_min_duration{0};
};

}  // namespace pglc::storage
