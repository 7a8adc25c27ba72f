// explain --slowest: which executions took longest (finished − began) since a time. There
// is no index on the duration (the writer would pay for it on every row), so ranking
// reads every execution of the range: the executions table alone, by its time-ordered
// ids, in time slices ranked side by side on connections of their own (10 million
// executions in SQLite took 1.3 s on one core of this project's 2-core benchmark machine).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "lifecycle/clock.hpp"
#include "storage/store_query.hpp"

namespace pglc::explain {

struct RankFilter {
  std::string fingerprint;  // empty: any
  std::string application;  // LIKE pattern; empty: any
};

// The ids of the `n` longest executions that began at or after `since` and finished,
// longest first, ties by id. `q` reads the bounds of the range; each slice opens the
// store of `storage_spec` again. `slices` 1 ranks on `q` alone.
std::vector<std::string> slowest_ids(const std::string& storage_spec, storage::StoreQuery& q,
                                     std::size_t n, lifecycle::WallMicros since,
                                     const RankFilter& filter, unsigned slices);

// The slice count slowest_ids uses by default: one per core, at most four. In PostgreSQL
// too: a day of the 10-million-execution store took 0.53-0.62 s in two slices against
// 0.89-1.11 s in one (its own parallel scan), while the whole store took 3.4 s against 2.5 s
// (each slice scanned the table).
unsigned default_rank_slices();

}  // namespace pglc::explain
