// A queued execution: the columns a store writes, and nothing the metrics needed. It is
// the writer queue's most numerous item, so it is kept small and without allocations of
// its own in the common case: the ids live inside it, the event times are its three
// columns, and the rarely set texts (portal, parameters, error message) sit apart.
// Built on the io thread from an ExecutionRecord (AsyncRecorder::enqueue); under
// `pgbench -M simple` it took 568 bytes and three heap strings before.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "lifecycle/records.hpp"

namespace pglc::storage {

using OptMicros = std::optional<lifecycle::WallMicros>;

// The tracker records each event at most once; should one repeat, the first counts, as
// min(occurred_at) did when events were rows.
inline void keep_first(OptMicros& slot, lifecycle::WallMicros at) {
  if (!slot || at < *slot) slot = at;
}

// `received` and `finished` are the execution row's began_at and finished_at.
struct ExecutionTimes {
  OptMicros bound;
  OptMicros executed;
  OptMicros delivered;
};

inline ExecutionTimes execution_times(const lifecycle::ExecutionRecord& r) {
  ExecutionTimes t;
  for (const auto& [event, at] : r.events) {
    switch (event) {
      case lifecycle::ExecutionEvent::bound:
        keep_first(t.bound, at);
        break;
      case lifecycle::ExecutionEvent::executed:
        keep_first(t.executed, at);
        break;
      case lifecycle::ExecutionEvent::delivered:
        keep_first(t.delivered, at);
        break;
      default:
        break;
    }
  }
  return t;
}

// A record id kept in place: the tracker's are 36-character UUIDs. A longer one (no
// record of ours has one) goes to the heap rather than being cut.
class InlineId {
 public:
  InlineId() = default;
  static constexpr std::size_t kInline = 36;
  explicit InlineId(std::string_view s) {
    if (s.size() <= kInline) {
      std::memcpy(buf_.data(), s.data(), s.size());
      size_ = static_cast<std::uint8_t>(s.size());
    } else {
      long_ = std::make_unique<std::string>(s);
    }
  }
  std::string_view view() const {
    return long_ ? std::string_view(*long_) : std::string_view(buf_.data(), size_);
  }
  // What an id of this text holds beyond the InlineId, before one is made of it.
  static std::size_t heap_bytes(std::string_view s) {
    return s.size() > kInline ? sizeof(std::string) + s.size() + 1 : 0;
  }
  std::size_t heap_bytes() const { return heap_bytes(view()); }

 private:
  std::array<char, kInline> buf_{};
  std::uint8_t size_ = 0;
  std::unique_ptr<std::string> long_;
};

struct ExecutionItem {
  struct Rare {
    std::string portal;
    std::optional<std::string> params;
    std::string error_message;
  };

  ExecutionItem() = default;
  ExecutionItem(const lifecycle::ExecutionRecord& r, double rate)
      : id(r.id),
        statement_id(r.statement_id),
        session_id(r.session_id),
        began_at(r.began_at),
        finished_at(r.finished_at),
        times(execution_times(r)),
        rows(r.rows),
        result_bytes(r.result_bytes),
        sample_rate(rate),
        fetches(r.fetches),
        status(r.status),
        timing(r.timing),
        sqlstate(r.sqlstate),
        command_tag(r.command_tag),
        application_name(r.application_name) {
    if (has_rare(r)) rare = std::make_unique<Rare>(Rare{r.portal, r.params, r.error_message});
  }
  static bool has_rare(const lifecycle::ExecutionRecord& r) {
    return !r.portal.empty() || r.params || !r.error_message.empty();
  }

  std::string_view portal() const { return rare ? std::string_view(rare->portal) : ""; }
  const std::optional<std::string>& params() const { return rare ? rare->params : kNoParams; }
  std::string_view error_message() const {
    return rare ? std::string_view(rare->error_message) : "";
  }
  // The rows the execution_events view shows for it.
  int event_rows() const {
    return 1 + times.bound.has_value() + times.executed.has_value() + finished_at.has_value() +
           times.delivered.has_value();
  }

  InlineId id, statement_id, session_id;
  lifecycle::WallMicros began_at = 0;  // = the received event
  OptMicros finished_at;
  ExecutionTimes times;
  std::int64_t rows = 0;
  std::int64_t result_bytes = 0;
  double sample_rate = 1.0;  // what this stored row stands for (1 / probability kept)
  int fetches = 0;
  lifecycle::ExecutionStatus status = lifecycle::ExecutionStatus::success;
  lifecycle::Timing timing = lifecycle::Timing::precise;
  std::string sqlstate;          // five characters: no allocation
  std::string command_tag;       // "SELECT 42": mostly none either
  std::string application_name;  // in force when the execution began
  std::unique_ptr<Rare> rare;    // set when any of its texts is

 private:
  static inline const std::optional<std::string> kNoParams;
};

}  // namespace pglc::storage
