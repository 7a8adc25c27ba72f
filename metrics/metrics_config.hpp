// What /metrics is configured with: the slice of the command line that is the metrics
// layer's, built by the composition root (app/).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace pglc::metrics {

struct MetricsConfig {
  std::string metrics_listen = "127.0.0.1:9464";  // "" turns the exposer off
  std::vector<std::string> metric_labels;         // subset of database,user,application
  std::size_t metric_label_limit = 100;
};

}  // namespace pglc::metrics
