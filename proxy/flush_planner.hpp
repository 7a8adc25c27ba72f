// Where precise phase timing inserts Flush messages into one forwarded frontend chunk.
//
// PostgreSQL holds ParseComplete/BindComplete in its output buffer until Sync, Flush or a
// full buffer; a Flush right after each Parse and Bind makes it send each answer as soon
// as it exists. No Flush is added when the client's own next message is already Flush or
// Sync, since that one has the same effect.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "pgwire/frontend.hpp"

namespace pglc::proxy {

class FlushPlanner {
 public:
  FlushPlanner() { offsets_.reserve(16); }

  // Starts a new chunk; the offsets of the previous one are forgotten (capacity kept).
  void begin() {
    offsets_.clear();
    pending_ = false;
    pause_end_.reset();
  }

  // A frontend message of `type` completed at `end` (offset in the chunk just past it);
  // `timed`: a Parse or Bind to be timed precisely (lifecycle's TimingPolicy).
  void on_frame(char type, std::size_t end, bool timed = true) {
    using namespace pgwire::fe;
    if (pending_ && type != kFlush && type != kSync) offsets_.push_back(pending_end_);
    pending_ = timed && (type == kParse || type == kBind);
    pending_end_ = end;
  }

  // The relay stops reading from the client after the message ending at `end` (its
  // pipeline is over --max-pipeline-bytes) and resumes when the server's answers drain
  // it. Unless that message was a Sync or Flush, the server may keep those answers in
  // its buffer until it gets more input, and neither side would move: a Flush goes
  // there, in every timing mode.
  void flush_before_pause(std::size_t end, char last_type) {
    using namespace pgwire::fe;
    if (last_type != kSync && last_type != kFlush && last_type != kQuery &&
        last_type != kFunctionCall) {
      pause_end_ = end;
    }
  }

  // Offsets in the chunk after which a Flush goes, ascending.
  const std::vector<std::size_t>& finish() {
    if (pending_) offsets_.push_back(pending_end_);
    pending_ = false;
    if (pause_end_ && (offsets_.empty() || offsets_.back() != *pause_end_)) {
      offsets_.push_back(*pause_end_);
    }
    pause_end_.reset();
    return offsets_;
  }

 private:
  std::vector<std::size_t> offsets_;
  bool pending_ = false;
  std::size_t pending_end_ = 0;
  std::optional<std::size_t> pause_end_;
};

}  // namespace pglc::proxy
