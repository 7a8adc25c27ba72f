// What the relay reports to the metrics layer. Header-only interface so that proxy/ does
// not depend on prometheus-cpp; the default methods do nothing.
#pragma once

#include <chrono>
#include <cstddef>
#include <string_view>

namespace pglc::metrics {

enum class Direction { to_backend, to_client };

// How a connection's startup ended (pglifecycle_client_connections_total{result}).
enum class ConnectionResult {
  ok,
  auth_failed,
  backend_unavailable,
  protocol_error,
  tls_required,
  tls_unavailable,  // asked for TLS, the proxy has none, and closed (sslmode=require)
  cancel_request,
  client_closed,
  too_many_clients,
};
inline constexpr std::size_t kConnectionResults = 9;

constexpr std::string_view to_string(ConnectionResult r) {
  constexpr std::string_view names[kConnectionResults] = {"ok",
                                                          "auth_failed",
                                                          "backend_unavailable",
                                                          "protocol_error",
                                                          "tls_required",
                                                          "tls_unavailable",
                                                          "cancel_request",
                                                          "client_closed",
                                                          "too_many_clients"};
  return names[static_cast<std::size_t>(r)];
}

class RelayStats {
 public:
  virtual ~RelayStats() = default;
  // A client connection was accepted / has closed (pglifecycle_client_connections gauge).
  virtual void connection_opened() {}
  virtual void connection_closed() {}
  // How the connection's startup ended, counted when it closes.
  virtual void connection_result(ConnectionResult) {}
  virtual void bytes(Direction, std::size_t) {}
  // Time a chunk spent in the proxy: read completed → write completed.
  virtual void proxy_latency(Direction, std::chrono::nanoseconds) {}
};

}  // namespace pglc::metrics
