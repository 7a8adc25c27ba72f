// The metric families of DESIGN §4 and the /metrics exposer.
#pragma once

#include <memory>

#include "config/options.hpp"
#include "lifecycle/sink.hpp"
#include "metrics/relay_stats.hpp"
#include "storage/recorder_stats.hpp"

namespace pglc::metrics {

class Metrics : public lifecycle::Sink, public RelayStats {
 public:
  // Binds the exposer on options.metrics_listen unless it is empty; throws
  // std::runtime_error when the address cannot be bound. `recorder` may be null.
  static std::unique_ptr<Metrics> create(const config::Options& options,
                                         const storage::RecorderStats* recorder);
};

}  // namespace pglc::metrics
