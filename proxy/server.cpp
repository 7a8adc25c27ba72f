#include "proxy/server.hpp"

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange

#include <openssl/err.h>
#include <pthread.h>
#include <sys/resource.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "lifecycle/text_format.hpp"
#include "pgwire/builder.hpp"
#include "pgwire/startup.hpp"
#include "proxy/cancel_registry.hpp"
#include "proxy/log.hpp"
#include "proxy/session.hpp"

namespace pglc::proxy {

using asio::awaitable;
using asio::redirect_error;
using asio::use_awaitable;
using boost::system::error_code;

namespace {

// Asio reports some OpenSSL failures as just "asio.ssl error"; OpenSSL's reason says more.
std::string ssl_message(const error_code& ec) {
  if (ec.category() == asio::error::get_ssl_category()) {
    char buf[256];
    ERR_error_string_n(static_cast<unsigned long>(ec.value()), buf, sizeof buf);
    return buf;
  }
  return ec.message();
}

void check_readable(const std::string& path, const char* option) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f)
    throw std::runtime_error(std::string("cannot read ") + option + " " + path + ": " +
                             std::strerror(errno));
  std::fclose(f);
}

std::unique_ptr<asio::ssl::context> make_client_tls(const config::Options& o) {
  if (o.tls_cert.empty()) return nullptr;
  auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                   asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
  error_code ec;
  check_readable(o.tls_cert, "--tls-cert");
  check_readable(o.tls_key, "--tls-key");
  ctx->use_certificate_chain_file(o.tls_cert, ec);
  if (ec) throw std::runtime_error("cannot load --tls-cert " + o.tls_cert + ": " + ssl_message(ec));
  ctx->use_private_key_file(o.tls_key, asio::ssl::context::pem, ec);
  if (ec) throw std::runtime_error("cannot load --tls-key " + o.tls_key + ": " + ssl_message(ec));
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1)
    throw std::runtime_error("--tls-key does not match the certificate in --tls-cert");
  return ctx;
}

std::unique_ptr<asio::ssl::context> make_backend_tls(const config::Options& o) {
  if (o.backend_sslmode == config::BackendSslMode::disable) return nullptr;
  auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3);
  if (o.backend_sslmode == config::BackendSslMode::verify_full) {
    error_code ec;
    if (o.backend_sslrootcert.empty()) {
      ctx->set_default_verify_paths(ec);
    } else {
      check_readable(o.backend_sslrootcert, "--backend-sslrootcert");
      ctx->load_verify_file(o.backend_sslrootcert, ec);
    }
    if (ec)
      throw std::runtime_error("cannot load --backend-sslrootcert " + o.backend_sslrootcert + ": " +
                               ssl_message(ec));
    ctx->set_verify_mode(asio::ssl::verify_peer);
  } else {
    // prefer/require encrypt without authenticating the server, as libpq does.
    ctx->set_verify_mode(asio::ssl::verify_none);
  }
  return ctx;
}

// Raises the soft descriptor limit to the hard one (each session holds two) and returns
// the session cap: the configured one, or what the limit allows.
std::size_t session_cap(const config::Options& o) {
  rlimit lim{};
  rlim_t soft = 1024;
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    soft = lim.rlim_cur;
    if (lim.rlim_cur < lim.rlim_max) {
      rlimit raised = lim;
      raised.rlim_cur = lim.rlim_max;
      if (setrlimit(RLIMIT_NOFILE, &raised) == 0) soft = lim.rlim_max;
    }
  }
  // Descriptors beside the sessions: listeners, the store, metrics, logs, cancel relays.
  constexpr rlim_t kReserved = 64;
  const std::size_t by_fds = soft == RLIM_INFINITY ? config::Options::kDefaultMaxClientConnections
                             : soft > kReserved ? static_cast<std::size_t>((soft - kReserved) / 2)
                                                : 1;
  if (o.max_client_connections == 0)
    return std::min(by_fds, config::Options::kDefaultMaxClientConnections);
  if (o.max_client_connections > by_fds)
    log::warning() << "--max-client-connections " << o.max_client_connections
                   << " exceeds what the descriptor limit allows (" << by_fds
                   << " sessions): accepts may fail with EMFILE";
  return o.max_client_connections;
}

