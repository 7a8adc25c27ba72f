#include "proxy/session.hpp"

#include <openssl/crypto.h>

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <span>

#include "pgwire/backend.hpp"
#include "pgwire/builder.hpp"
#include "pgwire/frontend.hpp"
#include "pgwire/startup.hpp"
#include "proxy/log.hpp"
#include "proxy/sasl_rewrite.hpp"
#include "proxy/scram_login.hpp"

namespace pglc::proxy {

using asio::awaitable;
using asio::redirect_error;
using asio::use_awaitable;
using boost::system::error_code;
using lifecycle::EndReason;
using lifecycle::MonoTime;

namespace {

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

constexpr std::size_t kAuthFailed = static_cast<std::size_t>(-1);
constexpr std::uint64_t kMaxAuthMessage = 65535 + 4;
constexpr std::size_t kSmallDownRead = 16u << 10;
constexpr std::uint8_t kSslRequest[8] = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f};
// Held back client-bound bytes: ParseComplete/BindComplete plus what shares their read;
// larger chunks are written at once (and must leave the next read room).
constexpr std::size_t kMaxHold = 4096;

bool is_ip_literal(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

std::string seconds(std::chrono::steady_clock::duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3fs", std::chrono::duration<double>(d).count());
  return buf;
}

}  // namespace

Session::Session(SessionContext& ctx, tcp::socket client)
    : ctx_(ctx),
      client_(std::move(client)),
      backend_(tcp::socket(client_.sock.get_executor())),
      resolver_(client_.sock.get_executor()),
      buffer_size_(ctx.options.buffer_size),
      up_framer_(pgwire::Direction::frontend, ctx.options.max_message_size),
      down_framer_(pgwire::Direction::backend, ctx.options.max_message_size) {
  gather_.reserve(16);
}

Session::~Session() = default;

void Session::start() {
  opened_at_ = lifecycle::now();
  // The lambda's copy of `self` lives in the coroutine frame: the session stays alive
  // for as long as run() does.
  asio::co_spawn(
      executor(), [self = shared_from_this()] { return self->run(); }, asio::detached);
}

void Session::stop(EndReason reason) {
  if (!began_) {
    // Still in startup: possibly between operations, so cancelling is not enough.
    end(reason, true);
    return;
  }
  if (!reason_ && !pending_error_.size())
    pending_error_ = pgwire::error_response(
        "57P01", "pglifecycle: terminating connection because the proxy is shutting down");
  end(reason, false);
}

void Session::drain() {
  draining_ = true;
  check_drain();
}

bool Session::idle() const {
  return began_ && !auth_phase_ && !stopping_ && requests_ == ready_seen_ && !unsynced_ &&
         ready_status_ == 'I' && up_framer_.at_boundary() && down_framer_.at_boundary() &&
         up_rest_.first == up_rest_.second;
}

void Session::check_drain() {
  if (draining_ && idle()) stop(EndReason::shutdown);
}

void Session::note_reason(EndReason r) {
  if (!reason_) reason_ = r;
}

void Session::end(EndReason r, bool close_client) {
  note_reason(r);
  error_code ec;
  if (stopping_) {
    if (close_client) client_.sock.close(ec);
    return;
  }
  stopping_ = true;
  resolver_.cancel();
  backend_.sock.close(ec);
  if (up_paused_) {
    // The paused client loop has no operation to cancel: it ends here.
    up_paused_ = false;
    loop_done();
  }
  // Cancelling instead of closing keeps the client socket usable for a final
  // ErrorResponse once both directions have stopped.
  if (close_client)
    client_.sock.close(ec);
  else
    client_.sock.cancel(ec);
}

void Session::fail(std::string_view sqlstate, const std::string& message, const char* result) {
  pending_error_ = pgwire::error_response(sqlstate, message);
  result_ = result;
  // Later failures are logged where they happen, with the session's context.
  if (!began_ && std::string_view(result) == "protocol_error")
    log::info() << "connection from " << describe_client() << " refused: " << message;
}

std::string Session::describe_client() const {
  return client_addr_ + ":" + std::to_string(client_port_);
}

awaitable<void> Session::run() {
  auto self = shared_from_this();
  bool relay = false;
  try {
    relay = co_await startup();
  } catch (const std::exception& e) {
    log::error() << "session " << describe_client() << ": " << e.what();
  }
  if (relay && !stopping_) {
    // Allocated only now: probes and cancel requests never need them. new[] without
    // value-initialisation leaves untouched pages uncommitted.
    up_buf_ = RelayBuffer(std::min(RelayBuffer::kSmall, buffer_size_), buffer_size_);
    // Small too: downstream_auth grows it when a whole message needs more room.
    down_buf_ =
        RelayBuffer(std::min(buffer_size_, std::max(RelayBuffer::kSmall, backend_prefetch_.size())),
                    buffer_size_);
    loops_running_ = 2;
    // Before login a client may only answer authentication requests, which PostgreSQL
    // bounds at 64 KiB (PG_MAX_AUTH_TOKEN_LENGTH): nothing larger is assembled for it.
    up_framer_.set_max_message_size(
        std::min<std::uint64_t>(kMaxAuthMessage, ctx_.options.max_message_size));
    up_read();
    // The authentication phase stays a coroutine (it rewrites and batches messages);
    // the streaming relay of the backend direction takes over when it is done.
    asio::co_spawn(
        executor(),
        [self] {
          return [](std::shared_ptr<Session> s) -> awaitable<std::size_t> {
            std::size_t fill = 0;
            if (!co_await s->downstream_auth(fill)) co_return kAuthFailed;
            co_return fill;
          }(self);
        },
        [self](std::exception_ptr e, std::size_t fill) {
          if (e) {
            self->loop_failed(e, EndReason::backend_closed);
            self->loop_done();
          } else if (fill == kAuthFailed || self->stopping_) {
            self->loop_done();
          } else if (fill > 0) {
            self->guarded([&] { self->down_chunk(fill, lifecycle::now()); },
                          EndReason::backend_closed);
          } else {
            self->down_read();
          }
        });
    co_return;
  }
  co_await finish();
}

void Session::loop_failed(std::exception_ptr e, EndReason reason) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    log::error() << "session " << describe_client() << ": " << ex.what();
  } catch (...) {
    log::error() << "session " << describe_client() << ": unknown exception";
  }
  end(reason, true);
}

