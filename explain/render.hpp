// Draws explain's views as a plain UTF-8 tree (colour only when asked: a terminal) or as
// JSON with stable keys. Pure: strings in, string out.
#pragma once

#include <string>

#include "explain/view.hpp"

namespace pglc::explain {

std::string render_text(const ExecutionView&, bool colour);
std::string render_text(const SessionView&, bool colour);
std::string render_text(const SlowestView&, bool colour);

std::string render_json(const ExecutionView&);
std::string render_json(const SessionView&);
std::string render_json(const SlowestView&);

}  // namespace pglc::explain
