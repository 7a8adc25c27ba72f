// `pglifecycle activity`: the open sessions of a running proxy, read from its /activity
// endpoint (on the metrics listener), as a table like pg_stat_activity or as JSON.
#pragma once

#include <iosfwd>

namespace pglc::app {

// argv[0] is "activity". Returns 0, 1 (the proxy cannot be reached) or 2 (bad arguments).
int run_activity(int argc, const char* const argv[], std::ostream& out, std::ostream& err,
                 bool out_is_terminal);

}  // namespace pglc::app