void Session::loop_done() {
  if (--loops_running_ == 0) {
    asio::co_spawn(
        executor(), [self = shared_from_this()] { return self->finish(); }, asio::detached);
  }
}

awaitable<bool> Session::startup() {
  error_code ec;
  client_.sock.set_option(tcp::no_delay(true), ec);
  auto remote = client_.sock.remote_endpoint(ec);
  if (!ec) {
    client_addr_ = remote.address().to_string();
    client_port_ = remote.port();
  }
  // Like PostgreSQL's authentication_timeout, for the part before the backend takes over:
  // a client that connects and says nothing must not hold a session (and shutdown).
  asio::steady_timer deadline(executor(), ctx_.options.startup_timeout);
  deadline.async_wait([weak = weak_from_this()](error_code e) {
    auto s = weak.lock();
    if (e || !s || (s->began_ && !s->in_client_scram_)) return;
    log::info() << "connection from " << s->describe_client() << ": no complete startup within "
                << seconds(s->ctx_.options.startup_timeout) << ", closed";
    s->end(EndReason::client_closed, true);
  });
  // This proxy answered 'N' to the client's SSLRequest (no --tls-cert): a client that
  // closes right after it wanted TLS (libpq's sslmode=require) and is told why here.
  bool tls_declined = false;
  for (;;) {
    if (stopping_) co_return false;
    std::uint8_t header[4];
    co_await read_exact(client_, asio::buffer(header), ec);
    if (ec && tls_declined && !stopping_) {
      log::info() << "connection from " << describe_client()
                  << " closed after asking for TLS, which this proxy does not offer (start it "
                     "with --tls-cert and --tls-key for clients with sslmode=require)";
      result_ = "tls_unavailable";
    }
    if (ec || stopping_) co_return false;  // closed before a startup packet: result client_closed
    auto len = pgwire::startup_packet_length(pgwire::Bytes(header, 4));
    if (!len) {
      fail("08P01", "pglifecycle: invalid length of startup packet", "protocol_error");
      co_return false;
    }
    startup_packet_.resize(*len);
    std::memcpy(startup_packet_.data(), header, 4);
    co_await read_exact(client_, asio::buffer(startup_packet_.data() + 4, *len - 4), ec);
    if (ec || stopping_) co_return false;
    const MonoTime t = lifecycle::now();
    auto parsed = pgwire::parse_startup_packet(startup_packet_);
    if (!parsed.packet) {
      fail("08P01", "pglifecycle: " + parsed.error, "protocol_error");
      co_return false;
    }
    const pgwire::StartupPacket& p = *parsed.packet;
    using Kind = pgwire::StartupPacket::Kind;
    if (p.kind == Kind::ssl_request || p.kind == Kind::gssenc_request) {
      if (client_.tls) {
        fail("08P01", "pglifecycle: encryption request received on an encrypted connection",
             "protocol_error");
        co_return false;
      }
      const bool accept = p.kind == Kind::ssl_request && ctx_.client_tls;
      const std::uint8_t answer = accept ? 'S' : 'N';
      co_await write_all(client_, asio::buffer(&answer, 1), ec);
      if (ec || stopping_) co_return false;
      tls_declined = p.kind == Kind::ssl_request && !accept;
      if (accept) {
        client_.tls = std::make_unique<TlsStream>(client_.sock, *ctx_.client_tls);
        co_await client_.tls->async_handshake(asio::ssl::stream_base::server,
                                              redirect_error(use_awaitable, ec));
        if (ec || stopping_) {
          log::info() << "connection from " << describe_client()
                      << ": TLS handshake failed: " << ec.message();
          result_ = "protocol_error";
          co_return false;
        }
        tls_at_ = lifecycle::now();
      }
      continue;
    }
    if (p.kind == Kind::cancel_request) {
      result_ = "cancel_request";
      co_await forward_cancel(p.cancel_pid, p.cancel_key, startup_packet_);
      co_return false;
    }

    // StartupMessage.
    // Kept for log lines only, so kept escaped.
    user_ = log::escape(p.parameter("user"));
    database_ = p.parameter("database").empty() ? user_ : log::escape(p.parameter("database"));
    application_ = log::escape(p.parameter("application_name"));
    if (ctx_.options.require_tls && !client_.tls) {
      log::info() << "connection from " << describe_client() << " user=" << user_
                  << " refused: TLS is required";
      fail("28000",
           "pglifecycle: TLS is required for every connection; connect with sslmode=require",
           "tls_required");
      co_return false;
    }
    std::optional<scram::Verifier> verifier;
    if (!ctx_.options.auth_query_user.empty()) {
      // SCRAM termination: the role's verifier first (no verifier: passed through).
      const std::string role(p.parameter("user"));
      const std::string db = !ctx_.options.auth_dbname.empty() ? ctx_.options.auth_dbname
                             : p.parameter("database").empty()
                                 ? role
                                 : std::string(p.parameter("database"));
      if (!co_await find_verifier(role, db, verifier)) co_return false;
    }
    if (!co_await connect_backend()) co_return false;
    compare_certificates();
    bool startup_sent = false;
    if (!verifier && client_.tls && backend_.tls && !same_certificate_ &&
        ctx_.options.backend_sslmode == config::BackendSslMode::prefer) {
      // A SCRAM server on a TLS link offers SCRAM-SHA-256-PLUS, which cannot work through
      // the proxy's own certificate, and withholding it makes binding-capable clients
      // (libpq and Npgsql by default) send gs2 flag 'y', which a TLS server rejects as a
      // downgrade. So look at the first authentication request before the session begins:
      // if it offers -PLUS, the backend link moves to plaintext, where the server neither
      // offers binding nor objects to 'y'. prefer allows that; require never does.
      if (!co_await send_startup_to_backend()) co_return false;
      startup_sent = true;
      std::string why;
      const FirstAuth first = co_await prefetch_first_auth(why);
      if (stopping_) co_return false;
      if (first == FirstAuth::io_error) {
        log::warning() << "connection from " << describe_client() << " user=" << user_
                       << ": lost backend " << ctx_.options.backend << " during startup";
        fail("08006", "pglifecycle: lost the connection to backend " + ctx_.options.backend,
             "backend_unavailable");
        co_return false;
      }
      if (first == FirstAuth::scram_plus && !co_await downgrade_for_channel_binding())
        co_return false;
    }

    lifecycle::SessionStart start;
    start.client_addr = client_addr_;
    start.client_port = client_port_;
    start.backend_addr = ctx_.options.backend;
    start.client_tls = client_.tls != nullptr;
    start.backend_tls = backend_.tls != nullptr;
    start.startup = &p;
    start.accepted = opened_at_;
    start.tls_established = tls_at_;
    start.backend_connected = backend_at_;
    observer_ = ctx_.observers.create();
    observer_->on_session_begin(start, t);
    began_ = true;

    scram::Key key{};
    if (verifier) {
      // The client proves itself to the proxy (binding to the proxy's certificate), then
      // the proxy logs in to the server with the key that proof reveals.
      in_client_scram_ = true;
      const LoginOutcome out =
          co_await authenticate_client(client_, *verifier, std::string(p.parameter("user")), key,
                                       client_offset_, bytes_from_client_);
      in_client_scram_ = false;
      if (stopping_) co_return false;
      if (!out.ok) {
        if (out.io_error) {
          end(EndReason::client_closed, true);
          co_return false;
        }
        log::info() << "connection from " << describe_client() << " user=" << user_
                    << ": SCRAM authentication failed: " << out.message;
        fail(out.sqlstate, out.message, "auth_failed");
        end(EndReason::auth_failed, false);
        co_return false;
      }
    }

    ec = {};
    if (!startup_sent) co_await write_all(backend_, asio::buffer(startup_packet_), ec);
    if (ec) {
      fail("08006",
           "pglifecycle: lost the connection to backend " + ctx_.options.backend + ": " +
               ec.message(),
           "backend_unavailable");
      end(EndReason::backend_closed, false);
      co_return false;
    }
    bytes_from_client_ += startup_packet_.size();
    if (verifier) {
      const LoginOutcome out =
          co_await authenticate_to_server(backend_, *verifier, key, backend_prefetch_);
      OPENSSL_cleanse(key.data(), key.size());
      if (stopping_) co_return false;
      if (!out.ok) {
        const std::string why =
            out.io_error ? "lost the connection during authentication" : out.message;
        log::warning() << "session " << describe_client() << " user=" << user_
                       << ": SCRAM login to the backend failed: " << why;
        fail(out.io_error ? "08006" : out.sqlstate, "pglifecycle: " + why, "backend_unavailable");
        end(out.io_error ? EndReason::backend_closed : EndReason::auth_failed, false);
        co_return false;
      }
    }
    log::info() << "session open client=" << describe_client() << " user=" << user_
                << " database=" << database_ << " application=" << application_
                << " client_tls=" << (client_.tls ? "on" : "off")
                << " backend_tls=" << (backend_.tls ? "on" : "off")
                << (downgraded_ ? " (downgraded for channel binding)" : "")
                << (verifier ? " (SCRAM terminated)" : "");
    co_return !stopping_;
  }
}

