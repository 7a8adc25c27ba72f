// The standard process_* metrics, read from /proc at scrape time (prometheus-cpp 1.0.1
// has no process collector).
#pragma once

#include <optional>

namespace pglc::metrics {

struct ProcessStats {
  double cpu_seconds = 0;         // user + system
  double start_time_seconds = 0;  // since the Unix epoch
  double resident_memory_bytes = 0;
  double virtual_memory_bytes = 0;
  double open_fds = 0;
  double max_fds = 0;
};

// nullopt when /proc is unreadable (not Linux, or hidepid).
std::optional<ProcessStats> read_process_stats();

}  // namespace pglc::metrics
