// One client connection and its backend connection: startup, TLS, the authentication
// phase and the byte-exact relay in both directions. Every member is used on the
// session's own io_context thread only (one io_context per worker, so no strand).
#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/options.hpp"
#include "lifecycle/observer.hpp"
#include "metrics/relay_stats.hpp"
#include "pgwire/framer.hpp"
#include "proxy/cancel_registry.hpp"
#include "proxy/endpoint.hpp"
#include "proxy/flush_planner.hpp"
#include "proxy/handler_memory.hpp"
#include "proxy/holdback.hpp"
#include "proxy/relay_buffer.hpp"
#include "proxy/scram.hpp"

namespace pglc::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

class Session;

// What every session shares; owned by the Server, read-only once serving.
struct SessionContext {
  const config::Options& options;
  lifecycle::ObserverFactory& observers;
  metrics::RelayStats& stats;
  CancelRegistry& cancels;
  asio::ssl::context* client_tls = nullptr;   // null: answer SSLRequest with 'N'
  asio::ssl::context* backend_tls = nullptr;  // null: --backend-sslmode disable
  std::string backend_host;
  std::string backend_port;
  // Called on the session's thread after it ended (observer notified, sockets closed).
  std::function<void(Session*)> on_ended;
};


class Session : public std::enable_shared_from_this<Session> {
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

 private:
  asio::awaitable<void> run();
  asio::awaitable<bool> startup();
  // allow_tls=false connects in plaintext whatever --backend-sslmode says (the channel
  // binding fallback, only ever under prefer).
  asio::awaitable<bool> connect_backend(bool allow_tls = true);
  // The same for another connection to the backend (the --auth-query lookup).
  asio::awaitable<bool> connect_endpoint(Endpoint& e, bool allow_tls);
  void reset_backend();
  asio::awaitable<bool> send_startup_to_backend();
  asio::awaitable<bool> find_verifier(const std::string& role, const std::string& database,
                                      std::optional<scram::Verifier>& verifier);
  // What the backend answers first to the StartupMessage, kept in backend_prefetch_ for
  // downstream_auth to forward as usual.
  enum class FirstAuth { other, scram_plus, error_response, io_error };
  asio::awaitable<FirstAuth> prefetch_first_auth(std::string& error_text);
  asio::awaitable<bool> downgrade_for_channel_binding();
  asio::awaitable<void> forward_cancel(std::int32_t pid, std::int32_t key,
                                       const std::vector<std::uint8_t>& packet);
  asio::awaitable<bool> downstream_auth(std::size_t& fill);
  // The streaming relay, one chain of completion handlers per direction.
  void up_read();
  void up_on_read(const boost::system::error_code& ec, std::size_t n);
  void up_on_written(const boost::system::error_code& ec, std::size_t written);
  void up_forward(std::size_t from, std::size_t to, lifecycle::MonoTime t);
  void up_continue();
  void maybe_resume_up();
  void down_read();
  void down_on_read(const boost::system::error_code& ec, std::size_t n);
  void down_after_read(const boost::system::error_code& ec, std::size_t n, lifecycle::MonoTime t);
  void down_chunk(std::size_t n, lifecycle::MonoTime t);
  void down_write(std::size_t from, std::size_t to);
  void down_on_written(const boost::system::error_code& ec, std::size_t n);
  // The client sent its own Flush: held backend bytes go out now (from the client side).
  void release_held(lifecycle::MonoTime t);
  void on_released(const boost::system::error_code& ec, std::size_t n);
  template <class Buffers, class Handler>
  void start_read(Endpoint& e, const Buffers& b, HandlerMemory& m, Handler&& h);
  template <class Buffers, class Handler>
  void start_write(Endpoint& e, const Buffers& b, HandlerMemory& m, Handler&& h);
  template <class F>
  void guarded(F&& f, lifecycle::EndReason reason);
  asio::awaitable<void> finish();
  void loop_done();
  void loop_failed(std::exception_ptr e, lifecycle::EndReason reason);