// The --auth-query lookup on a connection of its own, closed before the session's
// backend link opens. False (with the client's error set) when the lookup itself fails.
awaitable<bool> Session::find_verifier(const std::string& role, const std::string& database,
                                       std::optional<scram::Verifier>& verifier) {
  Endpoint lookup{tcp::socket(executor())};
  if (!co_await connect_endpoint(lookup, true)) co_return false;
  const auto& o = ctx_.options;
  const LoginOutcome out = co_await lookup_verifier(
      lookup, o.auth_query_user, o.auth_query_password, database, o.auth_query, role, verifier);
  error_code ec;
  lookup.sock.close(ec);
  if (stopping_) co_return false;
  if (!out.ok) {
    const std::string why = out.io_error ? "lost the connection" : out.message;
    log::warning() << "connection from " << describe_client() << " user=" << user_
                   << ": --auth-query lookup failed: " << why;
    fail(out.io_error ? "08006" : out.sqlstate, "pglifecycle: SCRAM termination: " + why,
         "backend_unavailable");
    co_return false;
  }
  if (!verifier) {
    log::info() << "connection from " << describe_client() << " user=" << user_
                << ": no SCRAM verifier for this role, authentication passed through";
  }
  co_return true;
}

awaitable<bool> Session::send_startup_to_backend() {
  error_code ec;
  co_await write_all(backend_, asio::buffer(startup_packet_), ec);
  if (stopping_) co_return false;
  if (!ec) co_return true;
  log::warning() << "connection from " << describe_client() << " user=" << user_
                 << ": lost backend " << ctx_.options.backend << ": " << ec.message();
  fail("08006",
       "pglifecycle: lost the connection to backend " + ctx_.options.backend + ": " + ec.message(),
       "backend_unavailable");
  co_return false;
}

void Session::reset_backend() {
  error_code ec;
  backend_.tls.reset();
  backend_.sock.close(ec);
  backend_prefetch_.clear();
  same_certificate_ = false;
}

