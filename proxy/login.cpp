#include "proxy/login.hpp"

#include <openssl/crypto.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdio>
#include <cstring>

#include "pgwire/backend.hpp"
#include "pgwire/builder.hpp"
#include "pgwire/startup.hpp"
#include "proxy/log.hpp"
#include "proxy/relay_buffer.hpp"
#include "proxy/sasl_rewrite.hpp"
#include "proxy/scram_login.hpp"

namespace pglc::proxy {

using asio::awaitable;
using asio::redirect_error;
using asio::use_awaitable;
using boost::system::error_code;
using lifecycle::EndReason;
using lifecycle::MonoTime;

Login::Login(SessionContext& ctx, SessionControl& session, Endpoint& client, BackendLink& backend,
             ClientIdentity& identity, pgwire::Ledger& ledger, ClientTraffic& traffic)
    : ctx_(ctx),
      session_(session),
      client_(client),
      backend_(backend),
      identity_(identity),
      ledger_(ledger),
      traffic_(traffic),
      // Whole messages only (each is forwarded or rewritten whole), no larger than the
      // relay buffer, as before the relay takes over.
      auth_framer_(pgwire::Direction::backend, ctx.options.buffer_size - 1,
                   static_cast<std::uint32_t>(ctx.options.buffer_size)) {}

awaitable<bool> Login::startup(MonoTime accepted) {
  error_code ec;
  asio::steady_timer deadline(client_.sock.get_executor(), ctx_.options.startup_timeout);
  // The timer lives in this coroutine's frame, which outlives every wait on it.
  deadline.async_wait([this](error_code e) {
    if (e || !deadline_applies_) return;
    log::info() << "connection from " << identity_.describe() << ": no complete startup within "
                << log::seconds(ctx_.options.startup_timeout) << ", closed";
    session_.end(EndReason::client_closed, true);
  });
  // This proxy answered 'N' to the client's SSLRequest (no --tls-cert): a client that
  // closes right after it wanted TLS (libpq's sslmode=require) and is told why here.
  bool tls_declined = false;
  for (;;) {
    if (session_.stopping()) co_return false;
    std::uint8_t header[4];
    co_await read_exact(client_, asio::buffer(header), ec);
    if (ec && tls_declined && !session_.stopping()) {
      log::info() << "connection from " << identity_.describe()
                  << " closed after asking for TLS, which this proxy does not offer (start it "
                     "with --tls-cert and --tls-key for clients with sslmode=require)";
      session_.set_result(Result::tls_unavailable);
    }
    // Closed before a startup packet: result client_closed.
    if (ec || session_.stopping()) co_return false;
    auto len = pgwire::startup_packet_length(pgwire::Bytes(header, 4));
    if (!len) {
      session_.fail("08P01", "pglifecycle: invalid length of startup packet",
                    Result::protocol_error);
      co_return false;
    }
    startup_packet_.resize(*len);
    std::memcpy(startup_packet_.data(), header, 4);
    co_await read_exact(client_, asio::buffer(startup_packet_.data() + 4, *len - 4), ec);
    if (ec || session_.stopping()) co_return false;
    const MonoTime t = lifecycle::now();
    auto parsed = pgwire::parse_startup_packet(startup_packet_);
    if (!parsed.packet) {
      session_.fail("08P01", "pglifecycle: " + parsed.error, Result::protocol_error);
      co_return false;
    }
    const pgwire::StartupPacket& p = *parsed.packet;
    using Kind = pgwire::StartupPacket::Kind;
    if (p.kind == Kind::ssl_request || p.kind == Kind::gssenc_request) {
      if (client_.tls) {
        session_.fail("08P01",
                      "pglifecycle: encryption request received on an encrypted connection",
                      Result::protocol_error);
        co_return false;
      }
      const bool accept = p.kind == Kind::ssl_request && ctx_.client_tls;
      const std::uint8_t answer = accept ? 'S' : 'N';
      co_await write_all(client_, asio::buffer(&answer, 1), ec);
      if (ec || session_.stopping()) co_return false;
      tls_declined = p.kind == Kind::ssl_request && !accept;
      if (accept) {
        client_.tls = std::make_unique<TlsStream>(client_.sock, *ctx_.client_tls);
        co_await client_.tls->async_handshake(asio::ssl::stream_base::server,
                                              redirect_error(use_awaitable, ec));
        if (ec || session_.stopping()) {
          log::info() << "connection from " << identity_.describe()
                      << ": TLS handshake failed: " << ec.message();
          session_.set_result(Result::protocol_error);
          co_return false;
        }
        tls_at_ = lifecycle::now();
      }
      continue;
    }
    if (p.kind == Kind::cancel_request) {
      session_.set_result(Result::cancel_request);
      co_await forward_cancel(p.cancel_pid, p.cancel_key);
      co_return false;
    }

    // StartupMessage. Kept for log lines only, so kept escaped.
    identity_.user = log::escape(p.parameter("user"));
    identity_.database =
        p.parameter("database").empty() ? identity_.user : log::escape(p.parameter("database"));
    identity_.application = log::escape(p.parameter("application_name"));
    if (ctx_.options.require_tls && !client_.tls) {
      log::info() << "connection from " << identity_.describe() << " user=" << identity_.user
                  << " refused: TLS is required";
      session_.fail(
          "28000",
          "pglifecycle: TLS is required for every connection; connect with sslmode=require",
          Result::tls_required);
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
    if (!co_await backend_.connect()) co_return false;
    bool startup_sent = false;
    if (!verifier && client_.tls && backend_.tls() && !backend_.same_certificate() &&
        ctx_.options.backend_sslmode == config::BackendSslMode::prefer) {
      // A SCRAM server on a TLS link offers SCRAM-SHA-256-PLUS, which cannot work through
      // the proxy's own certificate, and withholding it makes binding-capable clients
      // (libpq and Npgsql by default) send gs2 flag 'y', which a TLS server rejects as a
      // downgrade. So look at the first authentication request before the session begins:
      // if it offers -PLUS, the backend link moves to plaintext, where the server neither
      // offers binding nor objects to 'y'. prefer allows that; require never does.
      if (!co_await backend_.send_startup(startup_packet_)) co_return false;
      startup_sent = true;
      std::string why;
      const auto first = co_await backend_.prefetch_first_auth(why);
      if (session_.stopping()) co_return false;
      if (first == BackendLink::FirstAuth::io_error) {
        log::warning() << "connection from " << identity_.describe() << " user=" << identity_.user
                       << ": lost backend " << ctx_.options.backend << " during startup";
        session_.fail("08006",
                      "pglifecycle: lost the connection to backend " + ctx_.options.backend,
                      Result::backend_unavailable);
        co_return false;
      }
      if (first == BackendLink::FirstAuth::scram_plus &&
          !co_await backend_.downgrade_for_channel_binding(startup_packet_))
        co_return false;
    }

    lifecycle::SessionStart start;
    start.client_addr = identity_.addr;
    start.client_port = identity_.port;
    start.backend_addr = ctx_.options.backend;
    start.client_tls = client_.tls != nullptr;
    start.backend_tls = backend_.tls();
    start.startup = &p;
    start.accepted = accepted;
    start.tls_established = tls_at_;
    start.backend_connected = backend_.connected_at();
    session_.begin(start, t);
    deadline_applies_ = false;

    scram::Key key{};
    if (verifier) {
      // The client proves itself to the proxy (binding to the proxy's certificate), then
      // the proxy logs in to the server with the key that proof reveals.
      deadline_applies_ = true;
      const LoginOutcome out =
          co_await authenticate_client(client_, *verifier, std::string(p.parameter("user")), key,
                                       traffic_.to_client, traffic_.from_client);
      deadline_applies_ = false;
      if (session_.stopping()) co_return false;
      if (!out.ok) {
        if (out.io_error) {
          session_.end(EndReason::client_closed, true);
          co_return false;
        }
        log::info() << "connection from " << identity_.describe() << " user=" << identity_.user
                    << ": SCRAM authentication failed: " << out.message;
        session_.fail(out.sqlstate, out.message, Result::auth_failed);
        session_.end(EndReason::auth_failed, false);
        co_return false;
      }
    }

    if (!startup_sent) {
      ec = {};
      co_await write_all(backend_.endpoint(), asio::buffer(startup_packet_), ec);
      if (ec) {
        session_.fail("08006",
                      "pglifecycle: lost the connection to backend " + ctx_.options.backend + ": " +
                          ec.message(),
                      Result::backend_unavailable);
        session_.end(EndReason::backend_closed, false);
        co_return false;
      }
    }
    traffic_.from_client += startup_packet_.size();
    if (verifier) {
      std::vector<std::uint8_t> prefetch;
      const LoginOutcome out =
          co_await authenticate_to_server(backend_.endpoint(), *verifier, key, prefetch);
      OPENSSL_cleanse(key.data(), key.size());
      if (session_.stopping()) co_return false;
      if (!out.ok) {
        const std::string why =
            out.io_error ? "lost the connection during authentication" : out.message;
        log::warning() << "session " << identity_.describe() << " user=" << identity_.user
                       << ": SCRAM login to the backend failed: " << why;
        session_.fail(out.io_error ? "08006" : out.sqlstate, "pglifecycle: " + why,
                      Result::backend_unavailable);
        session_.end(out.io_error ? EndReason::backend_closed : EndReason::auth_failed, false);
        co_return false;
      }
      backend_.keep_prefetch(std::move(prefetch));
    }
    log::info() << "session open client=" << identity_.describe() << " user=" << identity_.user
                << " database=" << identity_.database << " application=" << identity_.application
                << " client_tls=" << (client_.tls ? "on" : "off")
                << " backend_tls=" << (backend_.tls() ? "on" : "off")
                << (backend_.downgraded() ? " (downgraded for channel binding)" : "")
                << (verifier ? " (SCRAM terminated)" : "");
    co_return !session_.stopping();
  }
}

// The --auth-query lookup on a connection of its own, closed before the session's
// backend link opens. False (with the client's error set) when the lookup itself fails.
awaitable<bool> Login::find_verifier(const std::string& role, const std::string& database,
                                     std::optional<scram::Verifier>& verifier) {
  Endpoint lookup{tcp::socket(client_.sock.get_executor())};
  if (!co_await backend_.connect_other(lookup)) co_return false;
  const auto& o = ctx_.options;
  const LoginOutcome out = co_await lookup_verifier(
      lookup, o.auth_query_user, o.auth_query_password, database, o.auth_query, role, verifier);
  error_code ec;
  lookup.sock.close(ec);
  if (session_.stopping()) co_return false;
  if (!out.ok) {
    const std::string why = out.io_error ? "lost the connection" : out.message;
    log::warning() << "connection from " << identity_.describe() << " user=" << identity_.user
                   << ": --auth-query lookup failed: " << why;
    session_.fail(out.io_error ? "08006" : out.sqlstate, "pglifecycle: SCRAM termination: " + why,
                  Result::backend_unavailable);
    co_return false;
  }
  if (!verifier) {
    log::info() << "connection from " << identity_.describe() << " user=" << identity_.user
                << ": no SCRAM verifier for this role, authentication passed through";
  }
  co_return true;
}

awaitable<void> Login::forward_cancel(std::int32_t pid, std::int32_t key) {
  // The owning session's observer learns of it whether or not the backend is reachable.
  const bool known = ctx_.cancels.notify(CancelKey{pid, key}, lifecycle::now());
  const error_code ec = co_await backend_.forward_cancel(startup_packet_);
  log::info() << "cancel request from " << identity_.describe() << " for backend pid " << pid
              << (known ? "" : " (no session of this proxy holds that key)")
              << (ec ? " could not be forwarded: " + ec.message() : std::string(" forwarded"));
}

bool Login::refuses_channel_binding(const pgwire::Frame& f) const {
  return plus_withheld_ && client_.tls && backend_.tls() && scram_gs2_flag(f) == 'y';
}

// Channel binding can never work through the proxy: over client TLS it would bind to the
// wrong certificate, and libpq rejects PLUS outright on a plaintext client connection
// (which the backend does not know about).
void Login::rewrite_auth_frame(const pgwire::Frame& f) {
  std::optional<std::vector<std::uint8_t>> replacement;
  if (!backend_.same_certificate()) {
    replacement = strip_channel_binding(f);
    if (replacement) plus_withheld_ = true;
    if (replacement && client_.tls)
      log::info() << "session " << identity_.describe() << " user=" << identity_.user
                  << ": SCRAM-SHA-256-PLUS withheld (the proxy's certificate differs "
                     "from the backend's); over a TLS backend link clients need "
                     "channel_binding=disable unless --tls-cert is the backend's "
                     "certificate or --backend-sslmode is prefer";
  }
  if (replacement)
    auth_out_.insert(auth_out_.end(), replacement->begin(), replacement->end());
  else
    pgwire::append_frame(auth_out_, f);
}

// Server messages up to the first ReadyForQuery go to the client one read's worth at a
// time, each whole, so that AuthenticationSASL can be rewritten and BackendKeyData noted.
awaitable<bool> Login::relay_auth(std::vector<std::uint8_t>& rest) {
  error_code ec;
  // What startup() already read from the server goes first.
  std::vector<std::uint8_t> buf = backend_.take_prefetch();
  bool have = !buf.empty();
  bool authenticated = false;
  lifecycle::SessionObserver& observer = session_.observer();
  while (!authenticated) {
    if (!have) {
      buf.resize(RelayBuffer::kSmall);
      const std::size_t n = co_await read_some(backend_.endpoint(), asio::buffer(buf), ec);
      if (session_.stopping()) co_return false;
      if (ec) {
        session_.end(EndReason::backend_closed, true);
        co_return false;
      }
      buf.resize(n);
    }
    have = false;
    const MonoTime t = lifecycle::now();
    auth_out_.clear();
    bool partial = false;
    std::size_t consumed = 0;
    const auto err = auth_framer_.feed(
        pgwire::Bytes(buf.data(), buf.size()),
        [&](const pgwire::Frame& f, std::size_t) {
          // The framer does not keep a server DataRow's body across reads; none belongs here.
          if (f.body.size() + 4 != f.length) {
            partial = true;
            return false;
          }
          rewrite_auth_frame(f);
          ledger_.on_backend(f);
          observer.on_backend(f, t, traffic_.to_client + auth_out_.size());
          if (f.type == pgwire::be::kBackendKeyData) {
            if (auto k = pgwire::be::decode_backend_key_data(f); k.ok())
              session_.on_backend_key(CancelKey{k.value.pid, k.value.key});
          } else if (f.type == pgwire::be::kErrorResponse) {
            session_.note_reason(EndReason::auth_failed);
            session_.set_result(Result::auth_failed);
          } else if (f.type == pgwire::be::kReadyForQuery) {
            session_.set_result(Result::ok);
            session_.on_authenticated();
            authenticated = true;
            return false;
          }
          return true;
        },
        &consumed);
    if (err != pgwire::FrameError::none || partial) {
      log::warning() << "session " << identity_.describe()
                     << ": invalid message from the backend during authentication";
      session_.fail("08P01", "pglifecycle: invalid message from the backend during authentication",
                    Result::protocol_error);
      session_.end(EndReason::protocol_error, false);
      co_return false;
    }
    observer.on_backend_read_done(t);
    if (!auth_out_.empty()) {
      co_await write_all(client_, asio::buffer(auth_out_), ec);
      if (session_.stopping()) co_return false;
      if (ec) {
        session_.end(EndReason::client_closed, true);
        co_return false;
      }
      const MonoTime w = lifecycle::now();
      traffic_.to_client += auth_out_.size();
      observer.on_client_written(traffic_.to_client, w);
      ctx_.stats.bytes(metrics::Direction::to_client, auth_out_.size());
      ctx_.stats.proxy_latency(metrics::Direction::to_client, w - t);
      session_.on_client_write_done();
      if (session_.stopping()) co_return false;
    }
    if (authenticated) rest.assign(buf.begin() + static_cast<std::ptrdiff_t>(consumed), buf.end());
  }
  std::vector<std::uint8_t>().swap(auth_out_);
  co_return true;
}

}  // namespace pglc::proxy
