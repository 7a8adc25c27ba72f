// The startup and authentication phase of one session: the client's first packets (TLS
// negotiation, CancelRequest forwarding, the StartupMessage), the verifier lookup and the
// client's SCRAM exchange under SCRAM termination, the startup packet to the server, and
// the server's side of authentication relayed to the client up to the first
// ReadyForQuery (framed by pgwire::Framer, with SCRAM-SHA-256-PLUS withheld where the
// proxy's certificate would break channel binding, BackendKeyData noted for cancels).
// The client's answers during authentication already stream through the relay.
#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lifecycle/clock.hpp"
#include "pgwire/framer.hpp"
#include "pgwire/ledger.hpp"
#include "proxy/backend_link.hpp"
#include "proxy/endpoint.hpp"
#include "proxy/scram.hpp"
#include "proxy/session_context.hpp"
#include "proxy/session_control.hpp"

namespace pglc::proxy {

class Login {
 public:
  // Fills `identity` from the startup packet.
  Login(SessionContext& ctx, SessionControl& session, Endpoint& client, BackendLink& backend,
        ClientIdentity& identity, pgwire::Ledger& ledger, ClientTraffic& traffic);

  // Up to the server having the startup packet (and, under SCRAM termination, the proxy
  // having logged in to it). True: the session goes on to the authentication relay.
  asio::awaitable<bool> startup(lifecycle::MonoTime accepted);

  // Relays the server's messages up to the first ReadyForQuery to the client. True when
  // the session is authenticated; the bytes the server sent after that ReadyForQuery are
  // in `rest`, for the relay.
  asio::awaitable<bool> relay_auth(std::vector<std::uint8_t>& rest);

  // SCRAM-SHA-256-PLUS was taken out of the server's offer and both links are TLS: a
  // client answer expecting channel binding cannot succeed (SessionControl::refuses_in_auth).
  bool refuses_channel_binding(const pgwire::Frame& f) const;

 private:
  asio::awaitable<bool> find_verifier(const std::string& role, const std::string& database,
                                      std::optional<scram::Verifier>& verifier);
  asio::awaitable<void> forward_cancel(std::int32_t pid, std::int32_t key);
  void rewrite_auth_frame(const pgwire::Frame& f);

  SessionContext& ctx_;
  SessionControl& session_;
  Endpoint& client_;
  BackendLink& backend_;
  ClientIdentity& identity_;
  pgwire::Ledger& ledger_;
  ClientTraffic& traffic_;
  // Like PostgreSQL's authentication_timeout, for the parts the proxy itself waits on.
  bool deadline_applies_ = true;
  bool plus_withheld_ = false;
  std::optional<lifecycle::MonoTime> tls_at_;
  std::vector<std::uint8_t> startup_packet_;
  pgwire::Framer auth_framer_;
  std::vector<std::uint8_t> auth_out_;
};

}  // namespace pglc::proxy