// Reads whole messages up to the first authentication request or error; whatever does not
// look like a sane message is left for downstream_auth to reject.
awaitable<Session::FirstAuth> Session::prefetch_first_auth(std::string& error_text) {
  error_code ec;
  backend_prefetch_.clear();
  for (int i = 0; i < 8; ++i) {
    if (backend_prefetch_.size() + 5 > buffer_size_) co_return FirstAuth::other;
    const std::size_t at = backend_prefetch_.size();
    backend_prefetch_.resize(at + 5);
    co_await read_exact(backend_, asio::buffer(backend_prefetch_.data() + at, 5), ec);
    if (stopping_ || ec) co_return FirstAuth::io_error;
    const char type = static_cast<char>(backend_prefetch_[at]);
    const std::uint32_t len = be32(backend_prefetch_.data() + at + 1);
    if (len < 4 || at + len + 1ull > buffer_size_) co_return FirstAuth::other;
    backend_prefetch_.resize(at + len + 1);
    co_await read_exact(backend_, asio::buffer(backend_prefetch_.data() + at + 5, len - 4), ec);
    if (stopping_ || ec) co_return FirstAuth::io_error;
    pgwire::Frame f{type, len, pgwire::Bytes(backend_prefetch_.data() + at + 5, len - 4)};
    if (type == pgwire::be::kErrorResponse) {
      auto e = pgwire::be::decode_error_fields(f);
      if (e.ok()) error_text = std::string(e.value.message);
      co_return FirstAuth::error_response;
    }
    if (type == pgwire::be::kAuthentication)
      co_return strip_channel_binding(f) ? FirstAuth::scram_plus : FirstAuth::other;
  }
  co_return FirstAuth::other;
}

// Called before anything of the TLS link's authentication request reached the client.
// If the server will not take a plaintext connection (hostssl in pg_hba.conf, say), the
// session goes on over TLS with -PLUS withheld, as under require: clients with
// channel_binding=disable still log in, the others get the server's binding error.
awaitable<bool> Session::downgrade_for_channel_binding() {
  {
    // A clean TLS close lets that server process end quietly; an abrupt one makes the
    // server log "could not receive data from client: Connection reset by peer".
    error_code ec;
    asio::steady_timer guard(executor(), std::chrono::seconds(1));
    guard.async_wait([this](error_code e) {
      if (!e) backend_.sock.close(e);
    });
    co_await backend_.tls->async_shutdown(redirect_error(use_awaitable, ec));
    guard.cancel();
    if (stopping_) co_return false;
  }
  reset_backend();
  std::string why;
  bool ok = co_await connect_backend(false);
  if (stopping_) co_return false;
  if (!ok) {
    why = "could not connect";
  } else {
    error_code ec;
    co_await write_all(backend_, asio::buffer(startup_packet_), ec);
    if (stopping_) co_return false;
    const FirstAuth first = ec ? FirstAuth::io_error : co_await prefetch_first_auth(why);
    if (stopping_) co_return false;
    if (first == FirstAuth::io_error) why = "connection lost";
    ok = first != FirstAuth::io_error && first != FirstAuth::error_response;
  }
  if (ok) {
    downgraded_ = true;
    log::info() << "session " << describe_client() << " user=" << user_
                << ": backend link downgraded to plaintext for SCRAM channel binding (the "
                   "proxy's certificate differs from the backend's; --backend-sslmode prefer)";
    co_return true;
  }
  log::info() << "session " << describe_client() << " user=" << user_
              << ": the backend refused a plaintext link for SCRAM channel binding (" << why
              << "); staying on TLS with SCRAM-SHA-256-PLUS withheld";
  pending_error_.clear();
  result_ = "client_closed";
  reset_backend();
  if (!co_await connect_backend()) co_return false;
  compare_certificates();
  co_return co_await send_startup_to_backend();
}

awaitable<bool> Session::connect_backend(bool allow_tls) {
  const bool ok = co_await connect_endpoint(backend_, allow_tls);
  if (ok) backend_at_ = lifecycle::now();
  co_return ok;
}

awaitable<bool> Session::connect_endpoint(Endpoint& e, bool allow_tls) {
  error_code ec;
  const std::string& where = ctx_.options.backend;
  auto unavailable = [&](const std::string& why) {
    log::warning() << "connection from " << describe_client() << " user=" << user_ << ": backend "
                   << where << " unavailable: " << why;
    fail("08006", "pglifecycle: could not connect to backend " + where + ": " + why,
         "backend_unavailable");
    return false;
  };
  auto endpoints = co_await resolver_.async_resolve(ctx_.backend_host, ctx_.backend_port,
                                                    redirect_error(use_awaitable, ec));
  if (stopping_) co_return false;
  if (ec) co_return unavailable(ec.message());
  co_await asio::async_connect(e.sock, endpoints, redirect_error(use_awaitable, ec));
  if (stopping_) co_return false;
  if (ec) co_return unavailable(ec.message());
  e.sock.set_option(tcp::no_delay(true), ec);

  const auto mode = ctx_.options.backend_sslmode;
  if (mode == config::BackendSslMode::disable || !ctx_.backend_tls || !allow_tls) co_return true;
  co_await write_all(e, asio::buffer(kSslRequest), ec);
  std::uint8_t answer = 0;
  if (!ec) co_await read_exact(e, asio::buffer(&answer, 1), ec);
  if (stopping_) co_return false;
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
  if (stopping_) co_return false;
  if (ec) co_return unavailable("TLS handshake failed: " + ec.message());
  co_return true;
}

void Session::compare_certificates() {
  // tls-server-end-point channel binding hashes the server certificate: when the proxy
  // presents the backend's own certificate, the client's binding matches the server's.
  same_certificate_ = false;
  if (!client_.tls || !backend_.tls) return;
  X509* ours = SSL_get_certificate(client_.tls->native_handle());
  X509* theirs = SSL_get0_peer_certificate(backend_.tls->native_handle());
  same_certificate_ = ours && theirs && X509_cmp(ours, theirs) == 0;
}

