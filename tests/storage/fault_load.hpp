// Shared by the fault tests: a batch of executions of one statement, enqueued while the
// slowest single enqueue is measured.
#pragma once

#include <chrono>
#include <vector>

#include "lifecycle/sink.hpp"
#include "tests/storage/scenario.hpp"

namespace pglc::test {

inline std::vector<ExecutionRecord> executions_of(const StatementRecord& st, WallMicros t0, int n) {
  std::vector<ExecutionRecord> out;
  for (int i = 0; i < n; ++i) {
    const WallMicros b = t0 + 10 * i;
    out.push_back(make_execution(st, b, b + 2, b + 5, b + 9, b + 10));
  }
  return out;
}

// Returns the longest time one execution() call took.
inline std::chrono::nanoseconds enqueue_all(lifecycle::Sink& sink,
                                            const std::vector<ExecutionRecord>& records) {
  std::chrono::nanoseconds worst{0};
  for (const auto& r : records) {
    const auto t = std::chrono::steady_clock::now();
    sink.execution(r);
    worst = std::max(worst, std::chrono::steady_clock::now() - t);
  }
  return worst;
}

}  // namespace pglc::test
