// What the parts of one session (its backend link, its login, its relay) may ask of the
// session as a whole. The Session implements it and owns the parts; each part holds a
// reference, so none of them knows the others or the Session: the session's phase and
// how it ends (the reason the observer gets, the connection result the metrics count,
// the ErrorResponse the client gets last) have one owner.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "lifecycle/clock.hpp"
#include "lifecycle/observer.hpp"
#include "lifecycle/records.hpp"
#include "metrics/relay_stats.hpp"
#include "pgwire/frame.hpp"
#include "proxy/cancel_registry.hpp"

namespace pglc::proxy {

// Who is at the other end, for log lines (user, database and application kept escaped).
struct ClientIdentity {
  std::string addr;
  int port = 0;
  std::string user, database, application;
  std::string describe() const { return addr + ":" + std::to_string(port); }
};

// Bytes each way on the client connection since the session began; the login counts
// the startup packet and its own writes, the relay everything after.
struct ClientTraffic {
  std::uint64_t to_client = 0;  // also the client-bound stream offset the tracker uses
  std::uint64_t from_client = 0;
};

using Result = metrics::ConnectionResult;

class SessionControl {
 public:
  // The session is ending: every part stops at its next step.
  virtual bool stopping() const = 0;
  // First reason wins: Terminate before the EOF it causes, auth failure before the close.
  virtual void note_reason(lifecycle::EndReason r) = 0;
  // Stops both directions; the client socket stays open for a last ErrorResponse unless
  // `close_client`.
  virtual void end(lifecycle::EndReason r, bool close_client) = 0;
  // The client gets this ErrorResponse last; `result` is the connection result counted.
  virtual void fail(std::string_view sqlstate, const std::string& message, Result result) = 0;
  virtual void set_result(Result result) = 0;
  // Forgets an earlier fail(): the login found another way on.
  virtual void clear_failure() = 0;
  virtual const ClientIdentity& client() const = 0;

  // The login's steps.
  // The startup packet arrived and the backend link is up: the session is recorded.
  virtual void begin(const lifecycle::SessionStart& start, lifecycle::MonoTime t) = 0;
  virtual lifecycle::SessionObserver& observer() = 0;
  virtual void on_backend_key(CancelKey key) = 0;
  // Whether a client message of the authentication phase is refused before the server
  // sees it (a SCRAM answer that expects the channel binding the proxy withheld).
  virtual bool refuses_in_auth(const pgwire::Frame& f) = 0;
  // The first ReadyForQuery went out: the authentication phase is over.
  virtual void on_authenticated() = 0;

  // The relay's steps.
  // Keeps the session alive while an operation of the relay is in flight.
  virtual std::shared_ptr<void> keep_alive() = 0;
  // A write to the client completed: the session may be idle now (shutdown drain).
  virtual void on_client_write_done() = 0;
  // Both directions of the relay stopped.
  virtual void on_relay_stopped() = 0;

 protected:
  ~SessionControl() = default;
};

}  // namespace pglc::proxy