awaitable<void> Session::forward_cancel(std::int32_t pid, std::int32_t key,
                                        const std::vector<std::uint8_t>& packet) {
  error_code ec;
  const MonoTime t = lifecycle::now();
  // The owning session's observer learns of it whether or not the backend is reachable.
  bool known = ctx_.cancels.notify(CancelKey{pid, key}, t);
  auto endpoints = co_await resolver_.async_resolve(ctx_.backend_host, ctx_.backend_port,
                                                    redirect_error(use_awaitable, ec));
  if (!ec)
    co_await asio::async_connect(backend_.sock, endpoints, redirect_error(use_awaitable, ec));
  if (!ec)
    co_await asio::async_write(backend_.sock, asio::buffer(packet),
                               redirect_error(use_awaitable, ec));
  if (!ec) {
    // The postmaster closes the connection once it has handled the request; waiting
    // for that keeps the cancel ordered before the client's next step.
    backend_.sock.shutdown(tcp::socket::shutdown_send, ec);
    asio::steady_timer timer(executor(), std::chrono::seconds(5));
    timer.async_wait([this](error_code e) {
      if (!e) backend_.sock.close(e);
    });
    std::uint8_t sink[64];
    error_code rec;
    co_await backend_.sock.async_read_some(asio::buffer(sink), redirect_error(use_awaitable, rec));
    timer.cancel();
  }
  log::info() << "cancel request from " << describe_client() << " for backend pid " << pid
              << (known ? "" : " (no session of this proxy holds that key)")
              << (ec ? " could not be forwarded: " + ec.message() : std::string(" forwarded"));
}

void Session::on_cancel_requested(MonoTime t) {
  if (began_ && observer_ && !reason_) observer_->on_cancel_requested(t);
}

// The streaming relay is written with completion handlers rather than coroutines: each
// direction has one operation in flight, whose memory comes from that direction's
// HandlerMemory, so relaying allocates nothing per read or write.
template <class Buffers, class Handler>
void Session::start_read(Endpoint& e, const Buffers& b, HandlerMemory& m, Handler&& h) {
  if (e.tls)
    e.tls->async_read_some(b, with_memory(m, std::forward<Handler>(h)));
  else
    e.sock.async_read_some(b, with_memory(m, std::forward<Handler>(h)));
}

template <class Buffers, class Handler>
void Session::start_write(Endpoint& e, const Buffers& b, HandlerMemory& m, Handler&& h) {
  if (e.tls)
    asio::async_write(*e.tls, b, with_memory(m, std::forward<Handler>(h)));
  else
    asio::async_write(e.sock, b, with_memory(m, std::forward<Handler>(h)));
}

template <class F>
void Session::guarded(F&& f, EndReason reason) {
  try {
    f();
  } catch (...) {
    // An observer threw: end this session, keep the io thread.
    loop_failed(std::current_exception(), reason);
    loop_done();
  }
}

void Session::up_read() {
  if (stopping_) return loop_done();
  up_buf_.before_read(0);
  start_read(client_, asio::buffer(up_buf_.data(), up_buf_.size()), up_memory_,
             [self = shared_from_this()](const error_code& ec, std::size_t n) {
               self->guarded([&] { self->up_on_read(ec, n); }, EndReason::client_closed);
             });
}

void Session::up_on_read(const error_code& ec, std::size_t n) {
  if (stopping_) return loop_done();
  if (ec) {
    end(EndReason::client_closed, false);
    return loop_done();
  }
  up_buf_.after_read(n);
  const MonoTime t = lifecycle::now();
  up_read_at_ = t;
  bytes_from_client_ += n;
  up_forward(0, n, t);
}

