// GET /activity on the metrics listener (loopback by default, like /metrics): civetweb's
// begin_request hook answers it before prometheus-cpp's handlers see the request. The
// JSON comes from a source the composition root sets (the proxy's sessions); the metrics
// layer only serves it.
#pragma once

#include <CivetServer.h>
#include <civetweb.h>

#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace pglc::metrics {

class ActivityEndpoint {
 public:
  ActivityEndpoint() = default;
  ~ActivityEndpoint();
  ActivityEndpoint(const ActivityEndpoint&) = delete;
  ActivityEndpoint& operator=(const ActivityEndpoint&) = delete;

  // For the Exposer's CivetServer: routes /activity of every listener to its endpoint.
  static const CivetCallbacks* callbacks();
  // Requests arriving on these ports are this endpoint's.
  void listen_on(const std::vector<int>& ports);
  // Null: /activity answers 503 (nothing to describe, e.g. while shutting down).
  void set_source(std::function<std::string()> source);

 private:
  static int begin_request(mg_connection* conn);
  void answer(mg_connection* conn);

  std::mutex mutex_;
  std::function<std::string()> source_;
  std::vector<int> ports_;
};

}  // namespace pglc::metrics
