// One record on its way from an io thread to the writer thread.
#pragma once

#include <variant>

#include "lifecycle/records.hpp"

namespace pglc::storage {

struct ExecutionItem {
  // The stored columns only: kind, sql, user_name, database_name and the durations are
  // left empty (see AsyncRecorder::enqueue).
  lifecycle::ExecutionRecord record;
  double sample_rate = 1.0;  // what this stored row stands for (1 / probability kept)
};

// SessionRecord covers both session_opened and session_closed: the store upserts it.
using Item = std::variant<lifecycle::SessionRecord, lifecycle::StatementRecord,
                          lifecycle::StatementEventRecord, ExecutionItem>;

}  // namespace pglc::storage