// Frames and forwards up_buf_[from, to). Stops early, right after a message that takes
// the tracker over --max-pipeline-bytes: the rest waits in the buffer (up_rest_) until
// the server's answers bring it back under the bound, so one large read cannot overshoot.
void Session::up_forward(std::size_t from, std::size_t to, MonoTime t) {
  // Flushes may be injected (the tracker says after which Parse/Bind: wants_flush()).
  const bool precise = ctx_.options.phase_timing != config::PhaseTiming::passive;
  std::uint8_t* const buf = up_buf_.data() + from;
  const std::size_t limit = ctx_.options.max_pipeline_bytes;
  planner_.begin();
  if (precise) holdback_.begin_chunk();
  bool client_flush = false;
  char bad_type = 0;
  char last_type = 0;
  std::size_t last_end = 0;
  std::size_t n = to - from;
  auto err = up_framer_.feed(
      pgwire::Bytes(buf, n),
      [&](const pgwire::Frame& f, std::size_t end) {
        if (!pgwire::fe::is_known_type(f.type)) {
          bad_type = f.type == 0 ? '?' : f.type;
          return false;
        }
        if (auth_phase_ && plus_withheld_ && client_.tls && backend_.tls &&
            scram_gs2_flag(f) == 'y') {
          // The server would answer with its riddle ("SCRAM channel binding negotiation
          // error"); the proxy knows why and what fixes it.
          binding_refused_ = true;
          return false;
        }
        observer_->on_frontend(f, t);
        switch (f.type) {
          case pgwire::fe::kTerminate:
            note_reason(EndReason::client_terminate);
            break;
          case pgwire::fe::kQuery:
          case pgwire::fe::kFunctionCall:
            ++requests_;
            break;
          case pgwire::fe::kSync:
            ++requests_;
            unsynced_ = false;
            break;
          case pgwire::fe::kFlush:
            client_flush = true;
            unsynced_ = true;
            break;
          case pgwire::fe::kParse:
          case pgwire::fe::kBind:
          case pgwire::fe::kDescribe:
          case pgwire::fe::kExecute:
          case pgwire::fe::kClose:
            unsynced_ = true;
            break;
          default:
            break;
        }
        if (precise) {
          const bool flush = observer_->wants_flush();
          planner_.on_frame(f.type, end, flush);
          holdback_.on_frontend(f.type, flush);
        }
        last_type = f.type;
        last_end = end;
        return observer_->owed_bytes() <= limit;
      },
      &n);
  up_rest_ = {from + n, to};
  if (last_type != 0 && observer_->owed_bytes() > limit)
    planner_.flush_before_pause(last_end, last_type);
  if (binding_refused_) {
    log::info() << "session " << describe_client() << " user=" << user_
                << ": refused a SCRAM login that expects channel binding, which cannot work "
                   "through the proxy's own certificate on a TLS backend link";
    fail("08P01",
         "pglifecycle: SCRAM channel binding cannot work through this proxy: it presents its "
         "own certificate and the link to the server is TLS too. Connect with "
         "channel_binding=disable, or run the proxy with --backend-sslmode prefer, or with "
         "the server's own certificate and key as --tls-cert/--tls-key",
         "auth_failed");
    note_reason(EndReason::auth_failed);
    end(EndReason::auth_failed, false);
    loop_done();
    return;
  }
  if (err != pgwire::FrameError::none || bad_type) {
    std::string why = bad_type ? "invalid frontend message type " +
                                     std::to_string(static_cast<unsigned char>(bad_type))
                      : auth_phase_ && err == pgwire::FrameError::length_too_large
                          ? std::string("invalid message length during authentication")
                          : std::string(pgwire::describe(err));
    log::info() << "session " << describe_client() << " user=" << user_
                << ": protocol violation: " << why;
    fail("08P01", "pglifecycle: " + why, "protocol_error");
    end(EndReason::protocol_error, false);
    loop_done();
    return;
  }
  // Without the proxy's Flushes the server would send the held bytes now; it may have
  // nothing new to send, since our Flush already emptied its buffer.
  if (client_flush && holding_ && !releasing_) release_held(t);
  auto done = [self = shared_from_this()](const error_code& e, std::size_t written) {
    self->guarded([&] { self->up_on_written(e, written); }, EndReason::backend_closed);
  };
  const auto& offsets = planner_.finish();
  if (offsets.empty()) {
    start_write(backend_, asio::buffer(buf, n), up_memory_, std::move(done));
    return;
  }
  if (backend_.tls) {
    // Over TLS each buffer of a gather write becomes its own record (and SSL_write call);
    // one contiguous copy is cheaper. The scratch buffer keeps its capacity.
    tls_scratch_.clear();
    std::size_t prev = 0;
    for (std::size_t o : offsets) {
      tls_scratch_.insert(tls_scratch_.end(), buf + prev, buf + o);
      tls_scratch_.insert(tls_scratch_.end(), std::begin(pgwire::kFlushMessage),
                          std::end(pgwire::kFlushMessage));
      prev = o;
    }
    tls_scratch_.insert(tls_scratch_.end(), buf + prev, buf + n);
    start_write(backend_, asio::buffer(tls_scratch_), up_memory_, std::move(done));
    return;
  }
  gather_.clear();
  std::size_t prev = 0;
  for (std::size_t o : offsets) {
    gather_.emplace_back(buf + prev, o - prev);
    gather_.emplace_back(pgwire::kFlushMessage, sizeof pgwire::kFlushMessage);
    prev = o;
  }
  if (prev < n) gather_.emplace_back(buf + prev, n - prev);
  // A span keeps Asio from copying the buffer vector on each write.
  start_write(backend_, std::span<const asio::const_buffer>(gather_.data(), gather_.size()),
              up_memory_, std::move(done));
}

void Session::up_on_written(const error_code& ec, std::size_t written) {
  if (stopping_) return loop_done();
  if (ec) {
    end(EndReason::backend_closed, true);
    return loop_done();
  }
  ctx_.stats.bytes(metrics::Direction::to_backend, written);
  ctx_.stats.proxy_latency(metrics::Direction::to_backend, lifecycle::now() - up_read_at_);
  // The TLS copy of a burst is not kept for the rest of the session.
  if (tls_scratch_.capacity() > 2 * RelayBuffer::kSmall && written < RelayBuffer::kSmall)
    std::vector<std::uint8_t>().swap(tls_scratch_);
  if (observer_->owed_bytes() > ctx_.options.max_pipeline_bytes) {
    // Backpressure: the client is far ahead of the server's answers. Reading resumes from
    // down_chunk / down_on_written once the tracker has drained to half the bound.
    up_paused_ = true;
    return;
  }
  up_continue();
}

// The rest of the last read first, then a new read.
void Session::up_continue() {
  // Held back by the bound, read at up_read_at_ (what the tracker calls received).
  if (up_rest_.first < up_rest_.second) {
    return up_forward(up_rest_.first, up_rest_.second, up_read_at_);
  }
  up_read();
}

void Session::maybe_resume_up() {
  if (!up_paused_ || stopping_) return;
  if (observer_->owed_bytes() > ctx_.options.max_pipeline_bytes / 2) return;
  up_paused_ = false;
  up_continue();
}

void Session::down_read() {
  if (stopping_) return loop_done();
  // A release write in flight still reads from the buffer.
  if (!releasing_) down_buf_.before_read(held_);
  std::size_t room = down_buf_.size() - held_;
  // Answers wait in the tracker until the client has them: while it holds much, read in
  // small steps, so that a client that does not read cannot make one read hold thousands.
  if (observer_->owed_bytes() > ctx_.options.max_pipeline_bytes / 2) {
    room = std::min(room, kSmallDownRead);
  }
  start_read(backend_, asio::buffer(down_buf_.data() + held_, room), down_memory_,
             [self = shared_from_this()](const error_code& ec, std::size_t n) {
               self->guarded([&] { self->down_on_read(ec, n); }, EndReason::backend_closed);
             });
}

void Session::down_on_read(const error_code& ec, std::size_t n) {
  holding_ = false;
  if (stopping_) return loop_done();
  const MonoTime t = lifecycle::now();
  if (releasing_) {
    // The new bytes follow the held ones: they wait for the release write to finish.
    parked_ = true;
    parked_ec_ = ec;
    parked_n_ = n;
    parked_at_ = t;
    return;
  }
  down_after_read(ec, n, t);
}

void Session::down_after_read(const error_code& ec, std::size_t n, MonoTime t) {
  if (ec) {
    if (held_ > sent_ && !client_write_broken_) {
      // The server sent these before it closed; the client gets them before the close.
      backend_gone_ = true;
      down_read_at_ = t;
      return down_write(sent_, held_);
    }
    end(EndReason::backend_closed, true);
    return loop_done();
  }
  down_chunk(n, t);
}

