// The metric families of DESIGN §4 and the /metrics exposer.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "metrics/metrics_config.hpp"
#include "lifecycle/sink.hpp"
#include "metrics/relay_stats.hpp"
#include "storage/recorder_stats.hpp"

namespace pglc::metrics {

class Metrics : public lifecycle::Sink, public RelayStats {
 public:
  // Binds the exposer on options.metrics_listen unless it is empty; throws
  // std::runtime_error when the address cannot be bound, or when options.metric_labels
  // names something other than database, user, application. `recorder` may be null.
  // options.metrics_listen takes civetweb's syntax: "127.0.0.1:9464", "localhost:9464",
  // "9464" (every interface); port 0 picks a free port (see port()). Debian's civetweb
  // is built without IPv6, so "[::1]:9464" fails.
  static std::unique_ptr<Metrics> create(const MetricsConfig& options,
                                         const storage::RecorderStats* recorder);

  // The port the exposer listens on; 0 when the exposer is off.
  virtual int port() const = 0;
  // GET /activity on the same listener answers what `source` returns (JSON); null stops
  // it (503). Set once the sessions exist, cleared before they go.
  virtual void serve_activity(std::function<std::string()> source) = 0;
  // The /metrics body, rendered without HTTP (what a scrape would return, minus the
  // exposer's own exposer_* families).
  virtual std::string render() const = 0;
};

}  // namespace pglc::metrics
