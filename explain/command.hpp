// `pglifecycle explain`: one execution as a tree of its phases, one session's connect and
// executions, or the slowest executions of a time range (DESIGN §7), from either store.
#pragma once

#include <iosfwd>

namespace pglc::explain {

// argv[0] is "explain". Returns the exit status: 0, 1 (not found, store unreadable), 2
// (bad arguments).
int run(int argc, const char* const argv[], std::ostream& out, std::ostream& err,
        bool out_is_terminal);

// `pglifecycle trace` (explain/trace.hpp); argv[0] is "trace". The same exit statuses.
int run_trace(int argc, const char* const argv[], std::ostream& out, std::ostream& err);

// `pglifecycle reset` (storage/reset.hpp); argv[0] is "reset". The same exit statuses.
int run_reset(int argc, const char* const argv[], std::ostream& out, std::ostream& err);

}  // namespace pglc::explain
