#include "proxy/flush_planner.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "pgwire/framer.hpp"
#include "tests/proxy/frontend_messages.hpp"

using pglc::proxy::FlushPlanner;

namespace {

using namespace pglc::proxy::test;

// Frames `chunk` with the real framer and plans it, as the relay does.
std::vector<std::size_t> plan(FlushPlanner& p, const std::string& chunk,
                              pglc::pgwire::Framer& framer) {
  p.begin();
  auto err = framer.feed(
      pglc::pgwire::Bytes(reinterpret_cast<const std::uint8_t*>(chunk.data()), chunk.size()),
      [&](const pglc::pgwire::Frame& f, std::size_t end) { p.on_frame(f.type, end); });
  REQUIRE(err == pglc::pgwire::FrameError::none);
  return p.finish();
}

std::vector<std::size_t> plan(const std::string& chunk) {
  FlushPlanner p;
  pglc::pgwire::Framer framer(pglc::pgwire::Direction::frontend);
  return plan(p, chunk, framer);
}

// What the backend receives: the chunk with a Flush after each planned offset.
std::string apply(const std::string& chunk, const std::vector<std::size_t>& offsets) {
  std::string out;
  std::size_t prev = 0;
  for (auto o : offsets) {
    out += chunk.substr(prev, o - prev) + flush();
    prev = o;
  }
  return out + chunk.substr(prev);
}

}  // namespace

TEST_CASE("extended query batch: Flush after Parse and Bind, not before Sync") {
  std::string chunk = parse("", "SELECT 1") + bind("", "") + describe_portal() + execute() + sync();
  auto offsets = plan(chunk);
  std::size_t after_parse = parse("", "SELECT 1").size();
  std::size_t after_bind = after_parse + bind("", "").size();
  CHECK(offsets == std::vector<std::size_t>{after_parse, after_bind});
  CHECK(apply(chunk, offsets) == parse("", "SELECT 1") + flush() + bind("", "") + flush() +
                                     describe_portal() + execute() + sync());
}

TEST_CASE("the client's own Flush or Sync right after Parse/Bind needs no extra Flush") {
  CHECK(plan(parse("s1", "SELECT 1") + sync()).empty());
  CHECK(plan(parse("s1", "SELECT 1") + flush()).empty());
  CHECK(plan(bind("", "s1") + flush() + execute() + sync()).empty());
  CHECK(plan(parse("a", "SELECT 1") + parse("b", "SELECT 2") + sync()) ==
        std::vector<std::size_t>{parse("a", "SELECT 1").size()});
}

TEST_CASE("Parse or Bind that ends the chunk gets a Flush; other messages never do") {
  std::string p = parse("", "SELECT 1");
  CHECK(plan(p) == std::vector<std::size_t>{p.size()});
  CHECK(plan(msg('Q', cstr("SELECT 1"))).empty());
  CHECK(plan(describe_portal() + execute() + sync()).empty());
  CHECK(plan("").empty());
}

TEST_CASE("a Parse split across chunks is flushed in the chunk where it completes") {
  std::string chunk = parse("", "SELECT 'a long enough statement'") + sync();
  FlushPlanner planner;
  pglc::pgwire::Framer framer(pglc::pgwire::Direction::frontend);
  for (std::size_t cut = 1; cut < chunk.size(); ++cut) {
    CAPTURE(cut);
    auto first = plan(planner, chunk.substr(0, cut), framer);
    auto second = plan(planner, chunk.substr(cut), framer);
    std::size_t parse_end = chunk.size() - sync().size();
    if (cut < parse_end) {
      CHECK(first.empty());
      CHECK(second.empty());  // completes next to its Sync
    } else {
      // Parse completed in the first chunk with no next message in sight.
      CHECK(first == std::vector<std::size_t>{parse_end});
      CHECK(second.empty());
    }
  }
}

TEST_CASE("planner state resets between chunks") {
  FlushPlanner planner;
  pglc::pgwire::Framer framer(pglc::pgwire::Direction::frontend);
  auto a = plan(planner, parse("", "SELECT 1"), framer);
  CHECK(a.size() == 1);
  auto b = plan(planner, sync(), framer);
  CHECK(b.empty());
}

TEST_CASE("sampled timing: only the Parse/Bind the tracker times get a Flush") {
  FlushPlanner p;
  const std::string chunk = parse("", "SELECT 1") + bind("", "") + execute() + sync();
  const std::size_t after_parse = parse("", "SELECT 1").size();
  const std::size_t after_bind = after_parse + bind("", "").size();
  p.begin();
  p.on_frame('P', after_parse, false);
  p.on_frame('B', after_bind, true);
  p.on_frame('E', after_bind + execute().size(), false);
  p.on_frame('S', chunk.size(), false);
  CHECK(p.finish() == std::vector<std::size_t>{after_bind});
  p.begin();
  p.on_frame('P', after_parse, false);
  p.on_frame('B', after_bind, false);
  CHECK(p.finish().empty());
}

TEST_CASE("backpressure: reading pauses after a message the server would keep unanswered") {
  FlushPlanner p;
  // An Execute ends the forwarded part (the rest waits for answers): a Flush goes after it
  // in every mode, once, also where a timed Bind's Flush already goes.
  p.begin();
  p.on_frame('B', 10, false);
  p.on_frame('E', 20, false);
  p.flush_before_pause(20, 'E');
  CHECK(p.finish() == std::vector<std::size_t>{20});
  p.begin();
  p.on_frame('B', 10, true);
  p.flush_before_pause(10, 'B');
  CHECK(p.finish() == std::vector<std::size_t>{10});
  // After a Sync or the client's own Flush the server answers anyway.
  for (char last : {'S', 'H', 'Q'}) {
    p.begin();
    p.on_frame(last, 5, false);
    p.flush_before_pause(5, last);
    CHECK(p.finish().empty());
  }
}
