// The severity of a log line, shared by every layer that logs through a callback.
#pragma once

namespace pglc::config {

enum class LogLevel { debug, info, warning, error };

}  // namespace pglc::config
