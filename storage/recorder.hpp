// The asynchronous recorder: a lifecycle::Sink whose methods only enqueue.
#pragma once

#include <memory>

#include "config/options.hpp"
#include "lifecycle/sink.hpp"
#include "storage/recorder_stats.hpp"

namespace pglc::storage {

class Recorder : public lifecycle::Sink {
 public:
  // Starts the writer thread.
  virtual void start() = 0;
  // Writes every record queued so far, then stops the writer thread. Idempotent.
  virtual void stop() = 0;
  virtual const RecorderStats& stats() const = 0;
};

// Opens the store named by options.storage ("sqlite:PATH", "postgresql://..." or any
// libpq connection string, "none"), creating/migrating the schema. Throws
// std::runtime_error with a message fit for the user when the store cannot be used.
std::unique_ptr<Recorder> open_recorder(const config::Options& options);

}  // namespace pglc::storage
