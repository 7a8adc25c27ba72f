#include "storage/text_row.hpp"

#include "lifecycle/sql_analyzer.hpp"
#include "storage/text_util.hpp"

namespace pglc::storage {

TextRow text_row(const lifecycle::SqlText& text, std::size_t max_sql_length) {
  TextRow row;
  row.sql = cut_utf8(text.sql, max_sql_length);
  if (text.analysis_deferred) {
    lifecycle::SqlAnalysis a = lifecycle::analyze_sql(text.sql, max_sql_length);
    row.normalized_sql = std::move(a.normalized_sql);
    row.fingerprint = std::move(a.fingerprint);
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
