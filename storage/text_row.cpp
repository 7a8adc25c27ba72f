#include "storage/text_row.hpp"

#include <unordered_map>

#include "lifecycle/sql_analyzer.hpp"
#include "lifecycle/statement_class.hpp"
#include "storage/text_util.hpp"

namespace pglc::storage {

const TextAnalysis& deferred_analysis(const lifecycle::SqlText& text, std::size_t max_sql_length) {
  // The texts of the last batches: the rollups ask right after each batch is written.
  // A clear, not an LRU; entries hold a normalized text, so the bound is a few MiB.
  constexpr std::size_t kMemo = 1u << 14;
  thread_local std::unordered_map<std::string, TextAnalysis> memo;
  if (auto it = memo.find(text.hash); it != memo.end()) return it->second;
  if (memo.size() >= kMemo) memo = {};
  lifecycle::SqlAnalysis a = lifecycle::analyze_sql(text.sql, max_sql_length);
  const std::string_view origin = lifecycle::origin_of(a.normalized_sql.value_or(""));
  return memo
      .emplace(text.hash, TextAnalysis{std::move(a.normalized_sql), std::move(a.fingerprint),
                                       a.statement_type, origin})
      .first->second;
}

TextClasses text_classes(const lifecycle::SqlText& text, std::size_t max_sql_length) {
  if (text.analysis_deferred) {
    const TextAnalysis& a = deferred_analysis(text, max_sql_length);
    return {a.statement_type, a.origin};
  }
  return {text.statement_type, lifecycle::origin_of(text.normalized_sql.value_or(""))};
}

TextRow text_row(const lifecycle::SqlText& text, std::size_t max_sql_length) {
  TextRow row;
  row.sql = cut_utf8(text.sql, max_sql_length);
  if (text.analysis_deferred) {
    const TextAnalysis& a = deferred_analysis(text, max_sql_length);
    row.normalized_sql = a.normalized_sql;
    row.fingerprint = a.fingerprint;
  } else {
    row.normalized_sql = text.normalized_sql;
    row.fingerprint = text.fingerprint;
  }
  // A text with credentials is kept only in normalized form (its constants were masked
  // on the io thread already; normalization also shows where they were).
  if (text.credentials && row.normalized_sql) row.sql = *row.normalized_sql;
  return row;
}

}  // namespace pglc::storage
