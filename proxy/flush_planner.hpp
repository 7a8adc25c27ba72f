// Where precise phase timing inserts Flush messages into one forwarded frontend chunk.
//
// PostgreSQL holds ParseComplete/BindComplete in its output buffer until Sync, Flush or a
// full buffer; a Flush right after each Parse and Bind makes it send each answer as soon
// as it exists. No Flush is added when the client's own next message is already Flush or
// Sync, since that one has the same effect.
#pragma once

#include <cstddef>
#include <vector>

namespace pglc::proxy {

class FlushPlanner {
 public:
  FlushPlanner() { offsets_.reserve(16); }

  // Starts a new chunk; the offsets of the previous one are forgotten (capacity kept).
  void begin() {
    offsets_.clear();
    pending_ = false;
  }

  // A frontend message of `type` completed at `end` (offset in the chunk just past it).
  void on_frame(char type, std::size_t end) {
    if (pending_ && type != 'H' && type != 'S') offsets_.push_back(pending_end_);
    pending_ = type == 'P' || type == 'B';
    pending_end_ = end;
  }

  // Offsets in the chunk after which a Flush goes, ascending.
  const std::vector<std::size_t>& finish() {
    if (pending_) offsets_.push_back(pending_end_);
    pending_ = false;
    return offsets_;
  }

 private:
  std::vector<std::size_t> offsets_;
  bool pending_ = false;
  std::size_t pending_end_ = 0;
};

}  // namespace pglc::proxy
