#include "storage/text_util.hpp"

#include <doctest/doctest.h>

#include "storage/bounded_queue.hpp"

using namespace pglc::storage;

TEST_CASE("cut_utf8 never splits a character") {
  CHECK(cut_utf8("abc", 10) == "abc");
  CHECK(cut_utf8("abcdef", 3) == "abc");
  const std::string e = "a\xC3\xA9z";  // "aéz"
  CHECK(cut_utf8(e, 2) == "a");
  CHECK(cut_utf8(e, 3) == "a\xC3\xA9");
  const std::string euro = "\xE2\x82\xAC\xE2\x82\xAC";  // "€€"
  CHECK(cut_utf8(euro, 4) == "\xE2\x82\xAC");
  CHECK(cut_utf8(euro, 2) == "");
}

TEST_CASE("invalid UTF-8 and NUL are repaired, valid text is untouched") {
  CHECK(is_clean_utf8("SELECT 'é€😀'"));
  CHECK_FALSE(is_clean_utf8(std::string("a\0b", 3)));
  CHECK_FALSE(is_clean_utf8("caf\xE9"));       // Latin-1 é
  CHECK_FALSE(is_clean_utf8("\xC0\xAF"));      // overlong
  CHECK_FALSE(is_clean_utf8("\xED\xA0\x80"));  // surrogate
  std::string out;
  append_clean_utf8(out, std::string("caf\xE9 \0!", 7));
  CHECK(out == "caf\xEF\xBF\xBD !");
}

TEST_CASE("is_clean_utf8 finds a bad byte at every position of a long ASCII text") {
  const std::string ascii = "0193a5c2-7d1e-7abc-8def-0123456789ab select 1";
  CHECK(is_clean_utf8(ascii));
  for (std::size_t i = 0; i < ascii.size(); ++i) {
    std::string s = ascii;
    s[i] = '\0';
    CHECK_MESSAGE(!is_clean_utf8(s), "NUL at ", i);
    s[i] = '\xE9';
    CHECK_MESSAGE(!is_clean_utf8(s), "Latin-1 at ", i);
    s = ascii;
    s.replace(i, 1, "\xC3\xA9");  // a valid two-byte character in the middle of the words
    CHECK_MESSAGE(is_clean_utf8(s), "UTF-8 at ", i);
  }
  CHECK(is_clean_utf8(std::string(64, '\x7F')));
  CHECK(is_clean_utf8(std::string(64, '\x01')));
}

TEST_CASE("COPY text escaping and timestamps") {
  std::string out;
  append_copy_text(out, "a\tb\nc\\d\re");
  CHECK(out == "a\\tb\\nc\\\\d\\re");
  out.clear();
  append_timestamp(out, 1'800'000'000'123'456);
  CHECK(out == "2027-01-15 08:00:00.123456+00");
  out.clear();
  append_timestamp(out, -1);
  CHECK(out == "1969-12-31 23:59:59.999999+00");
}

TEST_CASE("BoundedQueue: exact capacity, FIFO, any capacity") {
  BoundedQueue<int> q(3);
  int v[5] = {1, 2, 3, 4, 5};
  CHECK(q.try_push(&v[0]));
  CHECK(q.try_push(&v[1]));
  CHECK(q.try_push(&v[2]));
  CHECK_FALSE(q.try_push(&v[3]));
  CHECK(q.has_item());
  CHECK(q.try_pop() == &v[0]);
  CHECK(q.try_push(&v[3]));
  CHECK(q.try_pop() == &v[1]);
  CHECK(q.try_pop() == &v[2]);
  CHECK(q.try_pop() == &v[3]);
  CHECK(q.try_pop() == nullptr);
  CHECK_FALSE(q.has_item());
  for (int round = 0; round < 10; ++round) {  // wraps around many times
    CHECK(q.try_push(&v[4]));
    CHECK(q.try_pop() == &v[4]);
  }
}
