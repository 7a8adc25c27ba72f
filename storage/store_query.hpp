// Read-only SQL over either store, for the read commands (pglifecycle explain): the
// views are the same in both, so a command writes its queries once and asks the store
// only for its dialect's few differences (parameters, ids, times).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lifecycle/clock.hpp"

namespace pglc::storage {

using QueryCell = std::optional<std::string>;  // nullopt: NULL
using QueryRow = std::vector<QueryCell>;
using QueryRows = std::vector<QueryRow>;

class StoreQuery {
 public:
  virtual ~StoreQuery() = default;
  // `sql` uses ?1, ?2, ... (rewritten to $1, $2, ... for PostgreSQL); every parameter is
  // bound as text. Throws std::runtime_error with the store's message.
  virtual QueryRows query(const std::string& sql, const std::vector<std::string>& params) = 0;
  virtual bool postgres() const = 0;
  // "SQLite store /path" or "PostgreSQL store host:port/db" (no password).
  virtual std::string describe() const = 0;

  // A timestamp column as microseconds since the epoch (SQLite stores them so).
  std::string micros(const std::string& column) const;
  // The SQL that compares id column `column` with text parameter `param` (?N).
  std::string id_equals(const std::string& column, const std::string& param) const;
  // A condition that lets the store find rows of id column `column` from `since` on by
  // its primary key (ids are time-ordered), to add to a time filter.
  std::string id_since(const std::string& column, lifecycle::WallMicros since) const;
  // The same for rows made before `until`.
  std::string id_before(const std::string& column, lifecycle::WallMicros until) const;
  // An id read from this store as a literal of its id type, to name rows found by an
  // earlier query; throws std::runtime_error for text that is no id of this store.
  std::string id_literal(const std::string& id) const;

 private:
  // `column op` the lowest id of the millisecond of `t`.
  std::string id_bound(const std::string& column, const char* op, lifecycle::WallMicros t) const;
};

// Opens the store of a --storage spec for reading. Throws std::runtime_error naming the
// store when it cannot be opened, holds no pglifecycle schema, or has a newer one.
std::unique_ptr<StoreQuery> open_store_query(const std::string& spec);

}  // namespace pglc::storage
