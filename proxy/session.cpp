#include "proxy/session.hpp"

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdio>

#include "lifecycle/text_format.hpp"
#include "pgwire/builder.hpp"
#include "proxy/log.hpp"

namespace pglc::proxy {

using asio::awaitable;
using boost::system::error_code;
using lifecycle::EndReason;
using lifecycle::MonoTime;

Session::Session(SessionContext& ctx, tcp::socket client)
    : ctx_(ctx),
      client_(std::move(client)),
      backend_(ctx, *this, client_),
      login_(ctx, *this, client_, backend_, identity_, ledger_, traffic_),
      relay_(ctx, *this, client_, backend_.endpoint(), ledger_, traffic_) {}

Session::~Session() = default;

void Session::start() {
  opened_at_ = lifecycle::now();
  // The lambda's copy of `self` lives in the coroutine frame: the session stays alive
  // for as long as run() does.
  asio::co_spawn(
      executor(), [self = shared_from_this()] { return self->run(); }, asio::detached);
}

void Session::stop(EndReason reason) {
  if (!observer_) {
    // Still in startup: possibly between operations, so cancelling is not enough.
    end(reason, true);
    return;
  }
  if (!reason_ && pending_error_.empty())
    pending_error_ = pgwire::error_response(
        "57P01", "pglifecycle: terminating connection because the proxy is shutting down");
  end(reason, false);
}

void Session::drain() {
  if (phase_ == Phase::relay)
    phase_ = Phase::draining;
  else if (phase_ != Phase::closing)
    drain_requested_ = true;
  check_drain();
}

bool Session::idle() const {
  return (phase_ == Phase::relay || phase_ == Phase::draining) && ledger_.idle() &&
         relay_.between_messages();
}

void Session::check_drain() {
  if (phase_ == Phase::draining && idle()) stop(EndReason::shutdown);
}

void Session::note_reason(EndReason r) {
  if (!reason_) reason_ = r;
}

void Session::end(EndReason r, bool close_client) {
  note_reason(r);
  error_code ec;
  if (phase_ == Phase::closing) {
    if (close_client) client_.sock.close(ec);
    return;
  }
  phase_ = Phase::closing;
  backend_.close();
  relay_.on_session_end();
  // Cancelling instead of closing keeps the client socket usable for a final
  // ErrorResponse once both directions have stopped.
  if (close_client)
    client_.sock.close(ec);
  else
    client_.sock.cancel(ec);
}

void Session::fail(std::string_view sqlstate, const std::string& message, Result result) {
  pending_error_ = pgwire::error_response(sqlstate, message);
  result_ = result;
  // Later failures are logged where they happen, with the session's context.
  if (!observer_ && result == Result::protocol_error)
    log::info() << "connection from " << identity_.describe() << " refused: " << message;
}

void Session::clear_failure() {
  pending_error_.clear();
  result_ = Result::client_closed;
}

void Session::begin(const lifecycle::SessionStart& start, MonoTime t) {
  observer_ = ctx_.observers.create();
  observer_->on_session_begin(start, t);
  phase_ = Phase::auth;
}

void Session::on_backend_key(CancelKey key) {
  cancel_key_ = key;
  std::weak_ptr<Session> weak = weak_from_this();
  auto exec = executor();
  ctx_.cancels.add(key, this, [weak, exec](MonoTime when) {
    asio::post(exec, [weak, when] {
      if (auto s = weak.lock()) s->on_cancel_requested(when);
    });
  });
}

void Session::on_cancel_requested(MonoTime t) {
  if (observer_ && !reason_) observer_->on_cancel_requested(t);
}

bool Session::refuses_in_auth(const pgwire::Frame& f) {
  return login_.refuses_channel_binding(f);
}

void Session::on_authenticated() {
  if (phase_ != Phase::auth) return;
  phase_ = drain_requested_ ? Phase::draining : Phase::relay;
  relay_.authenticated();
}

void Session::describe(std::string& out, MonoTime now) const {
  using lifecycle::append_json_string;
  const lifecycle::Activity a = observer_ ? observer_->activity() : lifecycle::Activity{};
  std::string_view state;
  switch (phase_) {
    case Phase::startup:
      state = "startup";
      break;
    case Phase::auth:
      state = "authenticating";
      break;
    case Phase::closing:
      state = "closing";
      break;
    case Phase::relay:
    case Phase::draining:
      // pg_stat_activity's names, from what the server still owes and its last status.
      state = a.pipeline_depth > 0 || ledger_.owes_ready() || ledger_.unsynced() ? "active"
              : ledger_.status() == 'T' ? "idle in transaction"
              : ledger_.status() == 'E' ? "idle in transaction (aborted)"
                                        : "idle";
      break;
  }
  auto seconds_since = [&](MonoTime t) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", std::chrono::duration<double>(now - t).count());
    return std::string(buf);
  };
  out += "{\"session_id\":";
  append_json_string(out, a.session_id);
  out += ",\"client_addr\":";
  append_json_string(out, identity_.addr);
  out += ",\"client_port\":" + std::to_string(identity_.port);
  out += ",\"user\":";
  append_json_string(out, identity_.user);
  out += ",\"database\":";
  append_json_string(out, identity_.database);
  out += ",\"application\":";
  append_json_string(out, identity_.application);
  out += ",\"client_tls\":";
  out += client_.tls ? "true" : "false";
  out += ",\"backend_pid\":" + std::to_string(a.backend_pid);
  out += ",\"state\":";
  append_json_string(out, state);
  out += ",\"connected_seconds\":" + seconds_since(opened_at_);
  out += ",\"query\":";
  append_json_string(out, a.query);
  out += ",\"query_seconds\":";
  out += a.query_received ? seconds_since(*a.query_received) : std::string("null");
  out += ",\"pipeline_depth\":" + std::to_string(a.pipeline_depth);
  out += ",\"bytes_from_client\":" + std::to_string(traffic_.from_client);
  out += ",\"bytes_to_client\":" + std::to_string(traffic_.to_client);
  out += "}";
}

