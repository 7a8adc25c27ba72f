// Which client-bound backend chunks precise phase timing may hold back.
//
// The Flush the proxy injects after a Parse/Bind (FlushPlanner) makes the server send
// ParseComplete/BindComplete early, so the tracker can time them. Without the proxy the
// client would have received them only with the next output the server flushes, so a
// chunk that ends in such an answer can wait for the next backend bytes and go out with
// them in one write: fewer client writes and wake-ups, same bytes at the same moments.
//
// The answers are matched to the Parse/Bind messages in order (a small ring, no
// allocation). After an ErrorResponse the server skips messages until Sync, so entries
// carry their sync epoch (pgwire::Ledger's count of Sync/Query/FunctionCall forwarded
// before them, read from the session's one ledger, which is fed each frame first) and
// are dropped when the ReadyForQuery ending their epoch arrives. A hold also needs a Sync
// forwarded after the answered message: the server then still owes a ReadyForQuery, so
// more backend bytes will come without the client doing anything. Nothing the client
// would have had at once is held with them: a ReadyForQuery, an ErrorResponse or other
// message the server flushes itself, or answers in an epoch where the client sent a
// Flush of its own. In any state where the
// counting could be wrong (COPY, the ledger unsure, an unexpected answer, a full ring) holding
// stops for the rest of the session: it is an optimisation, never a requirement.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "pgwire/backend.hpp"
#include "pgwire/frontend.hpp"
#include "pgwire/ledger.hpp"

namespace pglc::proxy {

class HoldBack {
 public:
  static constexpr std::size_t kCapacity = 64;

  explicit HoldBack(const pgwire::Ledger& ledger) : ledger_(ledger) {}

  // A new forwarded frontend chunk starts (FlushPlanner::begin's counterpart: a Flush
  // or Sync opening the next chunk does not undo the Flush injected at this one's end).
  void begin_chunk() { after_pb_ = false; }

  // A frontend message of `type` was forwarded, in order, after the ledger counted it,
  // with FlushPlanner's rule for where a Flush is injected (`timed`: as passed to
  // FlushPlanner::on_frame).
  void on_frontend(char type, bool timed = true) {
    const bool was_after_pb = after_pb_;
    after_pb_ = false;
    if (ledger_.unsure() && !unsure_) give_up();
    switch (type) {
      case pgwire::fe::kParse:
      case pgwire::fe::kBind:
        if (unsure_) return;
        if (size_ == kCapacity) return give_up();
        // Neither message moves the epoch: the ledger's count is the one before it.
        ring_[(head_ + size_++) % kCapacity] = Entry{ledger_.requests(), type, timed};
        after_pb_ = timed;
        return;
      case pgwire::fe::kSync:
        if (was_after_pb && size_ > 0) back().injected = false;
        return;
      case pgwire::fe::kFlush:
        if (was_after_pb && size_ > 0) back().injected = false;
        // What the server answers in this epoch may be flushed by this Flush.
        own_flush_epoch_ = ledger_.requests() + 1;
        return;
      default:
        return;
    }
  }

  // A backend message of `type` was read, in order; holdable() then tells whether the
  // bytes read since the last client write, ending with it, may be held.
  void on_backend(char type) {
    holdable_ = false;
    if (ledger_.unsure() && !unsure_) give_up();
    if (unsure_) return;
    switch (type) {
      case pgwire::be::kParseComplete:
      case pgwire::be::kBindComplete: {
        if (size_ == 0) return give_up();
        const Entry e = ring_[head_];
        if (e.type != (type == pgwire::be::kParseComplete ? pgwire::fe::kParse : pgwire::fe::kBind))
          return give_up();
        pop();
        holdable_ = e.injected && e.epoch < ledger_.requests() && own_flush_epoch_ != e.epoch + 1;
        // Not held: without the proxy the client might have it now (its own Flush).
        if (!holdable_) must_send_ = true;
        return;
      }
      // Results the server keeps in its buffer until the next flush.
      case pgwire::be::kRowDescription:
      case pgwire::be::kDataRow:
      case pgwire::be::kCommandComplete:
      case pgwire::be::kNoData:
      case pgwire::be::kParameterDescription:
      case pgwire::be::kPortalSuspended:
      case pgwire::be::kEmptyQueryResponse:
      case pgwire::be::kCloseComplete:
        return;
      case pgwire::be::kReadyForQuery:
        must_send_ = true;
        while (size_ > 0 && ring_[head_].epoch < ledger_.readies()) pop();
        return;
      case pgwire::be::kCopyInResponse:   // CopyInResponse: the server ignores Sync and Flush until
                                          // CopyDone/Fail
      case pgwire::be::kCopyOutResponse:  // CopyOutResponse
      case pgwire::be::kCopyBothResponse:  // CopyBothResponse
        return give_up();
      default:
        // ErrorResponse, NoticeResponse, notifications...: the server flushes these, so
        // the client would have had them (and what came before) at once.
        must_send_ = true;
        return;
    }
  }

  // The relay wrote everything read so far to the client.
  void written() { must_send_ = false; }

  bool holdable() const { return holdable_ && !must_send_; }
  bool unsure() const { return unsure_; }
  std::size_t outstanding() const { return size_; }

 private:
  struct Entry {
    std::uint64_t epoch = 0;
    char type = 0;
    bool injected = false;
  };

  Entry& back() { return ring_[(head_ + size_ - 1) % kCapacity]; }
  void pop() {
    head_ = (head_ + 1) % kCapacity;
    --size_;
  }
  void give_up() {
    unsure_ = true;
    must_send_ = true;
    holdable_ = false;
    after_pb_ = false;
    size_ = 0;
  }

  const pgwire::Ledger& ledger_;
  std::array<Entry, kCapacity> ring_{};
  std::size_t head_ = 0;
  std::size_t size_ = 0;
  bool after_pb_ = false;
  bool unsure_ = false;
  bool holdable_ = false;
  bool must_send_ = false;
  std::uint64_t own_flush_epoch_ = 0;  // epoch + 1 of the client's last own Flush
};

}  // namespace pglc::proxy
