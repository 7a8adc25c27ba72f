// `pglifecycle trace`: sessions as a Chrome Trace Event file (DESIGN §7), for
// ui.perfetto.dev and chrome://tracing. One process per session, a "connect" thread with
// the connect phases and an "executions" thread: an execution alone is a complete event
// ("X") with its spans nested; executions that overlap (a pipeline) are async events
// ("b"/"e", one id each, spans nested under it), so no thread breaks the nesting rule.
// Times are microseconds since the epoch.
#pragma once

#include <string>
#include <vector>

#include "explain/view.hpp"

namespace pglc::explain {

std::string render_trace(const std::vector<SessionView>& sessions);

}  // namespace pglc::explain