// Tells a client over the cap why, like PostgreSQL, without a session or a backend. An
// SSLRequest or GSSENCRequest is declined first (libpq would not show an error sent in
// its place); the startup packet is drained, so that closing does not reset the
// connection before the client has read the error.
awaitable<void> refuse(tcp::socket sock, std::shared_ptr<const std::vector<std::uint8_t>> error) {
  error_code ec;
  asio::steady_timer limit(sock.get_executor(), std::chrono::seconds(2));
  limit.async_wait([&sock](error_code e) {
    if (!e) sock.cancel(e);  // a client that says nothing still gets the error
  });
  // Like the postmaster: decline encryption requests, read the startup packet, answer.
  // (libpq rejects bytes that arrive before it has sent the packet.)
  std::vector<std::uint8_t> packet;
  for (int round = 0; round < 3 && !ec; ++round) {
    std::uint8_t header[4];
    co_await asio::async_read(sock, asio::buffer(header), redirect_error(use_awaitable, ec));
    if (ec) break;
    auto len = pgwire::startup_packet_length(pgwire::Bytes(header, 4));
    if (!len) break;
    packet.assign(header, header + 4);
    packet.resize(*len);
    co_await asio::async_read(sock, asio::buffer(packet.data() + 4, *len - 4),
                              redirect_error(use_awaitable, ec));
    if (ec) break;
    auto p = pgwire::parse_startup_packet(packet);
    using Kind = pgwire::StartupPacket::Kind;
    if (!p.packet ||
        (p.packet->kind != Kind::ssl_request && p.packet->kind != Kind::gssenc_request)) {
      break;
    }
    const std::uint8_t no = 'N';
    co_await asio::async_write(sock, asio::buffer(&no, 1), redirect_error(use_awaitable, ec));
  }
  limit.cancel();
  ec = {};
  co_await asio::async_write(sock, asio::buffer(*error), redirect_error(use_awaitable, ec));
  if (!ec) {
    sock.shutdown(tcp::socket::shutdown_send, ec);
    limit.expires_after(std::chrono::seconds(2));
    limit.async_wait([&sock](error_code e) {
      if (!e) sock.close(e);
    });
    std::uint8_t sink[512];
    while (!ec)
      co_await sock.async_read_some(asio::buffer(sink), redirect_error(use_awaitable, ec));
    limit.cancel();
  }
  sock.close(ec);
}

}  // namespace

