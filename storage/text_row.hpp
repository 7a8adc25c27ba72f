// The sql_texts columns of one text as a store writes them: the text cut at
// max_sql_length (again: the tracker cuts already, unless it deferred its analysis to
// us), and normalization + fingerprint computed here when the tracker left them to the
// consumer (SqlText::analysis_deferred) — once per distinct text, on the writer thread.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string_view>

#include "lifecycle/records.hpp"
#include "lifecycle/sql_analyzer.hpp"

namespace pglc::storage {

// What the stores and the rollups need to know of a text: its normalization, fingerprint
// and classes (lifecycle/statement_class.hpp). The views point into the SqlText, or into
// `keep` when the analysis was done here. A text whose analysis was deferred is analysed
// on this thread: by its literal shape (SqlText::shape) from the analyzer's cache when a
// text of that shape was seen, which scans nothing, else through a per-thread memo by
// hash, because the store (its sql_texts row) and the rollups (their key) both ask and the
// parse is the writer's dearest step.
struct TextAnalysis {
  std::optional<std::string_view> normalized_sql;  // cut at max_sql_length
  std::optional<std::string_view> fingerprint;
  std::string_view statement_type;          // empty (NULL) when unanalysed
  std::string_view origin = "application";  // also for a statement without a text
  std::shared_ptr<const lifecycle::SqlAnalysis> keep;
};
TextAnalysis text_analysis(const lifecycle::SqlText& text, std::size_t max_sql_length);

// A text's statement classes as statements rows store them.
struct TextClasses {
  std::string_view statement_type;
  std::string_view origin;
};

struct TextRow {
  std::string_view sql;  // points into the SqlText
  std::optional<std::string_view> normalized_sql;
  std::optional<std::string_view> fingerprint;
};
TextRow text_row(const lifecycle::SqlText& text, const TextAnalysis& a, std::size_t max_sql_length);

}  // namespace pglc::storage
