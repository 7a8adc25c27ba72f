// The asynchronous recorder: a lifecycle::Sink whose methods only enqueue.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string_view>

#include "config/log_level.hpp"
#include "lifecycle/sink.hpp"
#include "storage/recorder_config.hpp"
#include "storage/recorder_stats.hpp"

namespace pglc::storage {

class Recorder : public lifecycle::Sink {
 public:
  // Starts the writer thread. Records enqueued before start() wait in the queue.
  virtual void start() = 0;
  // Writes every record queued so far, then stops the writer thread. Idempotent.
  // Records arriving after stop() are counted as dropped_queue_full.
  virtual void stop() = 0;
  virtual const RecorderStats& stats() const = 0;
};

// Where the recorder reports store trouble: once per state change, never per record.
using RecorderLog = std::function<void(config::LogLevel, std::string_view message)>;

// Knobs that are not user options; the defaults are what the proxy uses.
struct RecorderTuning {
  std::size_t batch_size = 5000;                       // records per transaction
  std::chrono::milliseconds flush_interval{100};       // oldest queued record waits at most this
  std::chrono::milliseconds retry_initial{50};         // backoff after a store error ...
  std::chrono::milliseconds retry_max{1000};           // ... doubling up to this
  std::size_t retry_capacity = 0;                      // records kept while failing; 0 = queue size
  std::chrono::milliseconds stop_timeout{10000};       // stop() gives a failing store this long
  std::chrono::milliseconds retention_interval{5000};  // pause between retention passes
  std::size_t retention_chunk = 1000;                  // rows per table per retention transaction
  std::chrono::milliseconds rollup_interval{1000};     // how often the writer collects rollups
  RecorderLog log;  // empty = "pglifecycle: storage: ..." on stderr
};

// Opens the store named by options.storage ("sqlite:PATH", "postgresql://..." or any
// libpq connection string, "none"), creating/migrating the schema. Throws
// std::runtime_error with a message fit for the user when the store cannot be used.
class Store;
// The store options.storage names, not yet opened for writing (nullptr for "none"); throws
// std::runtime_error for a spec that is neither.
std::unique_ptr<Store> open_store(const RecorderConfig& options);

std::unique_ptr<Recorder> open_recorder(const RecorderConfig& options);
std::unique_ptr<Recorder> open_recorder(const RecorderConfig& options, RecorderTuning tuning);

// The schema version this binary writes (schema_migrations.version).
int schema_version();

}  // namespace pglc::storage
