// `pglifecycle reset`: clears what a store has seen, like pg_stat_statements_reset(), in
// small transactions, safe while proxies write to it (storage/store.hpp's stats_reset).
#pragma once

#include <cstddef>
#include <string>

#include "lifecycle/clock.hpp"

namespace pglc::storage {

struct ResetReport {
  std::size_t raw_rows = 0;     // executions, statements, sessions, texts
  std::size_t minute_rows = 0;  // minute rollups
  bool totals = false;          // the all-time totals (query_stats, error_stats) too
};

// `all`: every raw row and minute rollup, and the all-time totals, from `now` on counted
// afresh (open sessions keep their own rows). Otherwise what is older than `before`: raw
// rows and minute rollups; the all-time totals stay. Throws std::runtime_error.
ResetReport reset_store(const std::string& storage_spec, bool all, lifecycle::WallMicros before,
                        lifecycle::WallMicros now);

}  // namespace pglc::storage
