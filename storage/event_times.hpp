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
 public:
  // Collects the statements of `items` and the times of their events. The ids point into
  // the items, which must outlive the fold's use.
  void prepare(std::span<const Item* const> items) {
    std::size_t statements = 0;
    for (const Item* item : items) statements += std::holds_alternative<StatementRecord>(*item);
    // Open addressing in a table at most half full, reused from batch to batch: no
    // allocation per statement, one probe on average.
    std::size_t size = 16;
    while (size < 2 * statements) size *= 2;
    slots_.assign(size, Slot{});
    mask_ = size - 1;
    for (const Item* item : items) {
      if (const auto* s = std::get_if<StatementRecord>(item)) {
        Slot& slot = probe(s->id);
        slot.id = s->id;
        slot.used = true;
        if (s->parsed_at) slot.times.add(lifecycle::StatementEvent::parsed, *s->parsed_at);
      } else if (const auto* e = std::get_if<lifecycle::StatementEventRecord>(item)) {
        if (Slot& slot = probe(e->statement_id); slot.used) slot.times.add(e->event, e->occurred_at);
      }
    }
  }
  // The folded times of a statement of this batch.
  const StatementTimes& times(std::string_view statement_id) const {
    return probe(statement_id).times;
  }
  // True when the event went into its statement's row (the statement is in this batch).
  bool folded(const lifecycle::StatementEventRecord& e) const {
    return probe(e.statement_id).used;
  }

 private:
  using StatementRecord = lifecycle::StatementRecord;
  struct Slot {
    std::string_view id;
    bool used = false;
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
};

}  // namespace pglc::storage