awaitable<void> Session::run() {
  auto self = shared_from_this();
  error_code ec;
  client_.sock.set_option(tcp::no_delay(true), ec);
  if (auto remote = client_.sock.remote_endpoint(ec); !ec) {
    identity_.addr = remote.address().to_string();
    identity_.port = remote.port();
  }
  bool relay = false;
  try {
    relay = co_await login_.startup(opened_at_);
  } catch (const std::exception& e) {
    log::error() << "session " << identity_.describe() << ": " << e.what();
  }
  if (!relay || stopping()) {
    co_await finish();
    co_return;
  }
  relay_.start(*observer_);
  // The authentication phase stays a coroutine (it rewrites and batches messages);
  // the streaming relay of the backend direction takes over when it is done.
  asio::co_spawn(
      executor(),
      [self] {
        return [](std::shared_ptr<Session> s) -> awaitable<void> {
          std::vector<std::uint8_t> rest;
          if (!co_await s->login_.relay_auth(rest) || s->stopping())
            s->relay_.down_ended();
          else
            s->relay_.start_down(rest);
        }(self);
      },
      [self](std::exception_ptr e) {
        if (e) self->relay_.down_ended(e);
      });
}

void Session::on_relay_stopped() {
  asio::co_spawn(
      executor(), [self = shared_from_this()] { return self->finish(); }, asio::detached);
}

awaitable<void> Session::finish() {
  auto self = shared_from_this();
  error_code ec;
  phase_ = Phase::closing;
  backend_.close();
  const Relay::Tail tail = relay_.tail();
  const bool send_error = !pending_error_.empty() && tail.at_boundary;
  if ((tail.held.size() > 0 || send_error) && client_.sock.is_open() && tail.writable) {
    asio::steady_timer timer(executor(), std::chrono::seconds(2));
    timer.async_wait([this](error_code e) {
      if (!e) client_.sock.close(e);
    });
    std::array<asio::const_buffer, 2> out{
        tail.held, send_error ? asio::buffer(pending_error_) : asio::const_buffer()};
    co_await write_all(client_, out, ec);
    timer.cancel();
    if (!ec && tail.held.size() > 0) relay_.tail_written(lifecycle::now());
  }
  client_.sock.close(ec);
  const MonoTime t = lifecycle::now();
  if (cancel_key_) ctx_.cancels.remove(*cancel_key_, this);
  if (observer_) {
    const EndReason reason = reason_.value_or(EndReason::client_closed);
    observer_->on_session_end(reason, t);
    log::info() << "session close client=" << identity_.describe() << " user=" << identity_.user
                << " database=" << identity_.database
                << " duration=" << log::seconds(t - opened_at_)
                << " bytes_from_client=" << traffic_.from_client
                << " bytes_to_client=" << traffic_.to_client
                << " end=" << lifecycle::to_string(reason);
  }
  ctx_.stats.connection_result(result_);
  ctx_.stats.connection_closed();
  if (ctx_.on_ended) ctx_.on_ended(this);
}

}  // namespace pglc::proxy
