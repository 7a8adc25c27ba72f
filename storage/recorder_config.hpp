// What the recorder and the stores are configured with: the slice of the command line
// (config::Options) that is theirs, built by the composition root (app/), so that the
// storage layer does not depend on the whole proxy's options.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

namespace pglc::storage {

struct RecorderConfig {
  std::string storage = "sqlite:pglifecycle.db";  // "sqlite:PATH", "postgresql://...", "none"
  std::string instance_name;                      // proxy_instance of every row
  std::size_t max_sql_length = 65536;
  std::optional<std::chrono::seconds> retention;  // unset = keep raw rows forever
  std::optional<std::chrono::seconds> rollup_retention = std::chrono::hours(24 * 90);
  double sample_rate = 1.0;
  std::chrono::microseconds min_duration{0};
  std::size_t recorder_queue = 100000;
  std::size_t recorder_queue_bytes = 8u << 20;  // queued records plus the retry backlog
};

}  // namespace pglc::storage
