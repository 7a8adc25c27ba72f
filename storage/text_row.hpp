// The sql_texts columns of one text as a store writes them: the text cut at
// max_sql_length (again: the tracker cuts already, unless it deferred its analysis to
// us), and normalization + fingerprint computed here when the tracker left them to the
// consumer (SqlText::analysis_deferred) — once per distinct text, on the writer thread.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "lifecycle/records.hpp"

namespace pglc::storage {

struct TextRow {
  std::string_view sql;  // points into the SqlText
  std::optional<std::string> normalized_sql;
  std::optional<std::string> fingerprint;
};

// A text's statement classes (lifecycle/statement_class.hpp), as statements rows store
// them: statement_type empty (NULL) when unanalysed.
struct TextClasses {
  std::string_view statement_type;
  std::string_view origin;
};
TextClasses text_classes(const lifecycle::SqlText& text, std::size_t max_sql_length);

TextRow text_row(const lifecycle::SqlText& text, std::size_t max_sql_length);

// Normalized text and fingerprint of a text whose analysis was deferred, through a
// per-thread memo by hash: the store (its sql_texts row) and the rollups (their key) both
// need it, and the parse is the writer's dearest step.
struct TextAnalysis {
  std::optional<std::string> normalized_sql;
  std::optional<std::string> fingerprint;
  std::string_view statement_type;
  std::string_view origin;
};
const TextAnalysis& deferred_analysis(const lifecycle::SqlText& text, std::size_t max_sql_length);

}  // namespace pglc::storage
