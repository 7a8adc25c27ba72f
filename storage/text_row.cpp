#include "storage/text_row.hpp"

#include <string>
#include <unordered_map>

#include "lifecycle/statement_class.hpp"
#include "storage/text_util.hpp"

namespace pglc::storage {
namespace {

struct Analysed {
  std::shared_ptr<const lifecycle::SqlAnalysis> analysis;
  std::string_view origin;
};

TextAnalysis from(const Analysed& a) {
  return {a.analysis->normalized_sql, a.analysis->fingerprint, a.analysis->statement_type, a.origin,
          a.analysis};
}

}  // namespace

TextAnalysis text_analysis(const lifecycle::SqlText& text, std::size_t max_sql_length) {
  if (!text.analysis_deferred) {
    return {text.normalized_sql, text.fingerprint, text.statement_type,
            lifecycle::origin_of(text.normalized_sql.value_or("")), nullptr};
  }
  // `pgbench -M simple` and PowerBI send one shape with ever new constants: those texts
  // need neither a scan nor a memo entry (four allocations each).
  if (auto hit = lifecycle::analysis_of_shape(text.shape)) {
    // As analyze_sql would have cut it.
    const std::string_view origin =
        lifecycle::origin_of(cut_utf8(hit->normalized_sql.value_or(""), max_sql_length));
    return from({std::move(hit), origin});
  }
  // The texts of the last batches: the rollups ask right after each batch is written.
  // A clear, not an LRU; entries hold a normalized text, so the bound is a few MiB.
  constexpr std::size_t kMemo = 1u << 14;
  thread_local std::unordered_map<std::string, Analysed> memo;
  if (auto it = memo.find(text.hash); it != memo.end()) return from(it->second);
  if (memo.size() >= kMemo) memo = {};
  auto a = std::make_shared<const lifecycle::SqlAnalysis>(
      lifecycle::analyze_sql(text.sql, max_sql_length));
  const std::string_view origin = lifecycle::origin_of(a->normalized_sql.value_or(""));
  return from(memo.emplace(text.hash, Analysed{std::move(a), origin}).first->second);
}

TextRow text_row(const lifecycle::SqlText& text, const TextAnalysis& a,
                 std::size_t max_sql_length) {
  TextRow row{cut_utf8(text.sql, max_sql_length), a.normalized_sql, a.fingerprint};
  if (row.normalized_sql) row.normalized_sql = cut_utf8(*row.normalized_sql, max_sql_length);
  // A text with credentials is kept only in normalized form (its constants were masked
  // on the io thread already; normalization also shows where they were).
  if (text.credentials && row.normalized_sql) row.sql = *row.normalized_sql;
  return row;
}

}  // namespace pglc::storage
