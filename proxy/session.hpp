// One client connection and its backend connection. The Session owns the parts and the
// phase they are in, and decides how it ends; the parts do the work: the backend link
// (BackendLink), the startup and authentication phase (Login), the byte-exact relay in
// both directions (Relay), and the one count of what the server still owes
// (pgwire::Ledger). Every member is used on the session's own io_context thread only
// (one io_context per worker, so no strand).
#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lifecycle/observer.hpp"
#include "pgwire/ledger.hpp"
#include "proxy/backend_link.hpp"
#include "proxy/endpoint.hpp"
#include "proxy/login.hpp"
#include "proxy/relay.hpp"
#include "proxy/session_context.hpp"
#include "proxy/session_control.hpp"

namespace pglc::proxy {

class Session final : public std::enable_shared_from_this<Session>, private SessionControl {
 public:
  Session(SessionContext& ctx, tcp::socket client);
  ~Session();

  void start();
  // Ends the session from outside (server shutdown), telling the client with a FATAL
  // 57P01 where that cannot cut a message in half. Must run on executor().
  void stop(lifecycle::EndReason reason);
  // Server shutdown began: end the session as soon as it is idle (ReadyForQuery 'I',
  // nothing outstanding), now if it already is. Must run on executor().
  void drain();
  asio::any_io_executor executor() { return client_.sock.get_executor(); }
  // Appends what the session is doing now as one JSON object (live activity). Must run
  // on executor(). Never includes bound parameter values.
  void describe(std::string& out, lifecycle::MonoTime now) const;

 private:
  // startup: before the StartupMessage is through (nothing recorded yet);
  // auth: recorded, the server's authentication relayed; relay: streaming;
  // draining: streaming until the next idle point (server shutdown); closing: ending.
  enum class Phase { startup, auth, relay, draining, closing };

  asio::awaitable<void> run();
  asio::awaitable<void> finish();
  bool idle() const;
  void check_drain();
  void on_cancel_requested(lifecycle::MonoTime t);

  // SessionControl.
  bool stopping() const override { return phase_ == Phase::closing; }
  void note_reason(lifecycle::EndReason r) override;
  void end(lifecycle::EndReason r, bool close_client) override;
  void fail(std::string_view sqlstate, const std::string& message, Result result) override;
  void set_result(Result result) override { result_ = result; }
  void clear_failure() override;
  const ClientIdentity& client() const override { return identity_; }
  void begin(const lifecycle::SessionStart& start, lifecycle::MonoTime t) override;
  lifecycle::SessionObserver& observer() override { return *observer_; }
  void on_backend_key(CancelKey key) override;
  bool refuses_in_auth(const pgwire::Frame& f) override;
  void on_authenticated() override;
  std::shared_ptr<void> keep_alive() override { return shared_from_this(); }
  void on_client_write_done() override { check_drain(); }
  void on_relay_stopped() override;

  SessionContext& ctx_;
  Endpoint client_;
  Phase phase_ = Phase::startup;
  bool drain_requested_ = false;  // drain() before the relay phase: drain once there
  ClientIdentity identity_;
  ClientTraffic traffic_;
  lifecycle::MonoTime opened_at_;  // accepted (DESIGN §2's session phases)
  std::unique_ptr<lifecycle::SessionObserver> observer_;
  pgwire::Ledger ledger_;
  BackendLink backend_;
  Login login_;
  Relay relay_;
  std::optional<CancelKey> cancel_key_;
  std::optional<lifecycle::EndReason> reason_;
  Result result_ = Result::client_closed;
  std::vector<std::uint8_t> pending_error_;
};

}  // namespace pglc::proxy
