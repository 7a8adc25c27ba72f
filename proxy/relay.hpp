// The streaming relay of one session: both directions' read buffers, handler chains and
// the writes RelayCore decides (what goes to the server with which injected Flushes, what
// is held back or written to the client, when client reads pause for backpressure).
//
// Written with completion handlers rather than coroutines: each direction has one
// operation in flight, whose memory comes from that direction's HandlerMemory, so
// relaying allocates nothing per read or write.
#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange

#include <boost/asio/buffer.hpp>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "lifecycle/clock.hpp"
#include "lifecycle/observer.hpp"
#include "pgwire/ledger.hpp"
#include "proxy/endpoint.hpp"
#include "proxy/handler_memory.hpp"
#include "proxy/relay_buffer.hpp"
#include "proxy/relay_core.hpp"
#include "proxy/session_context.hpp"
#include "proxy/session_control.hpp"

namespace pglc::proxy {

class Relay {
 public:
  Relay(SessionContext& ctx, SessionControl& session, Endpoint& client, Endpoint& backend,
        pgwire::Ledger& ledger, ClientTraffic& traffic);

  // Starts the client direction, during authentication already (its answers reach the
  // server as they come, within PostgreSQL's bound for authentication messages).
  void start(lifecycle::SessionObserver& observer);
  // The authentication phase is over: client messages may be as large as configured.
  void authenticated();
  // The server direction streams from here; `rest` (bytes read after the first
  // ReadyForQuery) goes first.
  void start_down(std::span<const std::uint8_t> rest);
  // The authentication phase ended the session instead (`e`: with an exception).
  void down_ended(std::exception_ptr e = nullptr);
  // The session is ending: a client direction paused by backpressure ends now.
  void on_session_end();

  // Between messages in both directions, nothing of a client read left to forward.
  bool between_messages() const;

  // For the session's last write to the client: held bytes not written yet, whether an
  // ErrorResponse may follow them (the client stream is at a message boundary there),
  // and whether the client may be written at all.
  struct Tail {
    boost::asio::const_buffer held;
    bool at_boundary = true;
    bool writable = true;
  };
  Tail tail();
  void tail_written(lifecycle::MonoTime t);

 private:
  void up_read();
  void up_on_read(const boost::system::error_code& ec, std::size_t n);
  void up_on_written(const boost::system::error_code& ec, std::size_t written);
  void up_forward(std::size_t from, std::size_t to, lifecycle::MonoTime t);
  void up_continue();
  void maybe_resume_up();
  void down_read();
  void down_on_read(const boost::system::error_code& ec, std::size_t n);
  void down_after_read(const boost::system::error_code& ec, std::size_t n,
                       lifecycle::MonoTime t);
  void down_chunk(std::size_t n, lifecycle::MonoTime t);
  void down_write(std::pair<std::size_t, std::size_t> range);
  void down_on_written(const boost::system::error_code& ec, std::size_t n);
  // The client sent its own Flush: held backend bytes go out now (from the client side).
  void release_held(lifecycle::MonoTime t);
  void on_released(const boost::system::error_code& ec, std::size_t n);
  // After a completed client write of `n` bytes read (or released) at `read_at`.
  void client_written(std::size_t n, lifecycle::MonoTime read_at);
  template <class Buffers, class Handler>
  void start_read(Endpoint& e, const Buffers& b, HandlerMemory& m, Handler&& h);
  template <class Buffers, class Handler>
  void start_write(Endpoint& e, const Buffers& b, HandlerMemory& m, Handler&& h);
  template <class F>
  void guarded(F&& f, lifecycle::EndReason reason);
  void loop_failed(std::exception_ptr e, lifecycle::EndReason reason);
  void loop_done();

  SessionContext& ctx_;
  SessionControl& session_;
  Endpoint& client_;
  Endpoint& backend_;
  pgwire::Ledger& ledger_;
  ClientTraffic& traffic_;
  lifecycle::SessionObserver* observer_ = nullptr;
  std::optional<RelayCore> core_;  // from start(): the observer exists then
  const std::function<bool(const pgwire::Frame&)> refuses_in_auth_;
  int loops_running_ = 0;

  std::size_t buffer_size_;
  RelayBuffer up_buf_;
  RelayBuffer down_buf_;
  HandlerMemory up_memory_;
  HandlerMemory down_memory_;
  HandlerMemory release_memory_;

  bool up_paused_ = false;  // client reads stopped: the tracker is over --max-pipeline-bytes
  lifecycle::MonoTime up_read_at_;
  std::vector<asio::const_buffer> gather_;
  std::vector<std::uint8_t> tls_scratch_;

  bool holding_ = false;    // bytes held and the backend read after them in flight
  bool releasing_ = false;  // the early write of held bytes is in flight
  // A backend read that completed while releasing_ waits here for the release to end.
  bool parked_ = false;
  boost::system::error_code parked_ec_;
  std::size_t parked_n_ = 0;
  lifecycle::MonoTime parked_at_;
  lifecycle::MonoTime release_at_;
  lifecycle::MonoTime down_read_at_;
  bool backend_gone_ = false;  // the backend closed; the held bytes' write ends the loop
  bool client_write_broken_ = false;
};

}  // namespace pglc::proxy
