// The SQLite store keys rows by 60 bits of each UUIDv7: they must never repeat within a
// proxy, and must sort as the records were made.
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <thread>
#include <vector>

#include "lifecycle/clock.hpp"
#include "lifecycle/uuid.hpp"
#include "storage/sqlite_id.hpp"

using namespace pglc;

TEST_CASE("ids from many threads at once are distinct and ordered per thread") {
  constexpr int kThreads = 4, kPerThread = 50000;  // far more than 4,096 per millisecond
  std::vector<std::vector<std::int64_t>> ids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&ids, t] {
      ids[t].reserve(kPerThread);
      for (int i = 0; i < kPerThread; ++i)
        ids[t].push_back(storage::sqlite_id(lifecycle::uuid_v7()));
    });
  }
  for (auto& th : threads) th.join();
  std::vector<std::int64_t> all;
  for (const auto& v : ids) {
    CHECK(std::is_sorted(v.begin(), v.end()));
    CHECK(std::adjacent_find(v.begin(), v.end()) == v.end());
    all.insert(all.end(), v.begin(), v.end());
  }
  std::sort(all.begin(), all.end());
  CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());
}

TEST_CASE("an id's time bounds it: retention by id range deletes what is older") {
  const lifecycle::WallMicros now = lifecycle::to_wall(lifecycle::now());
  const std::int64_t id = storage::sqlite_id(lifecycle::uuid_v7());
  CHECK(id >= storage::sqlite_id_floor(now - 1000));
  CHECK(id < storage::sqlite_id_floor(now + 2000));
  // Ids of the past made for tests follow the same rule.
  const lifecycle::WallMicros day = 86'400'000'000;
  const std::int64_t old = storage::sqlite_id(lifecycle::uuid_v7_with((now - day) / 1000, 7));
  CHECK(old < storage::sqlite_id_floor(now - day + 1000));
  CHECK(old >= storage::sqlite_id_floor(now - day - 1000));
  // Not a UUIDv7: still an id (a write never fails on it), a stable one.
  CHECK(storage::sqlite_id("not-a-uuid") == storage::sqlite_id("not-a-uuid"));
  CHECK(storage::sqlite_id("not-a-uuid") >= 0);
}

TEST_CASE("an id's digits: either case gives the same id, any other character a hashed one") {
  const std::string u = lifecycle::uuid_v7_with(1767225600000, 0x12345);  // 2026-01-01
  std::string upper = u;
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  const std::int64_t id = storage::sqlite_id(u);
  CHECK(storage::sqlite_id(upper) == id);
  // (milliseconds since 2025-01-01) << 22 | the sequence in counter and rand_b's first bits.
  CHECK(id == ((std::int64_t{1767225600000} - storage::kSqliteIdEpochMs) << 22 | 0x12345));
  for (const std::size_t at : {0u, 7u, 9u, 12u, 15u, 17u, 19u, 22u}) {
    for (const char c : {'g', 'G', ':', '/', '@', '`', ' ', '\xff'}) {
      std::string bad = u;
      bad[at] = c;
      CAPTURE(bad);
      // Not parsed as digits (which would give an id of some other time): hashed whole.
      CHECK(storage::sqlite_id(bad) == storage::sqlite_id_detail::hashed(bad));
      CHECK(storage::sqlite_id(bad) != id);
      CHECK(storage::sqlite_id(bad) >= 0);
    }
  }
}
