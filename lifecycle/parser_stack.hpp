// A stack budget for libpg_query's tree walkers.
//
// Debian's libpg_query 15-4 ships PostgreSQL's check_stack_depth() with the stack base
// never set, so it never fires, and its walkers recurse once per nesting level: a 60 KB
// `SELECT 1+1+...+1` overflows an 8 MiB stack. parser_stack.cpp defines the
// `stack_is_too_deep` that the library calls (through its PLT, so the executable's
// definition wins): under a ParserStackBudget it reports "too deep" once the walkers
// have used the budget, or whenever the thread's own stack is nearly used up. The
// library then raises its usual "stack depth limit exceeded" error, which the analyzer
// turns into "not analysed". Outside a budget only the near-end check applies.
#pragma once

#include <cstddef>

namespace pglc::lifecycle {

class ParserStackBudget {
 public:
  static constexpr std::size_t kDefaultBytes = 1u << 20;

  explicit ParserStackBudget(std::size_t bytes = kDefaultBytes);
  ~ParserStackBudget();
  ParserStackBudget(const ParserStackBudget&) = delete;
  ParserStackBudget& operator=(const ParserStackBudget&) = delete;

  // The library was told "too deep" at least once under this budget.
  bool exceeded() const;

  // True when `stack_is_too_deep` of this executable is the one libpg_query calls (a
  // build that linked the library statically or hid the symbol would lose the guard).
  static bool guard_active();
};

}  // namespace pglc::lifecycle