void Session::release_held(MonoTime t) {
  holdback_.written();
  holding_ = false;
  releasing_ = true;
  release_at_ = t;
  start_write(client_, asio::buffer(down_buf_.data() + sent_, held_ - sent_), release_memory_,
              [self = shared_from_this()](const error_code& ec, std::size_t written) {
                self->on_released(ec, written);
              });
}

// Not a loop of its own: it resumes the backend loop if a read completed meanwhile.
void Session::on_released(const error_code& ec, std::size_t n) {
  releasing_ = false;
  const bool resume = std::exchange(parked_, false);
  if (stopping_ || ec) {
    if (ec) {
      client_write_broken_ = true;
      if (!stopping_) end(EndReason::client_closed, true);
    }
    if (resume) loop_done();
    return;
  }
  sent_ += n;
  const MonoTime w = lifecycle::now();
  client_offset_ += n;
  try {
    observer_->on_client_written(client_offset_, w);
  } catch (...) {
    loop_failed(std::current_exception(), EndReason::client_closed);
    if (resume) loop_done();
    return;
  }
  ctx_.stats.bytes(metrics::Direction::to_client, n);
  ctx_.stats.proxy_latency(metrics::Direction::to_client, w - release_at_);
  if (resume)
    guarded([&] { down_after_read(parked_ec_, parked_n_, parked_at_); }, EndReason::backend_closed);
}

// Backend messages up to the first ReadyForQuery go to the client whole, one read's worth
// at a time, so that AuthenticationSASL can be rewritten and BackendKeyData noted.
// Leaves any bytes after ReadyForQuery at the start of the buffer (`fill`).
awaitable<bool> Session::downstream_auth(std::size_t& fill) {
  error_code ec;
  std::uint8_t* buf = down_buf_.data();
  // What startup() already read from the backend goes first (its size is bounded by
  // buffer_size_; the down buffer was made that large).
  fill = backend_prefetch_.size();
  if (fill > 0) std::memcpy(buf, backend_prefetch_.data(), fill);
  bool have_prefetch = fill > 0;
  std::vector<std::uint8_t>().swap(backend_prefetch_);
  while (auth_phase_) {
    if (!have_prefetch) {
      if (fill == down_buf_.size()) {
        // A message larger than the buffer so far (it is at most buffer_size_: see below).
        down_buf_.ensure(2 * down_buf_.size(), fill);
        buf = down_buf_.data();
      }
      std::size_t n =
          co_await read_some(backend_, asio::buffer(buf + fill, down_buf_.size() - fill), ec);
      if (stopping_) co_return false;
      if (ec) {
        end(EndReason::backend_closed, true);
        co_return false;
      }
      fill += n;
    }
    have_prefetch = false;
    const MonoTime t = lifecycle::now();
    auth_out_.clear();
    std::size_t pos = 0;
    while (auth_phase_ && fill - pos >= 5) {
      const char type = static_cast<char>(buf[pos]);
      const std::uint32_t len = be32(buf + pos + 1);
      if (len < 4 || len + 1ull > buffer_size_) {
        log::warning() << "session " << describe_client()
                       << ": invalid message from the backend during authentication";
        fail("08P01", "pglifecycle: invalid message from the backend during authentication",
             "protocol_error");
        end(EndReason::protocol_error, false);
        co_return false;
      }
      if (fill - pos < len + 1ull) break;
      pgwire::Frame f{type, len, pgwire::Bytes(buf + pos + 5, len - 4)};
      // Channel binding can never work through the proxy: over client TLS it would bind
      // to the wrong certificate, and libpq rejects PLUS outright on a plaintext client
      // connection (which the backend does not know about).
      std::optional<std::vector<std::uint8_t>> replacement;
      if (!same_certificate_) {
        replacement = strip_channel_binding(f);
        if (replacement) plus_withheld_ = true;
        if (replacement && client_.tls)
          log::info() << "session " << describe_client() << " user=" << user_
                      << ": SCRAM-SHA-256-PLUS withheld (the proxy's certificate differs "
                         "from the backend's); over a TLS backend link clients need "
                         "channel_binding=disable unless --tls-cert is the backend's "
                         "certificate or --backend-sslmode is prefer";
      }
      if (replacement)
        auth_out_.insert(auth_out_.end(), replacement->begin(), replacement->end());
      else
        auth_out_.insert(auth_out_.end(), buf + pos, buf + pos + len + 1);
      observer_->on_backend(f, t, client_offset_ + auth_out_.size());
      if (type == pgwire::be::kBackendKeyData) {
        auto k = pgwire::be::decode_backend_key_data(f);
        if (k.ok()) {
          cancel_key_ = CancelKey{k.value.pid, k.value.key};
          std::weak_ptr<Session> weak = weak_from_this();
          auto exec = executor();
          ctx_.cancels.add(cancel_key_, this, [weak, exec](MonoTime when) {
            asio::post(exec, [weak, when] {
              if (auto s = weak.lock()) s->on_cancel_requested(when);
            });
          });
          cancel_registered_ = true;
        }
      } else if (type == pgwire::be::kErrorResponse) {
        note_reason(EndReason::auth_failed);
        result_ = "auth_failed";
      } else if (type == pgwire::be::kReadyForQuery) {
        auth_phase_ = false;
        up_framer_.set_max_message_size(ctx_.options.max_message_size);
        if (!f.body.empty()) ready_status_ = static_cast<char>(f.body[0]);
        result_ = "ok";
      }
      pos += len + 1;
    }
    observer_->on_backend_read_done(t);
    if (!auth_out_.empty()) {
      co_await write_all(client_, asio::buffer(auth_out_), ec);
      if (stopping_) co_return false;
      if (ec) {
        client_write_broken_ = true;
        end(EndReason::client_closed, true);
        co_return false;
      }
      const MonoTime w = lifecycle::now();
      client_offset_ += auth_out_.size();
      observer_->on_client_written(client_offset_, w);
      ctx_.stats.bytes(metrics::Direction::to_client, auth_out_.size());
      ctx_.stats.proxy_latency(metrics::Direction::to_client, w - t);
      check_drain();
      if (stopping_) co_return false;
    }
    std::memmove(buf, buf + pos, fill - pos);
    fill -= pos;
  }
  co_return true;
}