struct Server::Impl {
  Impl(const config::Options& o, lifecycle::ObserverFactory& observers, metrics::RelayStats& stats)
      : options(o),
        client_tls(make_client_tls(o)),
        backend_tls(make_backend_tls(o)),
        context{o, observers, stats, cancels, client_tls.get(), backend_tls.get(), {}, {}, {}},
        acceptor(control),
        signals(control, SIGINT, SIGTERM, SIGHUP),
        grace_timer(control) {
    auto backend = config::split_host_port(o.backend);
    if (!backend || backend->host.empty())
      throw std::runtime_error("invalid --backend " + o.backend);
    context.backend_host = backend->host;
    context.backend_port = std::to_string(backend->port);
    context.on_ended = [this](Session* s) { session_ended(s); };

    max_sessions = session_cap(o);
    too_many = std::make_shared<const std::vector<std::uint8_t>>(
        pgwire::error_response("53300", "sorry, too many clients already"));

    unsigned n = o.workers ? o.workers : std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < n; ++i) {
      workers.push_back(std::make_unique<asio::io_context>(1));
      guards.emplace_back(workers.back()->get_executor());
    }
    bind();
  }

  void bind() {
    auto hp = config::split_host_port(options.listen);
    if (!hp) throw std::runtime_error("invalid --listen " + options.listen);
    error_code ec;
    asio::ip::address addr;
    if (hp->host.empty() || hp->host == "*") {
      addr = asio::ip::address_v6::any();
    } else {
      addr = asio::ip::make_address(hp->host, ec);
      if (ec) {
        tcp::resolver r(control);
        auto results = r.resolve(hp->host, std::to_string(hp->port), ec);
        if (ec || results.empty())
          throw std::runtime_error("cannot resolve --listen " + options.listen);
        addr = results.begin()->endpoint().address();
      }
    }
    tcp::endpoint ep(addr, hp->port);
    acceptor.open(ep.protocol(), ec);
    if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec && addr.is_v6() && addr.is_unspecified())
      acceptor.set_option(asio::ip::v6_only(false), ec);
    if (!ec) acceptor.bind(ep, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error("cannot listen on " + options.listen + ": " + ec.message());
  }

  awaitable<void> accept_loop() {
    std::size_t next = 0;
    while (!shutting_down) {
      auto& worker = *workers[next++ % workers.size()];
      tcp::socket sock(worker);
      error_code ec;
      co_await acceptor.async_accept(sock, redirect_error(use_awaitable, ec));
      if (shutting_down || ec == asio::error::operation_aborted) break;
      if (ec) {
        // Out of descriptors and the like: back off instead of spinning.
        log::warning() << "accept failed: " << ec.message();
        asio::steady_timer pause(control, std::chrono::milliseconds(100));
        co_await pause.async_wait(redirect_error(use_awaitable, ec));
        continue;
      }
      if (active.load() >= max_sessions) {
        if (refusing.load() < kMaxRefusing) {
          ++refusing;
          ++refused;
          const auto now = std::chrono::steady_clock::now();
          if (now - last_refusal_log >= std::chrono::seconds(1)) {  // one line per second
            last_refusal_log = now;
            log::warning() << "connection refused (" << refused << " so far): " << max_sessions
                           << " sessions open, --max-client-connections";
          }
          context.stats.connection_result(metrics::ConnectionResult::too_many_clients);
          asio::co_spawn(worker, refuse(std::move(sock), too_many),
                         [this](std::exception_ptr) { --refusing; });
        }
        continue;  // (a flood beyond kMaxRefusing is closed without a word)
      }
      context.stats.connection_opened();
      auto session = std::make_shared<Session>(context, std::move(sock));
      {
        std::lock_guard lock(mutex);
        sessions.emplace(session.get(), session);
        ++active;
      }
      // The session's executor is its worker's io_context; start it there.
      asio::post(session->executor(), [session] { session->start(); });
    }
  }

  void wait_signal() {
    signals.async_wait([this](error_code ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        log::info() << "SIGHUP ignored: restart the proxy to change its configuration";
        wait_signal();
        return;
      }
      log::info() << "received " << (sig == SIGINT ? "SIGINT" : "SIGTERM");
      begin_shutdown();
    });
  }

  void begin_shutdown() {
    if (shutting_down.exchange(true)) return;
    error_code ec;
    acceptor.close(ec);
    std::size_t open = active.load();
    log::info() << "shutting down: no new connections; " << open
                << " session(s) open, grace period "
                << std::chrono::duration<double>(options.shutdown_grace).count() << "s";
    if (open == 0) {
      finish_shutdown();
      return;
    }
    // Idle sessions end now; busy ones when their current work is answered.
    for_each_session([](Session& s) { s.drain(); });
    grace_timer.expires_after(options.shutdown_grace);
    grace_timer.async_wait([this](error_code e) {
      if (e) return;
      close_sessions();
    });
  }

  template <class F>
  std::size_t for_each_session(F f) {
    std::vector<std::weak_ptr<Session>> open;
    {
      std::lock_guard lock(mutex);
      for (auto& [ptr, weak] : sessions) open.push_back(weak);
    }
    for (auto& weak : open) {
      if (auto s = weak.lock()) asio::post(s->executor(), [s, f] { f(*s); });
    }
    return open.size();
  }

  void close_sessions() {
    std::size_t n = for_each_session([](Session& s) { s.stop(lifecycle::EndReason::shutdown); });
    if (n) log::info() << "grace period over: closing " << n << " session(s)";
  }

  // On the session's thread.
  void session_ended(Session* s) {
    std::size_t left;
    {
      std::lock_guard lock(mutex);
      sessions.erase(s);
      left = --active;
    }
    if (left == 0 && shutting_down.load()) asio::post(control, [this] { finish_shutdown(); });
  }

  void finish_shutdown() {
    if (finished) return;
    finished = true;
    error_code ec;
    grace_timer.cancel();
    signals.cancel(ec);
    for (auto& g : guards) g.reset();
  }

  // One TCP connect to the backend at start, off the io threads: a proxy pointed at a
  // server that is not there still starts (the server may come later), but says so
  // instead of leaving the first client to find out.
  asio::awaitable<void> probe_backend() {
    const auto hp = config::split_host_port(options.backend);
    if (!hp) co_return;
    tcp::resolver resolver(control);
    tcp::socket socket(control);
    asio::steady_timer timeout(control);
    timeout.expires_after(std::chrono::seconds(3));
    bool timed_out = false;
    timeout.async_wait([&socket, &timed_out](error_code ec) {
      if (ec) return;  // cancelled: the probe is over (and its frame may be gone)
      timed_out = true;
      socket.close(ec);
    });
    error_code ec;
    const auto endpoints = co_await resolver.async_resolve(
        hp->host, std::to_string(hp->port), asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) {
      co_await asio::async_connect(socket, endpoints,
                                   asio::redirect_error(asio::use_awaitable, ec));
    }
    timeout.cancel();
    if (!ec && !timed_out) {
      log::info() << "backend " << options.backend << " is reachable";
      co_return;
    }
    log::warning() << "backend " << options.backend << " is not reachable ("
                   << (timed_out ? std::string("no answer within 3 s") : ec.message())
                   << "); accepting clients anyway, each gets an error until it is";
  }

  void run() {
    if (running.exchange(true)) throw std::logic_error("Server::run called twice");
    wait_signal();
    asio::co_spawn(control, probe_backend(), asio::detached);
    asio::co_spawn(control, accept_loop(), asio::detached);
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < workers.size(); ++i) {
      threads.emplace_back([ctx = workers[i].get(), i] {
        // Named for top -H, perf and bench/profile.sh threads (at most 15 characters).
        pthread_setname_np(pthread_self(), ("pglc-io-" + std::to_string(i)).c_str());
        ctx->run();
      });
    }
    log::info() << "listening on " << options.listen << " (port " << acceptor_port << "), backend "
                << options.backend << ", " << workers.size() << " worker(s), at most "
                << max_sessions << " client sessions";
    control.run();
    for (auto& w : workers) w->stop();  // every session has ended; nothing is lost
    for (auto& t : threads) t.join();
    log::info() << "shut down";
  }

  const config::Options& options;
  CancelRegistry cancels;
  std::unique_ptr<asio::ssl::context> client_tls;
  std::unique_ptr<asio::ssl::context> backend_tls;
  SessionContext context;
  asio::io_context control{1};
  std::vector<std::unique_ptr<asio::io_context>> workers;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  tcp::acceptor acceptor;
  asio::signal_set signals;
  asio::steady_timer grace_timer;
  std::uint16_t acceptor_port = 0;

  std::mutex mutex;
  std::map<Session*, std::weak_ptr<Session>> sessions;
  std::atomic<std::size_t> active{0};
  std::size_t max_sessions = 0;
  std::shared_ptr<const std::vector<std::uint8_t>> too_many;
  static constexpr std::size_t kMaxRefusing = 64;
  std::atomic<std::size_t> refusing{0};
  std::uint64_t refused = 0;                               // control thread only
  std::chrono::steady_clock::time_point last_refusal_log;  // control thread only
  std::atomic<bool> shutting_down{false};
  std::atomic<bool> running{false};
  bool finished = false;
};

