#include "proxy/relay.hpp"

#include <boost/asio/write.hpp>
#include <cstring>

#include "pgwire/backend.hpp"
#include "pgwire/builder.hpp"
#include "pgwire/frontend.hpp"
#include "proxy/drained_read.hpp"
#include "proxy/log.hpp"

namespace pglc::proxy {

using boost::system::error_code;
using lifecycle::EndReason;
using lifecycle::MonoTime;

namespace {

constexpr std::size_t kSmallDownRead = 16u << 10;

}  // namespace

Relay::Relay(SessionContext& ctx, SessionControl& session, Endpoint& client, Endpoint& backend,
             pgwire::Ledger& ledger, ClientTraffic& traffic)
    : ctx_(ctx),
      session_(session),
      client_(client),
      backend_(backend),
      ledger_(ledger),
      traffic_(traffic),
      refuses_in_auth_([&session](const pgwire::Frame& f) { return session.refuses_in_auth(f); }),
      buffer_size_(ctx.options.buffer_size) {
  gather_.reserve(16);
}

void Relay::start(lifecycle::SessionObserver& observer) {
  observer_ = &observer;
  core_.emplace(RelayLimits{.max_message_size = ctx_.options.max_message_size,
                            .max_pipeline_bytes = ctx_.options.max_pipeline_bytes,
                            .precise = ctx_.options.phase_timing != config::PhaseTiming::passive},
                observer, ledger_);
  // Allocated only now: probes and cancel requests never need them. new[] without
  // value-initialisation leaves untouched pages uncommitted.
  up_buf_ = RelayBuffer(std::min(RelayBuffer::kSmall, buffer_size_), buffer_size_);
  down_buf_ = RelayBuffer(std::min(RelayBuffer::kSmall, buffer_size_), buffer_size_);
  loops_running_ = 2;
  client_.reader.enable(client_.sock);
  up_read();
}

void Relay::authenticated() {
  core_->authenticated();
}

void Relay::start_down(std::span<const std::uint8_t> rest) {
  backend_.reader.enable(backend_.sock);
  if (rest.empty()) return down_read();
  down_buf_.ensure(rest.size(), 0);
  std::memcpy(down_buf_.data(), rest.data(), rest.size());
  guarded([&] { down_chunk(rest.size(), lifecycle::now()); }, EndReason::backend_closed);
}

void Relay::down_ended(std::exception_ptr e) {
  if (e) loop_failed(e, EndReason::backend_closed);
  loop_done();
}

void Relay::on_session_end() {
  if (up_paused_) {
    // The paused client loop has no operation to cancel: it ends here.
    up_paused_ = false;
    loop_done();
  }
}

bool Relay::between_messages() const {
  return !core_ || core_->between_messages();
}

Relay::Tail Relay::tail() {
  Tail t;
  if (!core_) return t;
  // Held back bytes (whole messages) still go out, then the error, which goes out only
  // where it cannot land inside a half-written backend message.
  if (!releasing_ && core_->held() > core_->sent())
    t.held = asio::const_buffer(down_buf_.data() + core_->sent(), core_->held() - core_->sent());
  t.at_boundary = core_->client_at_boundary();
  t.writable = !client_write_broken_ && !releasing_;
  return t;
}

void Relay::tail_written(MonoTime t) {
  traffic_.to_client += core_->held() - core_->sent();
  core_->released(core_->held() - core_->sent());
  try {
    observer_->on_client_written(traffic_.to_client, t);
  } catch (...) {
    // The session ends anyway; on_session_end still reports it.
  }
}

template <class Buffers, class Handler>
void Relay::start_read(Endpoint& e, const Buffers& b, HandlerMemory& m, Handler&& h) {
  if (e.tls)
    e.reader.read_tls(e.sock, *e.tls, b, with_memory(m, std::forward<Handler>(h)));
  else
    e.reader.read(e.sock, b, with_memory(m, std::forward<Handler>(h)));
}

template <class Buffers, class Handler>
void Relay::start_write(Endpoint& e, const Buffers& b, HandlerMemory& m, Handler&& h) {
  if (e.tls)
    asio::async_write(*e.tls, b, with_memory(m, std::forward<Handler>(h)));
  else
    asio::async_write(e.sock, b, with_memory(m, std::forward<Handler>(h)));
}

template <class F>
void Relay::guarded(F&& f, EndReason reason) {
  try {
    f();
  } catch (...) {
    // An observer threw: end this session, keep the io thread.
    loop_failed(std::current_exception(), reason);
    loop_done();
  }
}

void Relay::loop_failed(std::exception_ptr e, EndReason reason) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    log::error() << "session " << session_.client().describe() << ": " << ex.what();
  } catch (...) {
    log::error() << "session " << session_.client().describe() << ": unknown exception";
  }
  session_.end(reason, true);
}

