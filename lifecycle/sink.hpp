// Where the tracker's output goes. Called from the io threads of many sessions at once:
// implementations must be thread-safe and must never block (storage only enqueues).
#pragma once

#include <chrono>
#include <vector>

#include "lifecycle/records.hpp"

namespace pglc::lifecycle {

class Sink {
 public:
  virtual ~Sink() = default;
  // After authentication succeeded (backend_pid known) — or at the end, with end_reason
  // set, for sessions that never got that far.
  virtual void session_opened(const SessionRecord&) {}
  // The session ended: disconnected_at and end_reason are set.
  virtual void session_closed(const SessionRecord&) {}
  // A statement was received (its `received` event is implied by received_at).
  virtual void statement(const StatementRecord&) {}
  virtual void statement_event(const StatementEventRecord&) {}
  // An execution is final: finished and delivered, or aborted.
  virtual void execution(const ExecutionRecord&) {}
  // One frontend message's read → response arrived time (message_duration histogram).
  virtual void message_timed(MessageKind, std::chrono::nanoseconds) {}
};

// Forwards everything to several sinks in order.
class FanoutSink final : public Sink {
 public:
  explicit FanoutSink(std::vector<Sink*> sinks) : sinks_(std::move(sinks)) {}
  void session_opened(const SessionRecord& r) override {
    for (auto* s : sinks_) s->session_opened(r);
  }
  void session_closed(const SessionRecord& r) override {
    for (auto* s : sinks_) s->session_closed(r);
  }
  void statement(const StatementRecord& r) override {
    for (auto* s : sinks_) s->statement(r);
  }
  void statement_event(const StatementEventRecord& r) override {
    for (auto* s : sinks_) s->statement_event(r);
  }
  void execution(const ExecutionRecord& r) override {
    for (auto* s : sinks_) s->execution(r);
  }
  void message_timed(MessageKind k, std::chrono::nanoseconds d) override {
    for (auto* s : sinks_) s->message_timed(k, d);
  }

 private:
  std::vector<Sink*> sinks_;
};

}  // namespace pglc::lifecycle
