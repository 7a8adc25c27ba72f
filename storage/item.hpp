// One record on its way from an io thread to the writer thread.
#pragma once

#include <variant>

#include "lifecycle/records.hpp"
#include "storage/execution_item.hpp"

namespace pglc::storage {

// SessionRecord covers both session_opened and session_closed: the store upserts it.
using Item = std::variant<lifecycle::SessionRecord, lifecycle::StatementRecord,
                          lifecycle::StatementEventRecord, ExecutionItem>;

// What a queued item holds in memory, for the recorder's byte bound: the item and the
// heap buffers of its strings (a statement's text counts whole, although io threads may
// share it). The same value for a record and for the item copied from it.
std::size_t item_bytes(const lifecycle::SessionRecord& r);
std::size_t item_bytes(const lifecycle::StatementRecord& r);
std::size_t item_bytes(const lifecycle::StatementEventRecord& r);
std::size_t item_bytes(const lifecycle::ExecutionRecord& r);  // as its ExecutionItem
std::size_t item_bytes(const Item& item);

}  // namespace pglc::storage
