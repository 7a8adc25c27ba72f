// Work on SQL texts: splitting a Query into statements (libpg_query's scanner),
// recognising the statements that touch the prepared-statement namespace and the texts
// that carry credentials (sql_lexer), and normalization + fingerprint (libpg_query's
// parser, under a stack budget: parser_stack.hpp).
//
// Results are cached per thread, keyed by a hash of the full text: clients such as PowerBI
// repeat the same SQL, and a thread_local cache needs no lock between sessions.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/container/small_vector.hpp>

#include "lifecycle/records.hpp"
#include "lifecycle/sql_lexer.hpp"

namespace pglc::lifecycle {

struct AnalyzedStatement {
  std::shared_ptr<const SqlText> text;
  SqlCommand command = SqlCommand::other;
  std::string name;  // PREPARE / EXECUTE / DEALLOCATE target, as the server folds it
};

// Nearly every Query holds one statement: it needs no allocation of its own.
inline constexpr std::size_t kInlineStatements = 1;

struct AnalyzedQuery {
  // In order; never empty (a Query without statements, e.g. "" or only a comment, yields
  // one statement holding the text: the server answers it with EmptyQueryResponse).
  boost::container::small_vector<AnalyzedStatement, kInlineStatements> statements;
};

struct SqlAnalysis {
  // Both empty when the parser rejects the text or it is beyond the analyzer's bounds.
  std::optional<std::string> normalized_sql;
  std::optional<std::string> fingerprint;
  // lifecycle/statement_class.hpp's statement_type; empty with the two above.
  std::string_view statement_type{};
  // origin_of(normalized_sql) when normalized_sql is whole (not cut); else empty, and a
  // consumer computes it. The writer asks for every statement of a repeated text.
  std::string_view origin{};
};

// The analyzer's bounds: texts longer than this, or with more set operations (UNION /
// INTERSECT / EXCEPT: libpg_query's normalize recurses through those without a stack
// check), or nested deeper than ParserStackBudget allows, are left unanalysed.
inline constexpr std::size_t kMaxAnalyzedBytes = 1u << 20;
inline constexpr std::size_t kMaxSetOperations = 1000;
// PostgreSQL's scanner is quadratic in some runs of operator characters (see
// scanner_is_linear in the .cpp): longer operator runs, or more nested comment openers in
// one run inside a comment, keep a text out of libpg_query (not analysed, split by our
// own lexer). PostgreSQL's operators are at most 63 characters long.
inline constexpr std::size_t kMaxOperatorRun = 64;
inline constexpr std::size_t kMaxCommentOpenersInRun = 16;

// Normalize + fingerprint of one text, uncached: what a consumer of a SqlText with
// analysis_deferred calls (once per hash) to complete it. normalized_sql is cut at
// `max_sql_length` bytes.
//
// The fingerprint is cached per thread by normalized text for single queries (SELECT,
// INSERT, UPDATE, DELETE, WITH, VALUES, TABLE): a text whose shape was seen costs the
// normalize parse only. Other statements are fingerprinted every time (see
// fingerprint_follows_shape in the .cpp for why).
SqlAnalysis analyze_sql(std::string_view sql, std::size_t max_sql_length);
// The same with both parses every time and no cache: the reference the tests hold the
// cached path to.
SqlAnalysis analyze_sql_uncached(std::string_view sql, std::size_t max_sql_length);

// analyze_sql's answer for a text whose SqlText::shape is `shape` (nonzero), from this
// thread's cache of literal shapes, without scanning the text again: the shape decides
// everything analyze_sql checks before it looks there (the text's tokens and the gaps
// between them; query_shape refused texts past kMaxAnalyzedBytes). Null when no text of
// that shape was analysed on this thread yet (then analyze_sql). The normalized text is
// whole: cut it at max_sql_length.
std::shared_ptr<const SqlAnalysis> analysis_of_shape(const std::array<std::uint64_t, 2>& shape);

// sql_texts.hash of a text: SHA-256 over the whole text (before any cut), its first 90
// bits in kTextKeyLength base64url characters.
inline constexpr std::size_t kTextKeyLength = 15;
std::string sql_hash(std::string_view sql);

// Cuts `s` at `max` bytes without splitting a UTF-8 sequence.
std::string_view cut_utf8(std::string_view s, std::size_t max);

class SqlAnalyzer {
 public:
  // `shapes`: whether texts get SqlText::shape (a lexer pass and a digest per new text);
  // its consumers are the store's (rollups, text rows).
  explicit SqlAnalyzer(std::size_t max_sql_length, bool defer_analysis = false, bool shapes = true)
      : max_sql_length_(max_sql_length), defer_analysis_(defer_analysis), shapes_(shapes) {}

  // The text of one statement (Parse message): normalized and fingerprinted, not split.
  std::shared_ptr<const SqlText> statement(std::string_view sql) const;
  // A Query message's text, split into statements, each analyzed and classified.
  std::shared_ptr<const AnalyzedQuery> query(std::string_view sql) const;
  // A Parse message's text: exactly one statement (never split), classified, so that a
  // DEALLOCATE or DISCARD ALL run through the extended protocol is recognised too.
  std::shared_ptr<const AnalyzedQuery> prepared(std::string_view sql) const;

  // Uncached building block (tests).
  static std::vector<std::string_view> split(std::string_view sql);

 private:
  // The cache key's variant: texts differ with the cut, with deferral and with shapes.
  std::size_t mode() const {
    return max_sql_length_ * 4 + (defer_analysis_ ? 2 : 0) + (shapes_ ? 1 : 0);
  }

  std::size_t max_sql_length_;
  bool defer_analysis_;
  bool shapes_;
};

}  // namespace pglc::lifecycle
