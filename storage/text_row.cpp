#include "storage/text_row.hpp"

#include <string>
#include <unordered_map>

#include "lifecycle/statement_class.hpp"
#include "storage/text_util.hpp"

namespace pglc::storage {
namespace {

// Normalization cut at max_sql_length as analyze_sql cuts it (the caches hold it whole),
// and the origin of what is stored.
// `origin`: the analysis's own, of the whole normalized text (empty: not known).
TextAnalysis analysed(const std::optional<std::string>& normalized,
                      const std::optional<std::string>& fingerprint,
                      std::string_view statement_type, std::size_t max_sql_length,
                      std::shared_ptr<const lifecycle::SqlAnalysis> keep,
                      std::string_view origin = {}) {
  TextAnalysis a{std::nullopt, fingerprint, statement_type, {}, std::move(keep)};
  if (normalized) a.normalized_sql = cut_utf8(*normalized, max_sql_length);
  const bool whole = !normalized || a.normalized_sql->size() == normalized->size();
  a.origin =
      whole && !origin.empty() ? origin : lifecycle::origin_of(a.normalized_sql.value_or(""));
  return a;
}

TextAnalysis analysed(std::shared_ptr<const lifecycle::SqlAnalysis> s, std::size_t max) {
  const lifecycle::SqlAnalysis& r = *s;
  const std::string_view origin = r.origin;
  return analysed(r.normalized_sql, r.fingerprint, r.statement_type, max, std::move(s), origin);
}

}  // namespace

TextAnalysis text_analysis(const lifecycle::SqlText& text, std::size_t max_sql_length) {
  if (!text.analysis_deferred) {
    return analysed(text.normalized_sql, text.fingerprint, text.statement_type, max_sql_length,
                    nullptr);
  }
  // `pgbench -M simple` and PowerBI send one shape with ever new constants: those texts
  // need neither a scan nor a memo entry (four allocations each).
  if (auto hit = lifecycle::analysis_of_shape(text.shape)) {
    return analysed(std::move(hit), max_sql_length);
  }
  // The texts of the last batches: the rollups ask right after each batch is written.
  // A clear, not an LRU; entries hold a normalized text, so the bound is a few MiB.
  constexpr std::size_t kMemo = 1u << 14;
  thread_local std::unordered_map<std::string, std::shared_ptr<const lifecycle::SqlAnalysis>> memo;
  if (auto it = memo.find(text.hash); it != memo.end()) return analysed(it->second, max_sql_length);
  if (memo.size() >= kMemo) memo = {};
  auto a = std::make_shared<const lifecycle::SqlAnalysis>(
      lifecycle::analyze_sql(text.sql, max_sql_length));
  return analysed(memo.emplace(text.hash, std::move(a)).first->second, max_sql_length);
}

TextRow text_row(const lifecycle::SqlText& text, const TextAnalysis& a,
                 std::size_t max_sql_length) {
  TextRow row{cut_utf8(text.sql, max_sql_length), a.normalized_sql, a.fingerprint};
  // A text with credentials is kept only in normalized form (its constants were masked
  // on the io thread already; normalization also shows where they were).
  if (text.credentials && row.normalized_sql) row.sql = *row.normalized_sql;
  return row;
}

}  // namespace pglc::storage
