// The tracker's block pool and the id writer that reuses a buffer.
#include "lifecycle/block_pool.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <set>
#include <string>

#include "lifecycle/uuid.hpp"

using pglc::lifecycle::BlockPool;
using pglc::lifecycle::PoolAllocator;

TEST_CASE("a freed block of the pool's size serves the next allocation") {
  BlockPool pool;
  void* a = pool.take(64);
  pool.give(a, 64);
  void* again = pool.take(64);
  CHECK(again == a);
  pool.give(again, 64);
  void* other = pool.take(32);  // another size: not the pool's
  pool.give(other, 32);
  void* b = pool.take(64);
  CHECK(b != other);
  pool.give(b, 64);
}

TEST_CASE("allocate_shared through the pool reuses the block and destroys the object") {
  BlockPool pool;
  struct Counted {
    int* alive;
    explicit Counted(int* a) : alive(a) { ++*alive; }
    ~Counted() { --*alive; }
  };
  int alive = 0;
  const void* first = nullptr;
  {
    auto p = std::allocate_shared<Counted>(PoolAllocator<Counted>(pool), &alive);
    first = p.get();
    CHECK(alive == 1);
  }
  CHECK(alive == 0);
  auto q = std::allocate_shared<Counted>(PoolAllocator<Counted>(pool), &alive);
  CHECK(q.get() == first);
  CHECK(alive == 1);
}

TEST_CASE("uuid_v7_into writes a fresh id into the same buffer") {
  std::string id = pglc::lifecycle::uuid_v7();
  const char* buffer = id.data();
  std::set<std::string> seen{id};
  for (int i = 0; i < 100; ++i) {
    pglc::lifecycle::uuid_v7_into(id);
    CHECK(id.data() == buffer);
    REQUIRE(id.size() == 36);
    CHECK(id[14] == '7');
    CHECK(id[8] == '-');
    CHECK(seen.insert(id).second);
  }
}
