// The relay's decisions, without sockets: what of a client read goes to the server now
// (and where precise timing injects a Flush), when client reads pause for backpressure,
// which client-bound bytes are held back and which are written, and what the client gets
// last. Relay (relay.hpp) does the reads and writes these decisions ask for; the unit
// tests feed RelayCore bytes and write completions directly.
//
// It feeds every frame, once, to the session's observer (the tracker) and its ledger.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lifecycle/clock.hpp"
#include "lifecycle/observer.hpp"
#include "pgwire/frame.hpp"
#include "pgwire/framer.hpp"
#include "pgwire/ledger.hpp"
#include "proxy/flush_planner.hpp"
#include "proxy/holdback.hpp"

namespace pglc::proxy {

struct RelayLimits {
  std::uint64_t max_message_size = 1ull << 30;
  std::size_t max_pipeline_bytes = 64u << 20;
  bool precise = true;  // --phase-timing other than passive: Flushes may be injected
};

class RelayCore {
 public:
  // Held back client-bound bytes: ParseComplete/BindComplete plus what shares their read;
  // larger chunks are written at once (and must leave the next read room).
  static constexpr std::size_t kMaxHold = 4096;
  // Before login a client may only answer authentication requests, which PostgreSQL
  // bounds at 64 KiB (PG_MAX_AUTH_TOKEN_LENGTH): nothing larger is assembled for it.
  static constexpr std::uint64_t kMaxAuthMessage = 65535 + 4;

  RelayCore(RelayLimits limits, lifecycle::SessionObserver& observer, pgwire::Ledger& ledger);

  // The authentication phase is over: client messages may be as large as configured.
  void authenticated();

  // --- client to server ---
  struct ClientStep {
    enum class Stop { none, protocol_error, binding_refused };
    std::size_t forward = 0;  // bytes from the chunk's start that go to the server now
    // Offsets in those bytes after which a Flush goes, ascending.
    const std::vector<std::size_t>* flushes = nullptr;
    bool client_flush = false;  // the client sent a Flush of its own
    Stop stop = Stop::none;
    std::string why;  // the protocol error
  };
  // Frames chunk[from, to) of a client read; a Terminate among them is noted in
  // `terminated`. `refuses_in_auth`, during authentication, may refuse a message before
  // the server sees it. Stops right after a message that takes the tracker over
  // --max-pipeline-bytes: the rest is kept (rest()) for when the server's answers drain.
  ClientStep client_bytes(const std::uint8_t* chunk, std::size_t from, std::size_t to,
                          lifecycle::MonoTime t,
                          const std::function<bool(const pgwire::Frame&)>& refuses_in_auth);
  // Bytes of the last client read not framed yet, [first, second).
  std::pair<std::size_t, std::size_t> rest() const { return rest_; }
  bool terminated() const { return terminated_; }
  // After the server took a chunk: client reads stop until may_resume().
  bool should_pause() const;
  bool may_resume() const;
  // The server direction reads in small steps while much is owed.
  bool owes_much() const;

  // --- server to client ---
  // The new server bytes are at buf[held(), held() + n) of a buffer of `size` bytes, after
  // any held ones; `to_client` is the client-bound offset written so far. False: the
  // server sent garbage (why()), and the whole messages before it are held for the tail.
  bool server_bytes(std::uint8_t* buf, std::size_t n, std::uint64_t to_client,
                    lifecycle::MonoTime t);
  // After server_bytes: hold what is pending (moved to the buffer's start; true) or
  // write buf[sent(), held() + n) now (false; write_range()).
  bool hold_or_write(std::uint8_t* buf, std::size_t n, std::size_t size);
  std::pair<std::size_t, std::size_t> write_range(std::size_t n) const {
    return {sent_, held_ + n};
  }
  // A held range goes out early (the client sent its own Flush): [sent(), held()).
  std::pair<std::size_t, std::size_t> begin_release();
  void released(std::size_t n) { sent_ += n; }
  // A write of everything read so far completed.
  void all_written() { held_ = sent_ = 0; }
  std::size_t held() const { return held_; }
  std::size_t sent() const { return sent_; }
  const std::string& why() const { return why_; }

  // Between messages in both directions, nothing of a client read left to forward.
  bool between_messages() const;
  // Whether an ErrorResponse may follow the held bytes in the client-bound stream.
  bool client_at_boundary() const;

 private:
  RelayLimits limits_;
  lifecycle::SessionObserver& observer_;
  pgwire::Ledger& ledger_;
  pgwire::Framer up_framer_;
  pgwire::Framer down_framer_;
  FlushPlanner planner_;
  HoldBack holdback_;
  bool in_auth_ = true;
  bool terminated_ = false;
  std::pair<std::size_t, std::size_t> rest_{0, 0};
  // Held back client-bound bytes sit at buf[0, held_); the first sent_ of them already
  // went out (a client Flush).
  std::size_t held_ = 0;
  std::size_t sent_ = 0;
  std::string why_;
  // Set when the server sent garbage: whether the client-bound stream, up to held_, ends
  // at a message boundary (the framer itself is stuck in its error then).
  std::optional<bool> client_at_boundary_;
};

}  // namespace pglc::proxy
