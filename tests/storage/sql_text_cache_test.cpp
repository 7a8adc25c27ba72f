// SqlTextCache: which texts the writer must INSERT in a transaction. The hashes are 15
// random base64url characters, the shape of sql_texts.hash (lifecycle::sql_hash).
#include "storage/sql_text_cache.hpp"

#include <doctest/doctest.h>

#include <random>
#include <string>

using pglc::storage::kTextTouchUs;
using pglc::storage::SqlTextCache;

namespace {

std::string hash_of(int i) {
  static constexpr char kBase64Url[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::mt19937_64 bits(static_cast<std::uint64_t>(i) * 0x9e3779b97f4a7c15ull + 1);
  std::string out;
  std::uint64_t v = bits();
  for (int d = 0; d < 15; ++d, v >>= 6) {
    if (d == 10) v = bits();
    out.push_back(kBase64Url[v & 0x3f]);
  }
  return out;
}

constexpr std::int64_t kT0 = 1'764'000'000'000'000;  // wall microseconds

}  // namespace

TEST_CASE("a text is written once per transaction and not again while it is fresh") {
  SqlTextCache c;
  const std::string h = hash_of(1);
  CHECK(c.stage(h, kT0));
  CHECK_FALSE(c.stage(h, kT0 + 1));  // the same transaction writes it already
  c.commit();
  CHECK_FALSE(c.stage(h, kT0 + 2));
  CHECK_FALSE(c.stage(h, kT0 + kTextTouchUs - 1));
  // Used again a touch interval after the last_used written: written again, and that
  // time counts from then on.
  CHECK(c.stage(h, kT0 + kTextTouchUs));
  c.commit();
  CHECK_FALSE(c.stage(h, kT0 + 2 * kTextTouchUs - 1));
  CHECK(c.stage(h, kT0 + 2 * kTextTouchUs));
}

TEST_CASE("a rolled back transaction's texts are written again") {
  SqlTextCache c;
  const std::string a = hash_of(1), b = hash_of(2);
  CHECK(c.stage(a, kT0));
  c.commit();
  CHECK(c.stage(b, kT0));
  c.rollback();
  CHECK(c.stage(b, kT0));        // its INSERT was lost with the transaction
  CHECK_FALSE(c.stage(a, kT0));  // committed before: still known
  c.commit();
  CHECK_FALSE(c.stage(b, kT0));
}

TEST_CASE("clear forgets every text") {
  SqlTextCache c;
  for (int i = 0; i < 100; ++i) CHECK(c.stage(hash_of(i), kT0));
  c.commit();
  c.clear();
  for (int i = 0; i < 100; ++i) CHECK(c.stage(hash_of(i), kT0));
}

TEST_CASE("past its capacity the cache forgets the texts used longest ago, and stays right") {
  SqlTextCache c;
  // Far more texts than the table holds, in batches as the writer commits them.
  constexpr int kTexts = 200'000, kBatch = 2000;
  for (int i = 0; i < kTexts; ++i) {
    REQUIRE(c.stage(hash_of(i), kT0 + i));  // a new text is always written
    if (i % kBatch == kBatch - 1) c.commit();
  }
  c.commit();
  // The latest batch is remembered whole (a set evicts its oldest way first)...
  int known_recent = 0;
  for (int i = kTexts - kBatch; i < kTexts; ++i)
    known_recent += c.stage(hash_of(i), kT0 + i) ? 0 : 1;
  CHECK(known_recent == kBatch);
  // ...while most of the first ones were forgotten; forgetting only costs an upsert.
  int written_again = 0;
  for (int i = 0; i < kBatch; ++i) written_again += c.stage(hash_of(i), kT0 + kTexts) ? 1 : 0;
  CHECK(written_again > kBatch * 9 / 10);
  c.rollback();
}