Server::Server(const config::Options& options, lifecycle::ObserverFactory& observers,
               metrics::RelayStats& stats)
    : impl_(std::make_unique<Impl>(options, observers, stats)) {
  impl_->acceptor_port = impl_->acceptor.local_endpoint().port();
}

Server::~Server() = default;

void Server::run() {
  impl_->run();
}

void Server::stop() {
  asio::post(impl_->control, [impl = impl_.get()] { impl->begin_shutdown(); });
}

std::uint16_t Server::port() const {
  return impl_->acceptor_port;
}

std::string Server::activity_json(std::chrono::milliseconds timeout) {
  struct Answers {
    std::mutex mutex;
    std::condition_variable done;
    std::vector<std::string> sessions;
    std::size_t left = 0;
  };
  auto answers = std::make_shared<Answers>();
  std::vector<std::shared_ptr<Session>> open;
  {
    std::lock_guard lock(impl_->mutex);
    for (auto& [ptr, weak] : impl_->sessions)
      if (auto s = weak.lock()) open.push_back(std::move(s));
  }
  answers->left = open.size();
  const lifecycle::MonoTime now = lifecycle::now();
  for (auto& s : open) {
    asio::post(s->executor(), [s, answers, now] {
      std::string one;
      s->describe(one, now);
      std::lock_guard lock(answers->mutex);
      answers->sessions.push_back(std::move(one));
      if (--answers->left == 0) answers->done.notify_one();
    });
  }
  open.clear();
  std::unique_lock lock(answers->mutex);
  answers->done.wait_for(lock, timeout, [&] { return answers->left == 0; });
  std::string out = "{\"proxy_instance\":";
  lifecycle::append_json_string(out, impl_->options.instance_name);
  out += ",\"sessions\":[";
  for (std::size_t i = 0; i < answers->sessions.size(); ++i) {
    if (i > 0) out += ',';
    out += answers->sessions[i];
  }
  out += "]}";
  return out;
}

}  // namespace pglc::proxy
