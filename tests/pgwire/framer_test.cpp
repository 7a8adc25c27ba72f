#include "pgwire/framer.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "sessions.hpp"

namespace pglc::pgwire::test {
namespace {

struct Seen {
  char type;
  std::uint32_t length;
  ByteVec body;
  std::size_t end;  // offset in the whole stream
  bool operator==(const Seen&) const = default;
};

struct Stream {
  const char* name;
  Direction direction;
  ByteVec bytes;
};

std::vector<Stream> all_streams() {
  return {{"psql fe", Direction::frontend, psql_frontend()},
          {"psql be", Direction::backend, psql_backend()},
          {"npgsql fe", Direction::frontend, npgsql_frontend()},
          {"npgsql be", Direction::backend, npgsql_backend()},
          {"pgjdbc fe", Direction::frontend, pgjdbc_frontend()},
          {"pgjdbc be", Direction::backend, pgjdbc_backend()},
          {"copy fe", Direction::frontend, copy_frontend()},
          {"copy be", Direction::backend, copy_backend()},
          {"big fe", Direction::frontend, big_frontend()},
          {"big be", Direction::backend, big_backend()}};
}

// The messages of a well-formed stream, found independently of the Framer.
struct Span {
  std::size_t start, end;
  char type;
  std::uint32_t length;
};
std::vector<Span> reference_split(const ByteVec& s) {
  std::vector<Span> out;
  for (std::size_t pos = 0; pos < s.size();) {
    std::uint32_t len = (std::uint32_t{s[pos + 1]} << 24) | (std::uint32_t{s[pos + 2]} << 16) |
                        (std::uint32_t{s[pos + 3]} << 8) | s[pos + 4];
    out.push_back({pos, pos + 1 + len, static_cast<char>(s[pos]), len});
    pos += 1 + len;
  }
  return out;
}

// What the framer must report when `s` arrives in chunks ending at `cuts`: a body that
// lies inside one chunk always (the header may have straddled); a body that straddles
// reads unless it is a DataRow/CopyData.
std::vector<Seen> expected(const Stream& st, const std::vector<std::size_t>& cuts) {
  std::vector<Seen> out;
  for (const Span& m : reference_split(st.bytes)) {
    bool straddles = false;
    for (std::size_t c : cuts) straddles |= c > m.start + 5 && c < m.end;
    ByteVec body(st.bytes.begin() + m.start + 5, st.bytes.begin() + m.end);
    if (straddles && !retains_body_across_reads(st.direction, m.type)) body.clear();
    out.push_back({m.type, m.length, std::move(body), m.end});
  }
  return out;
}

// Feeds `s` split at `cuts` (ascending offsets), each chunk in its own exact-size heap
// buffer so that ASan catches any read past a chunk.
std::vector<Seen> run(const Stream& st, const std::vector<std::size_t>& cuts,
                      std::uint32_t retain_limit = Framer::kDefaultRetainLimit) {
  Framer framer(st.direction, 1u << 20, retain_limit);
  std::vector<Seen> out;
  std::size_t base = 0;
  auto feed_until = [&](std::size_t stop) {
    auto chunk = std::make_unique<std::uint8_t[]>(stop - base);
    std::copy(st.bytes.begin() + base, st.bytes.begin() + stop, chunk.get());
    FrameError e =
        framer.feed(Bytes(chunk.get(), stop - base), [&](const Frame& f, std::size_t end) {
          REQUIRE(end <= stop - base);
          out.push_back({f.type, f.length, ByteVec(f.body.begin(), f.body.end()), base + end});
        });
    REQUIRE(e == FrameError::none);
    base = stop;
  };
  for (std::size_t c : cuts) feed_until(c);
  feed_until(st.bytes.size());
  CHECK(framer.at_boundary());
  return out;
}

TEST_CASE("framer: whole streams yield every message with its body, zero copy") {
  for (const auto& st : all_streams()) {
    const std::string name = st.name;
    CAPTURE(name);
    const auto seen = run(st, {});
    CHECK(seen == expected(st, {}));
    CHECK(seen.size() == reference_split(st.bytes).size());
  }
}

TEST_CASE("framer: whole-chunk frames point into the caller's buffer") {
  const ByteVec s = npgsql_frontend();
  Framer framer(Direction::frontend);
  std::size_t n = 0;
  framer.feed(Bytes(s), [&](const Frame& f, std::size_t end) {
    CHECK(f.complete());
    if (!f.body.empty()) {
      CHECK(f.body.data() >= s.data());
      CHECK(f.body.data() + f.body.size() == s.data() + end);
    }
    ++n;
  });
  CHECK(n == 13);
}

TEST_CASE("framer: two chunks, split at every byte offset") {
  for (const auto& st : all_streams()) {
    const std::string name = st.name;
    CAPTURE(name);
    for (std::size_t cut = 0; cut <= st.bytes.size(); ++cut) {
      CAPTURE(cut);
      REQUIRE(run(st, {cut}) == expected(st, {cut}));
    }
  }
}

TEST_CASE("framer: one byte at a time") {
  for (const auto& st : all_streams()) {
    const std::string name = st.name;
    CAPTURE(name);
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i < st.bytes.size(); ++i) cuts.push_back(i);
    const auto seen = run(st, cuts);
    CHECK(seen == expected(st, cuts));
    // Straddling DataRow/CopyData bodies are dropped, length still right.
    for (const auto& m : seen) {
      if (!retains_body_across_reads(st.direction, m.type) && m.length > 5) {
        CHECK(m.body.empty());
      }
    }
  }
}

TEST_CASE("framer: frontend Describe and Close are assembled, backend DataRow is not") {
  CHECK(retains_body_across_reads(Direction::frontend, 'D'));
  CHECK(retains_body_across_reads(Direction::frontend, 'C'));
  CHECK_FALSE(retains_body_across_reads(Direction::frontend, 'd'));
  CHECK_FALSE(retains_body_across_reads(Direction::backend, 'D'));
  CHECK_FALSE(retains_body_across_reads(Direction::backend, 'd'));
  CHECK(retains_body_across_reads(Direction::backend, 'T'));
  // A backend framer hands a DataRow split across reads over without its body.
  Framer legacy(Direction::backend);
  const ByteVec row = Msg('D').i16(1).param("abc").bytes();
  std::vector<std::size_t> sizes;
  legacy.feed(Bytes(row.data(), 7), [&](const Frame&, std::size_t) {});
  legacy.feed(Bytes(row.data() + 7, row.size() - 7),
              [&](const Frame& f, std::size_t) { sizes.push_back(f.body.size()); });
  CHECK(sizes == std::vector<std::size_t>{0});
}

TEST_CASE("framer: irregular chunkings coalesce and split messages alike") {
  for (const auto& st : all_streams()) {
    const std::string name = st.name;
    CAPTURE(name);
    for (std::size_t step : {2, 3, 7, 13, 64, 1000}) {
      std::vector<std::size_t> cuts;
      for (std::size_t i = step; i < st.bytes.size(); i += step + (i % 5)) cuts.push_back(i);
      CAPTURE(step);
      CHECK(run(st, cuts) == expected(st, cuts));
    }
  }
}

TEST_CASE("framer: retain_limit keeps only a prefix of straddling bodies") {
  const Stream st{"big fe", Direction::frontend, big_frontend()};
  const auto ref = reference_split(st.bytes);
  const std::size_t cut = 100;  // inside the long Query
  const auto seen = run(st, {cut}, 16);
  REQUIRE(seen.size() == ref.size());
  CHECK(seen[0].type == 'Q');
  CHECK(seen[0].length == ref[0].length);
  CHECK(seen[0].body == ByteVec(st.bytes.begin() + 5, st.bytes.begin() + 5 + 16));
  // Messages wholly inside a chunk are views: the limit does not apply to them.
  CHECK(seen[1].body.size() == ref[1].length - 4);
  CHECK(seen[1].end == ref[1].end);

  Framer framer(Direction::frontend, 1u << 20, 16);
  bool complete = true;
  framer.feed(Bytes(st.bytes.data(), cut), [](const Frame&, std::size_t) {});
  framer.feed(Bytes(st.bytes.data() + cut, ref[0].end - cut), [&](const Frame& f, std::size_t) {
    complete = f.complete();
    CHECK(f.body.size() == 16);
    CHECK(f.body_length() == ref[0].length - 4);
  });
  CHECK_FALSE(complete);
}

TEST_CASE("framer: malformed lengths are rejected before any body is read") {
  for (Direction dir : {Direction::frontend, Direction::backend}) {
    for (std::uint32_t bad : {0u, 1u, 3u}) {
      ByteVec msg = {'Q', 0, 0, 0, static_cast<std::uint8_t>(bad)};
      CAPTURE(bad);
      // Whole header in one chunk (fast path) and split header (slow path).
      Framer whole(dir);
      int frames = 0;
      auto header = std::make_unique<std::uint8_t[]>(5);
      std::copy(msg.begin(), msg.end(), header.get());
      CHECK(whole.feed(Bytes(header.get(), 5), [&](const Frame&, std::size_t) { ++frames; }) ==
            FrameError::length_too_small);
      Framer split(dir);
      CHECK(split.feed(Bytes(header.get(), 2), [&](const Frame&, std::size_t) { ++frames; }) ==
            FrameError::none);
      CHECK(split.feed(Bytes(header.get() + 2, 3), [&](const Frame&, std::size_t) { ++frames; }) ==
            FrameError::length_too_small);
      CHECK(frames == 0);
    }
    // A valid message, then one that claims more than max_message_size.
    ByteVec s = concat({Msg('S').bytes(), ByteVec{'Q', 0, 0, 0x10, 0x01, 'x'}});
    Framer framer(dir, 4096);
    std::vector<char> types;
    CHECK(framer.feed(Bytes(s), [&](const Frame& f, std::size_t) { types.push_back(f.type); }) ==
          FrameError::length_too_large);
    CHECK(types == std::vector<char>{'S'});
    Framer exact(dir, 4096);
    ByteVec ok = {'d', 0, 0, 0x10, 0x00};
    ok.resize(5 + 4096 - 4, 'z');
    CHECK(exact.feed(Bytes(ok), [&](const Frame& f, std::size_t) { CHECK(f.complete()); }) ==
          FrameError::none);
    CHECK(exact.at_boundary());
  }
  // The error sticks: nothing after it can be framed reliably.
  Framer sticky(Direction::frontend);
  const ByteVec bad = {'Q', 0, 0, 0, 2};
  CHECK(sticky.feed(Bytes(bad), [](const Frame&, std::size_t) {}) == FrameError::length_too_small);
  const ByteVec good = Msg('S').bytes();
  CHECK(sticky.feed(Bytes(good), [](const Frame&, std::size_t) { FAIL("no frame expected"); }) ==
        FrameError::length_too_small);

  Framer huge(Direction::backend);
  ByteVec lie = {'D', 0xff, 0xff, 0xff, 0xff, 0, 1};
  CHECK(huge.feed(Bytes(lie), [](const Frame&, std::size_t) { FAIL("no frame expected"); }) ==
        FrameError::length_too_large);
}

TEST_CASE("framer: a partial message is reported only when complete") {
  const ByteVec s = psql_backend();
  Framer framer(Direction::backend);
  int frames = 0;
  framer.feed(Bytes(s.data(), 3), [&](const Frame&, std::size_t) { ++frames; });
  CHECK_FALSE(framer.at_boundary());
  CHECK(frames == 0);
  framer.feed(Bytes(s.data() + 3, 6), [&](const Frame& f, std::size_t end) {
    ++frames;
    CHECK(f.type == 'R');
    CHECK(end == 6);
  });
  CHECK(frames == 1);
  CHECK(framer.at_boundary());
}

TEST_CASE("a callback returning false stops the scan after that message; the rest feeds later") {
  std::string stream;
  for (int i = 0; i < 5; ++i) stream += std::string("S\x00\x00\x00\x04", 5);
  const Bytes all(reinterpret_cast<const std::uint8_t*>(stream.data()), stream.size());
  Framer f(Direction::frontend);
  int seen = 0;
  std::size_t consumed = 0;
  auto stop_at_two = [&](const Frame&, std::size_t) { return ++seen < 2; };
  REQUIRE(f.feed(all, stop_at_two, &consumed) == FrameError::none);
  CHECK(seen == 2);
  CHECK(consumed == 10);
  CHECK(f.at_boundary());
  REQUIRE(f.feed(all.subspan(consumed), [&](const Frame&, std::size_t) { ++seen; }, &consumed) ==
          FrameError::none);
  CHECK(seen == 5);
  CHECK(consumed == 15);
}

}  // namespace
}  // namespace pglc::pgwire::test
