// What the server still owes the client, counted from the messages a relay forwards and
// reads, once per frame: the one count of Query/Sync/FunctionCall against ReadyForQuery
// that the relay's idle check (shutdown drain) and the hold-back of early answers read.
//
// Every Query, Sync and FunctionCall is answered by exactly one ReadyForQuery, so the
// number forwarded is the sync epoch a message belongs to and the number answered tells
// which epochs are done. Two things break that count, and the ledger says so (`unsure`)
// rather than drift: a Query amid unsynced extended messages (after an error the server
// skips until Sync, so it may swallow the Query without an answer), and more
// ReadyForQuery than requests. The StartupMessage is the first request: the server's
// first ReadyForQuery (the end of authentication) answers it. In copy-in mode the
// server ignores Sync and Flush (protocol docs, "COPY Operations"), and libpq and pgjdbc
// send a Sync right after the Execute of a COPY, before they know it is one: when the
// CopyInResponse arrives, the Syncs forwarded since the last Execute or Query are taken
// back, and none counts until CopyDone or CopyFail.
#pragma once

#include <cstdint>

#include "pgwire/backend.hpp"
#include "pgwire/frame.hpp"
#include "pgwire/frontend.hpp"

namespace pglc::pgwire {

class Ledger {
 public:
  // A frontend message was forwarded to the server, in order.
  void on_frontend(char type) {
    switch (type) {
      case fe::kQuery:
      case fe::kFunctionCall:
        if (unsynced_) unsure_ = true;
        ++requests_;
        syncs_since_exec_ = 0;
        exec_extended_ = false;
        return;
      case fe::kSync:
        if (copy_in_) return;
        ++requests_;
        ++syncs_since_exec_;
        unsynced_ = false;
        return;
      case fe::kExecute:
        syncs_since_exec_ = 0;
        exec_extended_ = true;
        unsynced_ = true;
        return;
      case fe::kParse:
      case fe::kBind:
      case fe::kDescribe:
      case fe::kClose:
        unsynced_ = true;
        return;
      case fe::kCopyDone:
      case fe::kCopyFail:
        copy_in_ = false;
        return;
      default:  // Flush, CopyData, Terminate, authentication answers: nothing owed
        return;
    }
  }

  // A backend message was read from the server, in order.
  void on_backend(const Frame& f) {
    switch (f.type) {
      case be::kReadyForQuery:
        ++readies_;
        copy_in_ = false;
        if (readies_ > requests_) unsure_ = true;
        if (!f.body.empty()) status_ = static_cast<char>(f.body[0]);
        return;
      case be::kCopyInResponse:
      case be::kCopyBothResponse:
        copy_in_ = true;
        requests_ -= syncs_since_exec_;
        if (syncs_since_exec_ > 0 && exec_extended_) unsynced_ = true;
        syncs_since_exec_ = 0;
        return;
      default:
        return;
    }
  }

  // Query/Sync/FunctionCall forwarded: the sync epoch of the next frontend message.
  std::uint64_t requests() const { return requests_; }
  // ReadyForQuery read: epochs below this one are answered.
  std::uint64_t readies() const { return readies_; }
  bool owes_ready() const { return requests_ > readies_; }
  // Extended-protocol messages forwarded since the last Sync.
  bool unsynced() const { return unsynced_; }
  // The last ReadyForQuery's transaction status ('I', 'T', 'E'), 0 before the first.
  char status() const { return status_; }
  bool in_copy_in() const { return copy_in_; }
  // The counts may no longer match the server's (see above); they stay so.
  bool unsure() const { return unsure_; }

  // Nothing owed and outside a transaction: ending the session here loses no work.
  bool idle() const { return !owes_ready() && !unsynced_ && !copy_in_ && status_ == 'I'; }

 private:
  std::uint64_t requests_ = 1;  // the StartupMessage
  std::uint64_t readies_ = 0;
  std::uint64_t syncs_since_exec_ = 0;  // Syncs forwarded since the last Execute or Query
  bool exec_extended_ = false;          // that one was an Execute
  bool unsynced_ = false;
  bool copy_in_ = false;
  bool unsure_ = false;
  char status_ = 0;
};

}  // namespace pglc::pgwire
