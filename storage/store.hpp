// What the writer thread needs from a store. Only the writer thread calls a Store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "lifecycle/clock.hpp"
#include "storage/item.hpp"
#include "storage/rollup.hpp"

namespace pglc::storage {

// A write that did not happen. transient: the store may come back (locked, read-only,
// disk full, connection lost) and the same rows should be tried again; otherwise the
// rows themselves are refused and retrying them is pointless.
class StoreError : public std::runtime_error {
 public:
  StoreError(const std::string& message, bool transient)
      : std::runtime_error(message), transient_(transient) {}
  bool transient() const { return transient_; }

 private:
  bool transient_;
};

// Rows sent in one committed transaction, per table.
struct RowCounts {
  std::uint64_t sessions = 0, sql_texts = 0, statements = 0, executions = 0, statement_events = 0,
                execution_events = 0;
};

struct ExpireResult {
  std::size_t rows = 0;  // rows deleted, all tables
  bool more = false;     // a chunk was full: older rows remain
};

class Store {
 public:
  virtual ~Store() = default;
  // Writes the items in one transaction; throws StoreError and leaves nothing written.
  virtual RowCounts write(std::span<const Item* const> items) = 0;
  // Deletes up to `limit` rows per table older than `cutoff`, in short transactions.
  virtual ExpireResult expire(lifecycle::WallMicros cutoff, std::size_t limit) = 0;
  // In one transaction: appends the minute rows and replaces this proxy's totals rows
  // (the writer merged them onto what load_rollup_totals read). Returns false, writing
  // nothing, when the totals were reset (stats_reset) since that load: the writer starts
  // its totals again from a new load. Throws StoreError and leaves nothing written.
  virtual bool write_rollups(const std::string& instance, std::span<const RollupRow> minutes,
                             std::span<const RollupRow> totals,
                             std::span<const QueryTotal> queries) = 0;
  // Deletes up to `limit` minute rollups (of every proxy) that started before `cutoff`.
  // The all-time totals stay.
  virtual ExpireResult expire_rollups(lifecycle::WallMicros cutoff, std::size_t limit) = 0;
  // This proxy's all-time totals as stored (merged into by the next write_rollups), and
  // the stats_reset time they belong to, read together.
  virtual std::vector<RollupRow> load_rollup_totals(const std::string& instance) = 0;
  // `pglifecycle reset`: in one transaction, moves stats_reset to `at` and deletes every
  // proxy's all-time totals. Raw rows and minute rollups go through expire*.
  virtual void reset_totals(lifecycle::WallMicros at) = 0;
  // For log lines: never contains a password.
  virtual std::string describe() const = 0;
  // Why the store could not be opened at start although the proxy serves (empty: no
  // problem). The recorder logs it once.
  virtual std::string startup_problem() const { return {}; }
};

}  // namespace pglc::storage
