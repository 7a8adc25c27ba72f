// What every session shares; owned by the Server, read-only once serving.
#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange

#include <boost/asio/ssl/context.hpp>
#include <functional>
#include <string>

#include "config/options.hpp"
#include "lifecycle/observer.hpp"
#include "metrics/relay_stats.hpp"
#include "proxy/cancel_registry.hpp"

namespace pglc::proxy {

class Session;

struct SessionContext {
  const config::Options& options;
  lifecycle::ObserverFactory& observers;
  metrics::RelayStats& stats;
  CancelRegistry& cancels;
  boost::asio::ssl::context* client_tls = nullptr;   // null: answer SSLRequest with 'N'
  boost::asio::ssl::context* backend_tls = nullptr;  // null: --backend-sslmode disable
  std::string backend_host;
  std::string backend_port;
  // Called on the session's thread after it ended (observer notified, sockets closed).
  std::function<void(Session*)> on_ended;
};

}  // namespace pglc::proxy
