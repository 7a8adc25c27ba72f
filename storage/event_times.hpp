// Event times stored as columns (schema v2): an execution or statement has each of its
// events at most once, so `execution_events` and `statement_events` are views over
// these columns, and the writer stores one row per execution and per statement.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "lifecycle/records.hpp"
#include "storage/item.hpp"

namespace pglc::storage {

// `received` is the statement row's received_at.
struct StatementTimes {
  OptMicros parsed;
  OptMicros described;
  OptMicros closed;
  void add(lifecycle::StatementEvent e, lifecycle::WallMicros at) {
    switch (e) {
      case lifecycle::StatementEvent::parsed:
        keep_first(parsed, at);
        break;
      case lifecycle::StatementEvent::described:
        keep_first(described, at);
        break;
      case lifecycle::StatementEvent::closed:
        keep_first(closed, at);
        break;
      default:
        break;
    }
  }
};

// A statement's events arrive as records of their own, after the statement (an extended
// statement's ParseComplete comes in its record: parsed_at). Most arrive in the same
// batch: those go into the statement's row; only the others (a batch boundary in between,
// a Close long after) become UPDATEs of a row written before.
class StatementFold {
  using StatementRecord = lifecycle::StatementRecord;
  using EventRecord = lifecycle::StatementEventRecord;

 public:
  // Collects the events of `items` by statement, and which of those statements are in
  // `items` too. The ids point into the items, which must outlive the fold's use.
  void prepare(std::span<const Item* const> items) {
    events_ = 0;
    for (const Item* item : items) events_ += std::holds_alternative<EventRecord>(*item);
    if (events_ == 0) return;  // nothing to fold: times() and folded() look at no slot
    // Keyed by the events, not the statements: since statements carry their parse, a
    // batch has few events, and a table sized for its thousands of statements missed the
    // cache on every probe. Open addressing, at most half full.
    std::size_t size = 16;
    while (size < 2 * events_) size *= 2;
    slots_.assign(size, Slot{});
    mask_ = size - 1;
    for (const Item* item : items) {
      if (const auto* e = std::get_if<EventRecord>(item)) {
        Slot& slot = probe(e->statement_id);
        slot.id = e->statement_id;
        slot.used = true;
        slot.times.add(e->event, e->occurred_at);
      }
    }
    for (const Item* item : items) {
      if (const auto* s = std::get_if<StatementRecord>(item)) {
        if (Slot& slot = probe(s->id); slot.used) slot.in_batch = true;
      }
    }
  }
  // The times of a statement of this batch: its own parse and the events folded into it.
  StatementTimes times(const StatementRecord& s) const {
    StatementTimes t;
    if (events_ != 0) t = probe(s.id).times;
    if (s.parsed_at) t.add(lifecycle::StatementEvent::parsed, *s.parsed_at);
    return t;
  }
  // True when the event went into its statement's row (the statement is in this batch).
  bool folded(const EventRecord& e) const { return events_ != 0 && probe(e.statement_id).in_batch; }

 private:
  struct Slot {
    std::string_view id;
    bool used = false;
    bool in_batch = false;
    StatementTimes times;
  };
  // Ids are UUIDv7 text: the random tail makes a good hash (the head is the time).
  static std::size_t hash(std::string_view id) {
    std::uint64_t h = 1469598103934665603ull;
    for (std::size_t i = id.size() > 16 ? id.size() - 16 : 0; i < id.size(); ++i) {
      h = (h ^ static_cast<unsigned char>(id[i])) * 1099511628211ull;
    }
    return static_cast<std::size_t>(h ^ (h >> 29));
  }
  // The slot of `id`, or the free slot where it would go.
  const Slot& probe(std::string_view id) const {
    for (std::size_t i = hash(id) & mask_;; i = (i + 1) & mask_) {
      const Slot& slot = slots_[i];
      if (!slot.used || slot.id == id) return slot;
    }
  }
  Slot& probe(std::string_view id) {
    return const_cast<Slot&>(static_cast<const StatementFold*>(this)->probe(id));
  }

  std::vector<Slot> slots_ = std::vector<Slot>(16);
  std::size_t mask_ = 15;
  std::size_t events_ = 0;
};

}  // namespace pglc::storage
