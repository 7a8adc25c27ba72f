// The session's link to the PostgreSQL server: name resolution, TCP, the SSLRequest and
// TLS handshake --backend-sslmode asks for (SNI, host verification), the comparison of
// the proxy's certificate with the server's (channel binding), and the move to a
// plaintext link that lets SCRAM channel binding work under prefer. Also the one-shot
// connections of a session: the --auth-query lookup and a forwarded CancelRequest.
#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "lifecycle/clock.hpp"
#include "proxy/endpoint.hpp"
#include "proxy/session_context.hpp"
#include "proxy/session_control.hpp"

namespace pglc::proxy {

class BackendLink {
 public:
  // `client` is the session's client side, whose certificate the link compares.
  BackendLink(SessionContext& ctx, SessionControl& session, Endpoint& client);

  Endpoint& endpoint() { return ep_; }
  bool tls() const { return ep_.tls != nullptr; }

  // Connects the session's link. allow_tls=false stays in plaintext whatever
  // --backend-sslmode says (the channel binding fallback, only ever under prefer).
  // False: the session's failure is set (backend_unavailable) or it is stopping.
  asio::awaitable<bool> connect(bool allow_tls = true);
  // Another connection to the backend made the same way (the --auth-query lookup).
  asio::awaitable<bool> connect_other(Endpoint& e);
  // Writes the client's startup packet; false (with the failure set) when that fails.
  asio::awaitable<bool> send_startup(std::span<const std::uint8_t> packet);

  // What the backend answers first to the StartupMessage; the messages read stay in the
  // link (take_prefetch) for the authentication relay to forward as usual.
  enum class FirstAuth { other, scram_plus, error_response, io_error };
  asio::awaitable<FirstAuth> prefetch_first_auth(std::string& error_text);
  std::vector<std::uint8_t> take_prefetch() { return std::exchange(prefetch_, {}); }
  // Bytes the SCRAM login to the server read past its last message.
  void keep_prefetch(std::vector<std::uint8_t> bytes) { prefetch_ = std::move(bytes); }

  // The server offered SCRAM-SHA-256-PLUS on a TLS link whose certificate the client
  // cannot bind to: move to plaintext and send `startup` again, or, where the server
  // refuses that, go on over TLS with -PLUS withheld.
  asio::awaitable<bool> downgrade_for_channel_binding(std::span<const std::uint8_t> startup);

  // Sends a CancelRequest packet to the backend and waits for the postmaster to close.
  asio::awaitable<boost::system::error_code> forward_cancel(std::span<const std::uint8_t> packet);

  // The client's TLS certificate is the backend's own: channel binding works through.
  bool same_certificate() const { return same_certificate_; }
  bool downgraded() const { return downgraded_; }
  // When the link the session uses was ready (DESIGN §2's backend_connected).
  std::optional<lifecycle::MonoTime> connected_at() const { return connected_at_; }

  // Stops every operation of the link (session end).
  void close();

 private:
  asio::awaitable<bool> connect_endpoint(Endpoint& e, bool allow_tls);
  void compare_certificates();
  void reset();

  SessionContext& ctx_;
  SessionControl& session_;
  const Endpoint& client_;
  Endpoint ep_;
  tcp::resolver resolver_;
  std::vector<std::uint8_t> prefetch_;
  std::optional<lifecycle::MonoTime> connected_at_;
  bool same_certificate_ = false;
  bool downgraded_ = false;
};

}  // namespace pglc::proxy