  // First reason wins: Terminate before the EOF it causes, auth failure before the close.
  void note_reason(lifecycle::EndReason r);
  void end(lifecycle::EndReason r, bool close_client);
  void fail(std::string_view sqlstate, const std::string& message, const char* result);
  void on_cancel_requested(lifecycle::MonoTime t);
  void compare_certificates();
  bool idle() const;
  void check_drain();
  std::string describe_client() const;

  SessionContext& ctx_;
  Endpoint client_;
  Endpoint backend_;
  tcp::resolver resolver_;

  std::unique_ptr<lifecycle::SessionObserver> observer_;
  bool began_ = false;
  bool stopping_ = false;
  bool auth_phase_ = true;
  bool client_write_broken_ = false;
  bool same_certificate_ = false;  // client-side TLS certificate == backend's certificate
  bool downgraded_ = false;        // backend link moved to plaintext for channel binding
  bool plus_withheld_ = false;     // SCRAM-SHA-256-PLUS taken out of the offered mechanisms
  bool binding_refused_ = false;   // the client's SCRAM answer expects binding: told so
  bool in_client_scram_ = false;   // SCRAM termination: the client's exchange is under way
  bool draining_ = false;
  bool up_paused_ = false;  // client reads stopped: the tracker is over --max-pipeline-bytes
  // Bytes of the last client read not framed yet (up_forward stopped at the bound).
  std::pair<std::size_t, std::size_t> up_rest_{0, 0};
  // Idle detection for shutdown: every Query/Sync/FunctionCall is answered by exactly one
  // ReadyForQuery; extended messages after the last Sync mean work is outstanding.
  std::uint64_t requests_ = 0;
  std::uint64_t ready_seen_ = 0;
  bool unsynced_ = false;
  char ready_status_ = 0;
  int loops_running_ = 0;
  std::optional<lifecycle::EndReason> reason_;
  const char* result_ = "client_closed";
  std::vector<std::uint8_t> pending_error_;

  std::string client_addr_;
  int client_port_ = 0;
  std::string user_, database_, application_;
  bool cancel_registered_ = false;
  CancelKey cancel_key_;
  lifecycle::MonoTime opened_at_;  // accepted (DESIGN §2's session phases)
  std::optional<lifecycle::MonoTime> tls_at_;
  lifecycle::MonoTime backend_at_;  // the backend link (TCP, TLS) the session uses was ready

  std::size_t buffer_size_;
  RelayBuffer up_buf_;
  RelayBuffer down_buf_;
  pgwire::Framer up_framer_;
  pgwire::Framer down_framer_;
  FlushPlanner planner_;
  HoldBack holdback_;
  HandlerMemory up_memory_;
  HandlerMemory down_memory_;
  HandlerMemory release_memory_;
  // Held back client-bound bytes sit at down_buf_[0, held_); the next backend read
  // appends after them. The first sent_ of them already went out (a client Flush).
  std::size_t held_ = 0;
  std::size_t sent_ = 0;
  bool holding_ = false;    // bytes held and the backend read after them in flight
  bool releasing_ = false;  // release_held's client write in flight
  // A backend read that completed while releasing_ waits here for the release to end.
  bool parked_ = false;
  boost::system::error_code parked_ec_;
  std::size_t parked_n_ = 0;
  lifecycle::MonoTime parked_at_;
  lifecycle::MonoTime release_at_;
  bool backend_gone_ = false;  // the backend closed; the held bytes' write ends the loop
  // Set when the backend sent garbage: whether the client-bound stream, up to held_, ends
  // at a message boundary (the framer itself is stuck in its error then).
  std::optional<bool> client_at_boundary_;
  lifecycle::MonoTime up_read_at_;
  lifecycle::MonoTime down_read_at_;
  std::vector<asio::const_buffer> gather_;
  std::vector<std::uint8_t> tls_scratch_;
  std::vector<std::uint8_t> auth_out_;
  std::vector<std::uint8_t> startup_packet_;
  std::vector<std::uint8_t> backend_prefetch_;
  std::uint64_t client_offset_ = 0;  // bytes written to the client since the session began
  std::uint64_t bytes_from_client_ = 0;
};

}  // namespace pglc::proxy
