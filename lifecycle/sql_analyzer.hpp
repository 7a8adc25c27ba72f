// libpg_query work on SQL texts: splitting a Query into statements, normalization,
// fingerprint, and recognising the statements that touch the prepared-statement
// namespace (PREPARE / EXECUTE / DEALLOCATE / DISCARD ALL).
//
// Results are cached per thread, keyed by a hash of the full text: clients such as PowerBI
// repeat the same SQL, and a thread_local cache needs no lock between sessions.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lifecycle/records.hpp"

namespace pglc::lifecycle {

enum class SqlCommand { other, prepare, execute, deallocate, deallocate_all, discard_all };

struct AnalyzedStatement {
  std::shared_ptr<const SqlText> text;
  SqlCommand command = SqlCommand::other;
  std::string name;  // PREPARE / EXECUTE / DEALLOCATE target, as the server folds it
};

struct AnalyzedQuery {
  // In order; never empty (a Query without statements, e.g. "" or only a comment, yields
  // one statement holding the text: the server answers it with EmptyQueryResponse).
  std::vector<AnalyzedStatement> statements;
};

// Hex of the first 128 bits of SHA-256 over the whole text (before any cut): 32 chars.
std::string sql_hash(std::string_view sql);

// Cuts `s` at `max` bytes without splitting a UTF-8 sequence.
std::string_view cut_utf8(std::string_view s, std::size_t max);

class SqlAnalyzer {
 public:
  explicit SqlAnalyzer(std::size_t max_sql_length) : max_sql_length_(max_sql_length) {}

  // The text of one statement (Parse message): normalized and fingerprinted, not split.
  std::shared_ptr<const SqlText> statement(std::string_view sql) const;
  // A Query message's text, split into statements, each analyzed and classified.
  std::shared_ptr<const AnalyzedQuery> query(std::string_view sql) const;

  // Uncached building blocks (tests).
  static std::vector<std::string_view> split(std::string_view sql);
  static AnalyzedStatement classify(std::string_view statement_sql);

 private:
  std::size_t max_sql_length_;
};

}  // namespace pglc::lifecycle
