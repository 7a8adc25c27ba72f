// The literal shape of a SQL text: the text with each string and number constant
// replaced by a marker of its kind. Two texts of one literal shape differ only inside
// their constants, so PostgreSQL's parser builds the same tree for both and libpg_query's
// normalize gives both the same output -- when it replaced exactly those constants in
// one of them (LiteralShape::substituted is that output, to compare with). The analyzer
// caches normalize + fingerprint by this key: `pgbench -M simple` and PowerBI send one
// shape with ever-new constants, and then no text of a known shape is parsed again.
//
// Built from the tokens of sql_lexer's pass (the analyzer's bounds check already makes
// one). A text is `cacheable` only when every constant is one whose tokenization does not
// depend on its value the way PostgreSQL 15's scanner sees it: '...', E'...', B'...',
// X'...', N'...', $tag$...$tag$, and numbers of the forms {integer}, {decimal}, {real}
// (integers are told apart by whether they fit int32, as the scanner makes the others
// FCONST). U&'...' (UESCAPE), unterminated quotes and malformed numbers make a text
// not cacheable, as does a 0x01 byte (the marker) anywhere in it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "lifecycle/sql_lexer.hpp"

namespace pglc::lifecycle {

class LiteralShape {
 public:
  // What an instance fills. A caller that builds a shape for every new text on one
  // thread passes its own, kept across calls: their capacity is reused, so no text
  // costs an allocation here (the io threads see a new text per `pgbench -M simple`
  // transaction).
  struct Buffers {
    std::string key;
    std::vector<std::pair<std::size_t, std::size_t>> literals;  // [begin, end)
  };

  explicit LiteralShape(std::string_view sql) : LiteralShape(sql, own_) {}
  // Clears `reuse` and fills it; it must outlive this object and serve no other one.
  LiteralShape(std::string_view sql, Buffers& reuse);
  LiteralShape(const LiteralShape&) = delete;
  LiteralShape& operator=(const LiteralShape&) = delete;

  // Feed every token of `sql`, in order.
  void on_token(const SqlToken& t);
  // Call once after the last token.
  void finish();

  bool cacheable() const { return cacheable_; }
  const std::string& key() const { return buf_.key; }
  // The text with each constant replaced by $n, numbered from the highest $n in the text
  // plus one, in order: what libpg_query's normalize returns when it replaced exactly the
  // constants this class sees.
  std::string substituted() const;

 private:
  Buffers own_;  // when the caller passes none
  Buffers& buf_;
  std::string_view sql_;
  std::size_t copied_ = 0;  // sql_ up to here is in buf_.key
  long max_param_ = 0;
  bool cacheable_ = true;
};

}  // namespace pglc::lifecycle
