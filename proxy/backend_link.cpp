#include "proxy/backend_link.hpp"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>

#include "pgwire/backend.hpp"
#include "pgwire/framer.hpp"
#include "proxy/log.hpp"
#include "proxy/sasl_rewrite.hpp"

namespace pglc::proxy {

using asio::awaitable;
using asio::redirect_error;
using asio::use_awaitable;
using boost::system::error_code;

namespace {

constexpr std::uint8_t kSslRequest[8] = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f};

bool is_ip_literal(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

}  // namespace

BackendLink::BackendLink(SessionContext& ctx, SessionControl& session, Endpoint& client)
    : ctx_(ctx),
      session_(session),
      client_(client),
      ep_(tcp::socket(client.sock.get_executor())),
      resolver_(client.sock.get_executor()) {}

void BackendLink::close() {
  error_code ec;
  resolver_.cancel();
  ep_.sock.close(ec);
}

void BackendLink::reset() {
  error_code ec;
  ep_.tls.reset();
  ep_.sock.close(ec);
  prefetch_.clear();
  same_certificate_ = false;
}

awaitable<bool> BackendLink::connect(bool allow_tls) {
  const bool ok = co_await connect_endpoint(ep_, allow_tls);
  if (ok) {
    connected_at_ = lifecycle::now();
    compare_certificates();
  }
  co_return ok;
}

awaitable<bool> BackendLink::connect_other(Endpoint& e) {
  return connect_endpoint(e, true);
}

awaitable<bool> BackendLink::connect_endpoint(Endpoint& e, bool allow_tls) {
  error_code ec;
  const std::string& where = ctx_.options.backend;
  auto unavailable = [&](const std::string& why) {
    const ClientIdentity& c = session_.client();
    log::warning() << "connection from " << c.describe() << " user=" << c.user << ": backend "
                   << where << " unavailable: " << why;
    session_.fail("08006", "pglifecycle: could not connect to backend " + where + ": " + why,
                  Result::backend_unavailable);
    return false;
  };
  auto endpoints = co_await resolver_.async_resolve(ctx_.backend_host, ctx_.backend_port,
                                                    redirect_error(use_awaitable, ec));
  if (session_.stopping()) co_return false;
  if (ec) co_return unavailable(ec.message());
  co_await asio::async_connect(e.sock, endpoints, redirect_error(use_awaitable, ec));
  if (session_.stopping()) co_return false;
  if (ec) co_return unavailable(ec.message());
  e.sock.set_option(tcp::no_delay(true), ec);

  const auto mode = ctx_.options.backend_sslmode;
  if (mode == config::BackendSslMode::disable || !ctx_.backend_tls || !allow_tls) co_return true;
  co_await write_all(e, asio::buffer(kSslRequest), ec);
  std::uint8_t answer = 0;
  if (!ec) co_await read_exact(e, asio::buffer(&answer, 1), ec);
  if (session_.stopping()) co_return false;
  if (ec) co_return unavailable(ec.message());
  if (answer == 'N') {
    if (mode == config::BackendSslMode::prefer) {
      // The server refused TLS on this connection; PostgreSQL expects the startup
      // packet next on the same socket.
      co_return true;
    }
    co_return unavailable("the server does not support TLS (backend-sslmode " +
                          std::string(config::to_string(mode)) + ")");
  }
  if (answer != 'S')
    co_return unavailable("unexpected answer to SSLRequest (byte " + std::to_string(answer) + ")");
  e.tls = std::make_unique<TlsStream>(e.sock, *ctx_.backend_tls);
  if (mode == config::BackendSslMode::verify_full) e.tls->verify_host(ctx_.backend_host);
  if (!is_ip_literal(ctx_.backend_host))
    SSL_set_tlsext_host_name(e.tls->native_handle(), ctx_.backend_host.c_str());
  co_await e.tls->async_handshake(asio::ssl::stream_base::client,
                                  redirect_error(use_awaitable, ec));
  if (session_.stopping()) co_return false;
  if (ec) co_return unavailable("TLS handshake failed: " + ec.message());
  co_return true;
}

void BackendLink::compare_certificates() {
  // tls-server-end-point channel binding hashes the server certificate: when the proxy
  // presents the backend's own certificate, the client's binding matches the server's.
  same_certificate_ = false;
  if (!client_.tls || !ep_.tls) return;
  X509* ours = SSL_get_certificate(client_.tls->native_handle());
  X509* theirs = SSL_get0_peer_certificate(ep_.tls->native_handle());
  same_certificate_ = ours && theirs && X509_cmp(ours, theirs) == 0;
}

awaitable<bool> BackendLink::send_startup(std::span<const std::uint8_t> packet) {
  error_code ec;
  co_await write_all(ep_, asio::buffer(packet.data(), packet.size()), ec);
  if (session_.stopping()) co_return false;
  if (!ec) co_return true;
  const ClientIdentity& c = session_.client();
  log::warning() << "connection from " << c.describe() << " user=" << c.user << ": lost backend "
                 << ctx_.options.backend << ": " << ec.message();
  session_.fail(
      "08006",
      "pglifecycle: lost the connection to backend " + ctx_.options.backend + ": " + ec.message(),
      Result::backend_unavailable);
  co_return false;
}

// Reads up to the first authentication request or error, framed like every other backend
// stream; what does not frame is left in the prefetch for the authentication relay to
// reject with its own error.
awaitable<BackendLink::FirstAuth> BackendLink::prefetch_first_auth(std::string& error_text) {
  prefetch_.clear();
  pgwire::Framer framer(pgwire::Direction::backend, ctx_.options.buffer_size);
  std::uint8_t chunk[4096];
  for (;;) {
    error_code ec;
    const std::size_t n = co_await read_some(ep_, asio::buffer(chunk), ec);
    if (session_.stopping() || ec) co_return FirstAuth::io_error;
    prefetch_.insert(prefetch_.end(), chunk, chunk + n);
    std::optional<FirstAuth> first;
    const auto err = framer.feed(pgwire::Bytes(chunk, n), [&](const pgwire::Frame& f, std::size_t) {
      if (f.type == pgwire::be::kErrorResponse) {
        if (auto e = pgwire::be::decode_error_fields(f); e.ok())
          error_text = std::string(e.value.message);
        first = FirstAuth::error_response;
      } else if (f.type == pgwire::be::kAuthentication) {
        first = strip_channel_binding(f) ? FirstAuth::scram_plus : FirstAuth::other;
      }
      return !first;
    });
    if (first) co_return *first;
    if (err != pgwire::FrameError::none || prefetch_.size() >= ctx_.options.buffer_size)
      co_return FirstAuth::other;
  }
}

// Called before anything of the TLS link's authentication request reached the client.
// If the server will not take a plaintext connection (hostssl in pg_hba.conf, say), the
// session goes on over TLS with -PLUS withheld, as under require: clients with
// channel_binding=disable still log in, the others get the server's binding error.
awaitable<bool> BackendLink::downgrade_for_channel_binding(std::span<const std::uint8_t> startup) {
  {
    // A clean TLS close lets that server process end quietly; an abrupt one makes the
    // server log "could not receive data from client: Connection reset by peer".
    error_code ec;
    asio::steady_timer guard(resolver_.get_executor(), std::chrono::seconds(1));
    guard.async_wait([this](error_code e) {
      if (!e) ep_.sock.close(e);
    });
    co_await ep_.tls->async_shutdown(redirect_error(use_awaitable, ec));
    guard.cancel();
    if (session_.stopping()) co_return false;
  }
  reset();
  std::string why;
  bool ok = co_await connect(false);
  if (session_.stopping()) co_return false;
  if (!ok) {
    why = "could not connect";
  } else {
    error_code ec;
    co_await write_all(ep_, asio::buffer(startup.data(), startup.size()), ec);
    if (session_.stopping()) co_return false;
    const FirstAuth first = ec ? FirstAuth::io_error : co_await prefetch_first_auth(why);
    if (session_.stopping()) co_return false;
    if (first == FirstAuth::io_error) why = "connection lost";
    ok = first != FirstAuth::io_error && first != FirstAuth::error_response;
  }
  const ClientIdentity& c = session_.client();
  if (ok) {
    downgraded_ = true;
    log::info() << "session " << c.describe() << " user=" << c.user
                << ": backend link downgraded to plaintext for SCRAM channel binding (the "
                   "proxy's certificate differs from the backend's; --backend-sslmode prefer)";
    co_return true;
  }
  log::info() << "session " << c.describe() << " user=" << c.user
              << ": the backend refused a plaintext link for SCRAM channel binding (" << why
              << "); staying on TLS with SCRAM-SHA-256-PLUS withheld";
  session_.clear_failure();
  reset();
  if (!co_await connect()) co_return false;
  co_return co_await send_startup(startup);
}

awaitable<error_code> BackendLink::forward_cancel(std::span<const std::uint8_t> packet) {
  error_code ec;
  auto endpoints = co_await resolver_.async_resolve(ctx_.backend_host, ctx_.backend_port,
                                                    redirect_error(use_awaitable, ec));
  if (!ec) co_await asio::async_connect(ep_.sock, endpoints, redirect_error(use_awaitable, ec));
  if (!ec)
    co_await asio::async_write(ep_.sock, asio::buffer(packet.data(), packet.size()),
                               redirect_error(use_awaitable, ec));
  if (!ec) {
    // The postmaster closes the connection once it has handled the request; waiting
    // for that keeps the cancel ordered before the client's next step.
    ep_.sock.shutdown(tcp::socket::shutdown_send, ec);
    asio::steady_timer timer(resolver_.get_executor(), std::chrono::seconds(5));
    timer.async_wait([this](error_code e) {
      if (!e) ep_.sock.close(e);
    });
    std::uint8_t sink[64];
    error_code rec;
    co_await ep_.sock.async_read_some(asio::buffer(sink), redirect_error(use_awaitable, rec));
    timer.cancel();
  }
  co_return ec;
}

}  // namespace pglc::proxy