// The new bytes are at down_buf_[held_, held_ + n), after any held ones.
void Session::down_chunk(std::size_t n, MonoTime t) {
  std::uint8_t* const buf = down_buf_.data();
  down_buf_.after_read(held_ + n);
  const bool precise = ctx_.options.phase_timing != config::PhaseTiming::passive;
  // Offsets are positions in the client-bound stream: unsent held bytes come first.
  const std::uint64_t base = client_offset_ + (held_ - sent_);
  const bool was_at_boundary = down_framer_.at_boundary();
  std::size_t good_end = 0;  // past the last whole message of this chunk
  auto err = down_framer_.feed(pgwire::Bytes(buf + held_, n),
                               [&](const pgwire::Frame& f, std::size_t end) {
                                 good_end = end;
                                 observer_->on_backend(f, t, base + end);
                                 if (precise) holdback_.on_backend(f.type);
                                 if (f.type == pgwire::be::kReadyForQuery && !f.body.empty()) {
                                   ++ready_seen_;
                                   ready_status_ = static_cast<char>(f.body[0]);
                                 }
                               });
  if (err != pgwire::FrameError::none) {
    log::warning() << "session " << describe_client() << " user=" << user_
                   << ": invalid message from the backend: " << pgwire::describe(err);
    // The whole messages before the bad one still reach the client, then an error that
    // says what happened instead of a bare close -- where it cannot land inside a message.
    held_ += good_end;
    client_at_boundary_ = was_at_boundary || good_end > 0;
    fail("08P01",
         "pglifecycle: invalid message from the backend: " + std::string(pgwire::describe(err)),
         "protocol_error");
    end(EndReason::protocol_error, false);
    return loop_done();
  }
  observer_->on_backend_read_done(t);
  maybe_resume_up();
  down_read_at_ = t;
  const std::size_t total = held_ + n;
  const std::size_t pending = total - sent_;
  // Held bytes are whole messages ending with the held answer, never a message cut by
  // the read's end.
  if (precise && holdback_.holdable() && down_framer_.at_boundary() && pending <= kMaxHold &&
      pending <= down_buf_.size() / 2) {
    if (sent_ > 0) std::memmove(buf, buf + sent_, pending);
    held_ = pending;
    sent_ = 0;
    holding_ = true;
    return down_read();
  }
  if (precise) holdback_.written();
  down_write(sent_, total);
}

void Session::down_write(std::size_t from, std::size_t to) {
  start_write(client_, asio::buffer(down_buf_.data() + from, to - from), down_memory_,
              [self = shared_from_this()](const error_code& ec, std::size_t written) {
                self->guarded([&] { self->down_on_written(ec, written); },
                              EndReason::client_closed);
              });
}

void Session::down_on_written(const error_code& ec, std::size_t n) {
  if (ec) {
    client_write_broken_ = true;
    if (!stopping_) end(EndReason::client_closed, true);
    return loop_done();
  }
  const MonoTime w = lifecycle::now();
  client_offset_ += n;
  observer_->on_client_written(client_offset_, w);
  ctx_.stats.bytes(metrics::Direction::to_client, n);
  ctx_.stats.proxy_latency(metrics::Direction::to_client, w - down_read_at_);
  held_ = 0;
  sent_ = 0;
  if (backend_gone_) {
    end(EndReason::backend_closed, true);
    return loop_done();
  }
  check_drain();
  maybe_resume_up();  // delivered answers release what the tracker held for them
  down_read();
}

awaitable<void> Session::finish() {
  auto self = shared_from_this();
  error_code ec;
  stopping_ = true;
  resolver_.cancel();
  backend_.sock.close(ec);
  // Held back bytes (whole messages) still go out, then the error, which goes out only
  // where it cannot land inside a half-written backend message.
  const std::size_t unsent = releasing_ ? 0 : held_ - sent_;
  const bool at_boundary = client_at_boundary_ ? *client_at_boundary_ : down_framer_.at_boundary();
  const bool send_error = !pending_error_.empty() && at_boundary;
  if ((unsent > 0 || send_error) && client_.sock.is_open() && !client_write_broken_ &&
      !releasing_) {
    asio::steady_timer timer(executor(), std::chrono::seconds(2));
    timer.async_wait([this](error_code e) {
      if (!e) client_.sock.close(e);
    });
    std::array<asio::const_buffer, 2> out{
        unsent > 0 ? asio::buffer(down_buf_.data() + sent_, unsent) : asio::const_buffer(),
        send_error ? asio::buffer(pending_error_) : asio::const_buffer()};
    co_await write_all(client_, out, ec);
    timer.cancel();
    if (!ec && unsent > 0) {
      client_offset_ += unsent;
      try {
        observer_->on_client_written(client_offset_, lifecycle::now());
      } catch (...) {
        // The session ends anyway; on_session_end below still reports it.
      }
    }
  }
  client_.sock.close(ec);
  const MonoTime t = lifecycle::now();
  if (cancel_registered_) ctx_.cancels.remove(cancel_key_, this);
  if (began_) {
    const EndReason reason = reason_.value_or(EndReason::client_closed);
    observer_->on_session_end(reason, t);
    log::info() << "session close client=" << describe_client() << " user=" << user_
                << " database=" << database_ << " duration=" << seconds(t - opened_at_)
                << " bytes_from_client=" << bytes_from_client_
                << " bytes_to_client=" << client_offset_ << " end=" << lifecycle::to_string(reason);
  }
  ctx_.stats.connection_result(result_);
  ctx_.stats.connection_closed();
  if (ctx_.on_ended) ctx_.on_ended(this);
}

}  // namespace pglc::proxy