void Relay::loop_done() {
  if (--loops_running_ == 0) session_.on_relay_stopped();
}

void Relay::up_read() {
  if (session_.stopping()) return loop_done();
  up_buf_.before_read(0);
  start_read(client_, asio::buffer(up_buf_.data(), up_buf_.size()), up_memory_,
             [this, keep = session_.keep_alive()](const error_code& ec, std::size_t n) {
               guarded([&] { up_on_read(ec, n); }, EndReason::client_closed);
             });
}

void Relay::up_on_read(const error_code& ec, std::size_t n) {
  if (session_.stopping()) return loop_done();
  if (ec) {
    session_.end(EndReason::client_closed, false);
    return loop_done();
  }
  up_buf_.after_read(n);
  const MonoTime t = lifecycle::now();
  up_read_at_ = t;
  traffic_.from_client += n;
  up_forward(0, n, t);
}

// Frames and forwards up_buf_[from, to) as far as RelayCore says (it stops right after a
// message that takes the tracker over --max-pipeline-bytes; the rest waits in the buffer).
void Relay::up_forward(std::size_t from, std::size_t to, MonoTime t) {
  const RelayCore::ClientStep step =
      core_->client_bytes(up_buf_.data(), from, to, t, refuses_in_auth_);
  if (core_->terminated()) session_.note_reason(EndReason::client_terminate);
  if (step.stop == RelayCore::ClientStep::Stop::binding_refused) {
    // The server would answer with its riddle ("SCRAM channel binding negotiation
    // error"); the proxy knows why and what fixes it.
    const ClientIdentity& c = session_.client();
    log::info() << "session " << c.describe() << " user=" << c.user
                << ": refused a SCRAM login that expects channel binding, which cannot work "
                   "through the proxy's own certificate on a TLS backend link";
    session_.fail(
        "08P01",
        "pglifecycle: SCRAM channel binding cannot work through this proxy: it presents its "
        "own certificate and the link to the server is TLS too. Connect with "
        "channel_binding=disable, or run the proxy with --backend-sslmode prefer, or with "
        "the server's own certificate and key as --tls-cert/--tls-key",
        Result::auth_failed);
    session_.end(EndReason::auth_failed, false);
    return loop_done();
  }
  if (step.stop == RelayCore::ClientStep::Stop::protocol_error) {
    const ClientIdentity& c = session_.client();
    log::info() << "session " << c.describe() << " user=" << c.user
                << ": protocol violation: " << step.why;
    session_.fail("08P01", "pglifecycle: " + step.why, Result::protocol_error);
    session_.end(EndReason::protocol_error, false);
    return loop_done();
  }
  const bool client_flush = step.client_flush;
  std::uint8_t* const buf = up_buf_.data() + from;
  const std::size_t n = step.forward;
  // Without the proxy's Flushes the server would send the held bytes now; it may have
  // nothing new to send, since our Flush already emptied its buffer.
  if (client_flush && holding_ && !releasing_) release_held(t);
  auto done = [this, keep = session_.keep_alive()](const error_code& e, std::size_t written) {
    guarded([&] { up_on_written(e, written); }, EndReason::backend_closed);
  };
  const auto& offsets = *step.flushes;
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

void Relay::up_on_written(const error_code& ec, std::size_t written) {
  if (session_.stopping()) return loop_done();
  if (ec) {
    session_.end(EndReason::backend_closed, true);
    return loop_done();
  }
  ctx_.stats.bytes(metrics::Direction::to_backend, written);
  ctx_.stats.proxy_latency(metrics::Direction::to_backend, lifecycle::now() - up_read_at_);
  // The TLS copy of a burst is not kept for the rest of the session.
  if (tls_scratch_.capacity() > 2 * RelayBuffer::kSmall && written < RelayBuffer::kSmall)
    std::vector<std::uint8_t>().swap(tls_scratch_);
  if (core_->should_pause()) {
    // Backpressure: the client is far ahead of the server's answers. Reading resumes from
    // down_chunk / down_on_written once the tracker has drained to half the bound.
    up_paused_ = true;
    return;
  }
  up_continue();
}

// The rest of the last read first, then a new read.
void Relay::up_continue() {
  // Held back by the bound, read at up_read_at_ (what the tracker calls received).
  if (const auto [from, to] = core_->rest(); from < to) return up_forward(from, to, up_read_at_);
  up_read();
}

void Relay::maybe_resume_up() {
  if (!up_paused_ || session_.stopping() || !core_->may_resume()) return;
  up_paused_ = false;
  up_continue();
}

void Relay::down_read() {
  if (session_.stopping()) return loop_done();
  // A release write in flight still reads from the buffer.
  const std::size_t held = core_->held();
  if (!releasing_) down_buf_.before_read(held);
  std::size_t room = down_buf_.size() - held;
  // Answers wait in the tracker until the client has them: while it holds much, read in
  // small steps, so that a client that does not read cannot make one read hold thousands.
  if (core_->owes_much()) room = std::min(room, kSmallDownRead);
  start_read(backend_, asio::buffer(down_buf_.data() + held, room), down_memory_,
             [this, keep = session_.keep_alive()](const error_code& ec, std::size_t n) {
               guarded([&] { down_on_read(ec, n); }, EndReason::backend_closed);
             });
}

void Relay::down_on_read(const error_code& ec, std::size_t n) {
  holding_ = false;
  if (session_.stopping()) return loop_done();
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

void Relay::down_after_read(const error_code& ec, std::size_t n, MonoTime t) {
  if (ec) {
    if (core_->held() > core_->sent() && !client_write_broken_) {
      // The server sent these before it closed; the client gets them before the close.
      backend_gone_ = true;
      down_read_at_ = t;
      return down_write(core_->write_range(0));
    }
    session_.end(EndReason::backend_closed, true);
    return loop_done();
  }
  down_chunk(n, t);
}

void Relay::release_held(MonoTime t) {
  const auto [from, to] = core_->begin_release();
  holding_ = false;
  releasing_ = true;
  release_at_ = t;
  start_write(client_, asio::buffer(down_buf_.data() + from, to - from), release_memory_,
              [this, keep = session_.keep_alive()](const error_code& ec, std::size_t written) {
                on_released(ec, written);
              });
}

// Not a loop of its own: it resumes the backend loop if a read completed meanwhile.
void Relay::on_released(const error_code& ec, std::size_t n) {
  releasing_ = false;
  const bool resume = std::exchange(parked_, false);
  if (session_.stopping() || ec) {
    if (ec) {
      client_write_broken_ = true;
      if (!session_.stopping()) session_.end(EndReason::client_closed, true);
    }
    if (resume) loop_done();
    return;
  }
  core_->released(n);
  try {
    client_written(n, release_at_);
  } catch (...) {
    loop_failed(std::current_exception(), EndReason::client_closed);
    if (resume) loop_done();
    return;
  }
  if (resume)
    guarded([&] { down_after_read(parked_ec_, parked_n_, parked_at_); }, EndReason::backend_closed);
}

void Relay::client_written(std::size_t n, MonoTime read_at) {
  const MonoTime w = lifecycle::now();
  traffic_.to_client += n;
  observer_->on_client_written(traffic_.to_client, w);
  ctx_.stats.bytes(metrics::Direction::to_client, n);
  ctx_.stats.proxy_latency(metrics::Direction::to_client, w - read_at);
}

// The new bytes are at down_buf_[held, held + n), after any held ones.
void Relay::down_chunk(std::size_t n, MonoTime t) {
  down_buf_.after_read(core_->held() + n);
  if (!core_->server_bytes(down_buf_.data(), n, traffic_.to_client, t)) {
    const ClientIdentity& c = session_.client();
    log::warning() << "session " << c.describe() << " user=" << c.user
                   << ": invalid message from the backend: " << core_->why();
    session_.fail("08P01", "pglifecycle: invalid message from the backend: " + core_->why(),
                  Result::protocol_error);
    session_.end(EndReason::protocol_error, false);
    return loop_done();
  }
  maybe_resume_up();
  down_read_at_ = t;
  const auto range = core_->write_range(n);
  if (core_->hold_or_write(down_buf_.data(), n, down_buf_.size())) {
    holding_ = true;
    return down_read();
  }
  down_write(range);
}

void Relay::down_write(std::pair<std::size_t, std::size_t> range) {
  start_write(client_, asio::buffer(down_buf_.data() + range.first, range.second - range.first),
              down_memory_,
              [this, keep = session_.keep_alive()](const error_code& ec, std::size_t written) {
                guarded([&] { down_on_written(ec, written); }, EndReason::client_closed);
              });
}

void Relay::down_on_written(const error_code& ec, std::size_t n) {
  if (ec) {
    client_write_broken_ = true;
    if (!session_.stopping()) session_.end(EndReason::client_closed, true);
    return loop_done();
  }
  client_written(n, down_read_at_);
  core_->all_written();
  if (backend_gone_) {
    session_.end(EndReason::backend_closed, true);
    return loop_done();
  }
  session_.on_client_write_done();
  maybe_resume_up();  // delivered answers release what the tracker held for them
  down_read();
}

}  // namespace pglc::proxy
