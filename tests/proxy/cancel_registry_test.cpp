#include "proxy/cancel_registry.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

using pglc::proxy::CancelKey;
using pglc::proxy::CancelRegistry;

TEST_CASE("a cancel reaches the owner of the (pid, key) pair only") {
  CancelRegistry r;
  int a = 0, b = 0, owner_a = 0, owner_b = 0;
  r.add({100, 7}, &owner_a, [&](pglc::lifecycle::MonoTime) { ++a; });
  r.add({101, 7}, &owner_b, [&](pglc::lifecycle::MonoTime) { ++b; });
  CHECK(r.size() == 2);
  CHECK(r.notify({100, 7}, pglc::lifecycle::now()));
  CHECK(a == 1);
  CHECK(b == 0);
  CHECK_FALSE(r.notify({100, 8}, pglc::lifecycle::now()));  // right pid, wrong key
  CHECK_FALSE(r.notify({102, 7}, pglc::lifecycle::now()));
  CHECK(a == 1);
  CHECK(b == 0);
}

TEST_CASE("remove only drops the entry its owner registered") {
  CancelRegistry r;
  int old_owner = 0, new_owner = 0, calls = 0;
  r.add({5, 1}, &old_owner, [&](pglc::lifecycle::MonoTime) {});
  // The same key registered again by another session (pid reuse): it now owns it.
  r.add({5, 1}, &new_owner, [&](pglc::lifecycle::MonoTime) { ++calls; });
  r.remove({5, 1}, &old_owner);
  CHECK(r.size() == 1);
  CHECK(r.notify({5, 1}, pglc::lifecycle::now()));
  CHECK(calls == 1);
  r.remove({5, 1}, &new_owner);
  CHECK(r.size() == 0);
  CHECK_FALSE(r.notify({5, 1}, pglc::lifecycle::now()));
}

TEST_CASE("the notify callback may touch the registry (called outside the lock)") {
  CancelRegistry r;
  int owner = 0;
  r.add({9, 9}, &owner, [&](pglc::lifecycle::MonoTime) { r.remove({9, 9}, &owner); });
  CHECK(r.notify({9, 9}, pglc::lifecycle::now()));
  CHECK(r.size() == 0);
}

TEST_CASE("concurrent add/notify/remove from several threads") {
  CancelRegistry r;
  std::atomic<int> hits{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i) {
        CancelKey k{t * 10000 + i, i};
        r.add(k, &hits, [&](pglc::lifecycle::MonoTime) { ++hits; });
        CHECK(r.notify(k, pglc::lifecycle::now()));
        r.remove(k, &hits);
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(hits == 4000);
  CHECK(r.size() == 0);
}
