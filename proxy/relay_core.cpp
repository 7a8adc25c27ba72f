#include "proxy/relay_core.hpp"

#include <cstring>

#include "pgwire/backend.hpp"
#include "pgwire/frontend.hpp"

namespace pglc::proxy {

using lifecycle::MonoTime;

RelayCore::RelayCore(RelayLimits limits, lifecycle::SessionObserver& observer,
                     pgwire::Ledger& ledger)
    : limits_(limits),
      observer_(observer),
      ledger_(ledger),
      up_framer_(pgwire::Direction::frontend, std::min(kMaxAuthMessage, limits.max_message_size)),
      down_framer_(pgwire::Direction::backend, limits.max_message_size),
      holdback_(ledger) {}

void RelayCore::authenticated() {
  in_auth_ = false;
  up_framer_.set_max_message_size(limits_.max_message_size);
}

RelayCore::ClientStep RelayCore::client_bytes(
    const std::uint8_t* chunk, std::size_t from, std::size_t to, MonoTime t,
    const std::function<bool(const pgwire::Frame&)>& refuses_in_auth) {
  ClientStep step;
  const std::uint8_t* const buf = chunk + from;
  const std::size_t limit = limits_.max_pipeline_bytes;
  planner_.begin();
  if (limits_.precise) holdback_.begin_chunk();
  bool refused = false;
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
        if (in_auth_ && refuses_in_auth && refuses_in_auth(f)) {
          refused = true;
          return false;
        }
        observer_.on_frontend(f, t);
        ledger_.on_frontend(f.type);
        if (f.type == pgwire::fe::kTerminate) terminated_ = true;
        if (f.type == pgwire::fe::kFlush) step.client_flush = true;
        // Flushes may be injected (the tracker says after which Parse/Bind: wants_flush()).
        if (limits_.precise) {
          const bool flush = observer_.wants_flush();
          planner_.on_frame(f.type, end, flush);
          holdback_.on_frontend(f.type, flush);
        }
        last_type = f.type;
        last_end = end;
        return observer_.owed_bytes() <= limit;
      },
      &n);
  rest_ = {from + n, to};
  if (last_type != 0 && observer_.owed_bytes() > limit)
    planner_.flush_before_pause(last_end, last_type);
  if (refused) {
    step.stop = ClientStep::Stop::binding_refused;
    return step;
  }
  if (err != pgwire::FrameError::none || bad_type) {
    step.stop = ClientStep::Stop::protocol_error;
    step.why = bad_type ? "invalid frontend message type " +
                              std::to_string(static_cast<unsigned char>(bad_type))
               : in_auth_ && err == pgwire::FrameError::length_too_large
                   ? std::string("invalid message length during authentication")
                   : std::string(pgwire::describe(err));
    return step;
  }
  step.forward = n;
  step.flushes = &planner_.finish();
  return step;
}

bool RelayCore::should_pause() const {
  return observer_.owed_bytes() > limits_.max_pipeline_bytes;
}

bool RelayCore::may_resume() const {
  return observer_.owed_bytes() <= limits_.max_pipeline_bytes / 2;
}

bool RelayCore::owes_much() const {
  return !may_resume();
}

bool RelayCore::server_bytes(std::uint8_t* buf, std::size_t n, std::uint64_t to_client,
                             MonoTime t) {
  // Offsets are positions in the client-bound stream: unsent held bytes come first.
  const std::uint64_t base = to_client + (held_ - sent_);
  const bool was_at_boundary = down_framer_.at_boundary();
  std::size_t good_end = 0;  // past the last whole message of this chunk
  auto err = down_framer_.feed(pgwire::Bytes(buf + held_, n),
                               [&](const pgwire::Frame& f, std::size_t end) {
                                 good_end = end;
                                 observer_.on_backend(f, t, base + end);
                                 ledger_.on_backend(f);
                                 if (limits_.precise) holdback_.on_backend(f.type);
                               });
  if (err != pgwire::FrameError::none) {
    // The whole messages before the bad one still reach the client, then an error that
    // says what happened instead of a bare close -- where it cannot land inside a message.
    held_ += good_end;
    client_at_boundary_ = was_at_boundary || good_end > 0;
    why_ = std::string(pgwire::describe(err));
    return false;
  }
  observer_.on_backend_read_done(t);
  return true;
}

bool RelayCore::hold_or_write(std::uint8_t* buf, std::size_t n, std::size_t size) {
  const std::size_t pending = held_ + n - sent_;
  // Held bytes are whole messages ending with the held answer, never a message cut by
  // the read's end.
  if (limits_.precise && holdback_.holdable() && down_framer_.at_boundary() &&
      pending <= kMaxHold && pending <= size / 2) {
    if (sent_ > 0) std::memmove(buf, buf + sent_, pending);
    held_ = pending;
    sent_ = 0;
    return true;
  }
  if (limits_.precise) holdback_.written();
  return false;
}

std::pair<std::size_t, std::size_t> RelayCore::begin_release() {
  holdback_.written();
  return {sent_, held_};
}

bool RelayCore::between_messages() const {
  return up_framer_.at_boundary() && down_framer_.at_boundary() && rest_.first == rest_.second;
}

bool RelayCore::client_at_boundary() const {
  return client_at_boundary_ ? *client_at_boundary_ : down_framer_.at_boundary();
}

}  // namespace pglc::proxy
