// --storage none: stores nothing, but applies the volume rules so the counters still say
// what would have been kept.
#pragma once

#include "storage/recorder.hpp"
#include "storage/volume_filter.hpp"

namespace pglc::storage {

class NullRecorder final : public Recorder {
 public:
  explicit NullRecorder(const RecorderConfig& options) : filter_(options) {}
  void execution(const lifecycle::ExecutionRecord& r) override { filter_.keep(r, stats_); }
  void start() override {}
  void stop() override {}
  const RecorderStats& stats() const override { return stats_; }

 private:
  VolumeFilter filter_;
  RecorderStats stats_;
};

}  // namespace pglc::storage
