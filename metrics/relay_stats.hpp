// What the relay reports to the metrics layer. Header-only interface so that proxy/ does
// not depend on prometheus-cpp; the default methods do nothing.
#pragma once

#include <chrono>
#include <cstddef>
#include <string_view>

namespace pglc::metrics {

enum class Direction { to_backend, to_client };

class RelayStats {
 public:
  virtual ~RelayStats() = default;
  // A client connection was accepted / has closed (pglifecycle_client_connections gauge).
  virtual void connection_opened() {}
  virtual void connection_closed() {}
  // How the connection's startup ended (pglifecycle_client_connections_total{result}):
  // "ok", "auth_failed", "backend_unavailable", "protocol_error", "tls_required", "tls_unavailable",
  // "cancel_request", "client_closed".
  virtual void connection_result(std::string_view) {}
  virtual void bytes(Direction, std::size_t) {}
  // Time a chunk spent in the proxy: read completed → write completed.
  virtual void proxy_latency(Direction, std::chrono::nanoseconds) {}
};

}  // namespace pglc::metrics
