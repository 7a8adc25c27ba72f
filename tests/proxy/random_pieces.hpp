// A megabyte of letters, and a writer that sends it in pieces of random size (1 to 3000
// bytes), now and then yielding so that the reader drains the socket: the reads' waiting
// path gets taken as well as their full reads.
#pragma once

#include <algorithm>
#include <cstddef>
#include <random>
#include <string>
#include <thread>

namespace pglc::test {

inline std::string random_letters(std::size_t size) {
  std::string s;
  std::mt19937 rng(7);
  while (s.size() < size) s.push_back(static_cast<char>('a' + rng() % 26));
  return s;
}

// `write(data, n)` sends one piece, false on failure (which ends the writing).
template <class Write>
void write_in_random_pieces(const std::string& s, Write&& write) {
  std::mt19937 pieces(11);
  std::size_t at = 0;
  while (at < s.size()) {
    const std::size_t n = std::min<std::size_t>(1 + pieces() % 3000, s.size() - at);
    if (!write(s.data() + at, n)) return;
    at += n;
    if (pieces() % 8 == 0) std::this_thread::yield();
  }
}

}  // namespace pglc::test
