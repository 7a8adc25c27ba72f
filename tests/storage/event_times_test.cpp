// StatementFold: which statement events go into their statement's row in a batch, and
// what the row's event columns say. Items as the recorder queues them.
#include "storage/event_times.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

using pglc::lifecycle::StatementEvent;
using pglc::lifecycle::StatementEventRecord;
using pglc::lifecycle::StatementRecord;
using pglc::storage::Item;
using pglc::storage::StatementFold;

namespace {

// Items cannot be copied (as in the queue): a batch owns them.
struct Batch {
  std::vector<std::unique_ptr<Item>> items;
  Batch& statement(std::string id, std::optional<std::int64_t> parsed_at = std::nullopt) {
    StatementRecord r;
    r.id = std::move(id);
    r.received_at = 100;
    r.parsed_at = parsed_at;
    items.push_back(std::make_unique<Item>(r));
    return *this;
  }
  Batch& event(std::string id, StatementEvent e, std::int64_t at) {
    items.push_back(std::make_unique<Item>(StatementEventRecord{std::move(id), e, at}));
    return *this;
  }
  std::vector<const Item*> pointers() const {
    std::vector<const Item*> out;
    for (const auto& i : items) out.push_back(i.get());
    return out;
  }
  const StatementRecord& st(std::size_t i) const { return std::get<StatementRecord>(*items[i]); }
  const StatementEventRecord& ev(std::size_t i) const {
    return std::get<StatementEventRecord>(*items[i]);
  }
};

}  // namespace

TEST_CASE("a statement's own parse and its events of the same batch make its row") {
  Batch items;
  items.statement("a", 110)
      .statement("b")
      .event("b", StatementEvent::parsed, 120)
      .event("b", StatementEvent::described, 130)
      .event("gone", StatementEvent::closed, 140);
  StatementFold fold;
  fold.prepare(items.pointers());
  const auto a = fold.times(items.st(0));
  CHECK(a.parsed == 110);
  CHECK_FALSE(a.described.has_value());
  const auto b = fold.times(items.st(1));
  CHECK(b.parsed == 120);
  CHECK(b.described == 130);
  CHECK(fold.folded(items.ev(2)));
  // Its statement was written by an earlier batch: an UPDATE, not folded.
  CHECK_FALSE(fold.folded(items.ev(4)));
}

TEST_CASE("the fold starts clean in every batch, with and without events") {
  StatementFold fold;
  Batch first;
  first.statement("a").event("a", StatementEvent::closed, 150);
  fold.prepare(first.pointers());
  CHECK(fold.times(first.st(0)).closed == 150);
  // Next batch: no events at all; a's close must not linger.
  Batch second;
  second.statement("a", 200);
  fold.prepare(second.pointers());
  const auto t = fold.times(second.st(0));
  CHECK(t.parsed == 200);
  CHECK_FALSE(t.closed.has_value());
  // A batch with only a late event of a.
  Batch third;
  third.event("a", StatementEvent::closed, 300);
  fold.prepare(third.pointers());
  CHECK_FALSE(fold.folded(third.ev(0)));
  // Many events: the table grows and still finds each.
  Batch many;
  for (int i = 0; i < 1000; ++i) {
    many.statement("s" + std::to_string(i))
        .event("s" + std::to_string(i), StatementEvent::parsed, 1000 + i);
  }
  fold.prepare(many.pointers());
  int found = 0;
  for (std::size_t i = 0; i < 1000; ++i) {
    found += fold.times(many.st(2 * i)).parsed == static_cast<std::int64_t>(1000 + i) &&
             fold.folded(many.ev(2 * i + 1));
  }
  CHECK(found == 1000);
}
