// --phase-timing sampled: which Parse and Bind messages are timed precisely, and the ring
// buffers the tracker keeps per session give a burst's memory back.
#include "lifecycle/timing_policy.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "lifecycle/ring.hpp"
#include "lifecycle/sql_analyzer.hpp"

using pglc::lifecycle::Ring;
using pglc::lifecycle::Timing;
using pglc::lifecycle::TimingMode;
using pglc::lifecycle::TimingPolicy;

namespace {

std::string hash_of(int i) {
  return pglc::lifecycle::sql_hash("SELECT " + std::to_string(i));
}

}  // namespace

TEST_CASE("precise and passive time everything alike") {
  TimingPolicy precise(TimingMode::precise, 0.0, 1), passive(TimingMode::passive, 1.0, 1);
  for (int i = 0; i < 3; ++i) {
    CHECK(precise.statement(hash_of(1)) == Timing::precise);
    CHECK(precise.execution(Timing::passive, false) == Timing::precise);
    CHECK(passive.statement(hash_of(i)) == Timing::passive);
    CHECK(passive.execution(Timing::precise, true) == Timing::passive);
  }
  CHECK(precise.simple() == Timing::precise);
  CHECK(passive.simple() == Timing::passive);
}

TEST_CASE("sampled: a text new to the session and its first execution are precise") {
  TimingPolicy p(TimingMode::sampled, 0.0, 42);
  CHECK(p.statement(hash_of(1)) == Timing::precise);
  CHECK(p.execution(Timing::precise, true) == Timing::precise);
  CHECK(p.execution(Timing::precise, false) == Timing::passive);
  // pgbench -M extended: the same text parsed again is not new.
  CHECK(p.statement(hash_of(1)) == Timing::passive);
  CHECK(p.execution(Timing::passive, true) == Timing::passive);
  CHECK(p.statement(hash_of(2)) == Timing::precise);
  CHECK(p.simple() == Timing::precise);
}

TEST_CASE("sampled: --precise-sample-rate of the rest, drawn per session") {
  TimingPolicy all(TimingMode::sampled, 1.0, 7);
  all.statement(hash_of(1));
  for (int i = 0; i < 100; ++i) {
    CHECK(all.statement(hash_of(1)) == Timing::precise);
    CHECK(all.execution(Timing::passive, false) == Timing::precise);
  }
  TimingPolicy quarter(TimingMode::sampled, 0.25, 7);
  int precise = 0;
  const int n = 100000;
  for (int i = 0; i < n; ++i)
    precise += quarter.execution(Timing::passive, false) == Timing::precise;
  CHECK(precise == doctest::Approx(n * 0.25).epsilon(0.02));
  // Two sessions with different seeds do not draw the same sequence.
  TimingPolicy a(TimingMode::sampled, 0.5, 1), b(TimingMode::sampled, 0.5, 2);
  int differ = 0;
  for (int i = 0; i < 64; ++i) {
    differ += a.execution(Timing::passive, false) != b.execution(Timing::passive, false);
  }
  CHECK(differ > 8);
}

TEST_CASE("sampled: the memory of texts is bounded, then starts again") {
  TimingPolicy p(TimingMode::sampled, 0.0, 3);
  for (int i = 0; i < static_cast<int>(TimingPolicy::kMaxTexts); ++i) {
    REQUIRE(p.statement(hash_of(i)) == Timing::precise);
  }
  CHECK(p.statement(hash_of(5)) == Timing::passive);
  CHECK(p.statement(hash_of(1 << 20)) == Timing::precise);  // the memory is full: cleared
  CHECK(p.statement(hash_of(5)) == Timing::precise);
}

TEST_CASE("Ring: a steady pipeline keeps its slots; a burst's are given back") {
  Ring<int> r;
  for (int round = 0; round < 100; ++round) {
    for (int i = 0; i < 200; ++i) r.push_back(i);
    while (!r.empty()) r.pop_front();
  }
  CHECK(r.capacity() == 256);
  for (int i = 0; i < 5000; ++i) r.push_back(i);
  const std::size_t burst = r.capacity();
  CHECK(burst >= 5000);
  for (int i = 0; i < 5000; ++i) REQUIRE(r.pop_front() == i);
  CHECK(r.capacity() == burst);  // the burst itself may come again
  r.push_back(1);
  r.push_back(2);
  CHECK(r.pop_front() == 1);
  CHECK(r.pop_front() == 2);
  CHECK(r.capacity() == Ring<int>::kKeep);  // a small batch after it: the memory goes
  r.push_back(3);
  CHECK(r.front() == 3);
}

TEST_CASE("Ring: a popped element leaves nothing behind in its slot") {
  // The tracker's entries hold shared statements and executions: a slot that kept a
  // reference would keep a finished execution alive until the slot is reused.
  Ring<std::shared_ptr<int>> r;
  std::weak_ptr<int> watch;
  {
    auto p = std::make_shared<int>(7);
    watch = p;
    r.push_back(std::move(p));
    r.push_back(std::make_shared<int>(8));
  }
  {
    const std::shared_ptr<int> out = r.pop_front();
    CHECK(*out == 7);
    CHECK(out.use_count() == 1);
  }
  CHECK(watch.expired());
  CHECK(*r.front() == 8);
}

TEST_CASE("Ring: push_slot appends the slot as the last pop left it, in order") {
  Ring<std::shared_ptr<int>> r;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 40; ++i) {  // past the first capacity: grow() keeps the order
      std::shared_ptr<int>& slot = r.push_slot();
      CHECK(slot == nullptr);  // value-initialized or moved from
      slot = std::make_shared<int>(i);
      CHECK(&r.back() == &slot);
    }
    CHECK(r.size() == 40);
    for (int i = 0; i < 40; ++i) REQUIRE(*r.pop_front() == i);
    CHECK(r.empty());
  }
}
