// The proxy: accepts clients on --listen and relays each to --backend (DESIGN §1, §6).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "config/options.hpp"
#include "lifecycle/observer.hpp"
#include "metrics/relay_stats.hpp"

namespace pglc::proxy {

class Server {
 public:
  // Binds --listen and loads the TLS material; throws std::runtime_error (with a message
  // fit for the user) when either fails. The references must outlive the Server.
  Server(const config::Options& options, lifecycle::ObserverFactory& observers,
         metrics::RelayStats& stats);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Serves until stop() or SIGTERM/SIGINT, then stops accepting, lets open sessions
  // finish for up to --shutdown-grace, closes the rest and returns once every session
  // has ended (each observer got on_session_end). SIGHUP is ignored.
  void run();

  // Starts the shutdown described above. Callable from any thread, also before run().
  void stop();

  // The port actually bound (useful with --listen HOST:0).
  std::uint16_t port() const;

  // Every open session as JSON ({"sessions": [...]}, see docs/activity.md), asked of each
  // session on its own io thread. Callable from any thread but the io threads; waits up
  // to `timeout` for the answers (a session that does not answer in time is left out).
  std::string activity_json(std::chrono::milliseconds timeout = std::chrono::seconds(1));

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace pglc::proxy
