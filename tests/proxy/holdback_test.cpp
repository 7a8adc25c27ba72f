#include "proxy/holdback.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "pgwire/framer.hpp"
#include "proxy/flush_planner.hpp"
#include "tests/proxy/frontend_messages.hpp"

using pglc::proxy::FlushPlanner;
using pglc::proxy::HoldBack;

namespace {

using namespace pglc::proxy::test;
std::string query(const std::string& sql) {
  return msg('Q', cstr(sql));
}

// Backend messages.
std::string parse_complete() {
  return msg('1');
}
std::string bind_complete() {
  return msg('2');
}
std::string row_description() {
  return msg('T', std::string("\0\x01", 2) + cstr("x") + std::string(18, '\0'));
}
std::string data_row() {
  return msg('D', std::string("\0\x01\0\0\0\x01", 6) + "1");
}
std::string command_complete() {
  return msg('C', cstr("SELECT 1"));
}
std::string ready(char status = 'I') {
  return msg('Z', std::string(1, status));
}
std::string error() {
  return msg('E', "SERROR" + std::string(1, '\0') + "C42P01" + std::string(1, '\0') +
                      "Mrelation does not exist" + std::string(2, '\0'));
}
std::string copy_in_response() {
  return msg('G', std::string("\0\0\0", 3));
}

const std::uint8_t* bytes(const std::string& s) {
  return reinterpret_cast<const std::uint8_t*>(s.data());
}

// One session's relay as far as hold-back is concerned: the frontend chunks are framed
// and planned as up_on_read does, backend chunks framed as down_chunk does.
struct Relay {
  pglc::pgwire::Ledger ledger = logged_in();
  HoldBack hb{ledger};

  // The ledger of a session whose login ended with ReadyForQuery.
  static pglc::pgwire::Ledger logged_in() {
    pglc::pgwire::Ledger l;
    const std::string z = ready();
    l.on_backend(pglc::pgwire::Frame{'Z', 5, pglc::pgwire::Bytes(bytes(z) + 5, 1)});
    return l;
  }
  FlushPlanner planner;
  pglc::pgwire::Framer fe{pglc::pgwire::Direction::frontend};
  pglc::pgwire::Framer be{pglc::pgwire::Direction::backend};

  // Returns how many Flush messages the proxy injects into this chunk.
  std::size_t client_sends(const std::string& chunk) {
    planner.begin();
    hb.begin_chunk();
    auto err = fe.feed(pglc::pgwire::Bytes(bytes(chunk), chunk.size()),
                       [&](const pglc::pgwire::Frame& f, std::size_t end) {
                         planner.on_frame(f.type, end);
                         ledger.on_frontend(f.type);
                         hb.on_frontend(f.type);
                       });
    REQUIRE(err == pglc::pgwire::FrameError::none);
    return planner.finish().size();
  }

  // Whether the relay may hold a backend chunk that ends here.
  bool server_sends(const std::string& chunk) {
    auto err = be.feed(pglc::pgwire::Bytes(bytes(chunk), chunk.size()),
                       [&](const pglc::pgwire::Frame& f, std::size_t) {
                         ledger.on_backend(f);
                         hb.on_backend(f.type);
                       });
    REQUIRE(err == pglc::pgwire::FrameError::none);
    const bool held = hb.holdable();
    if (!held) hb.written();  // the relay writes all it read so far
    return held;
  }
};

}  // namespace

TEST_CASE("pgbench -M extended: ParseComplete and BindComplete are held, the result is not") {
  Relay r;
  for (int i = 0; i < 3; ++i) {
    CHECK(r.client_sends(parse("", "SELECT 1") + bind("", "") + describe_portal() + execute() +
                         sync()) == 2);
    CHECK(r.server_sends(parse_complete()));
    CHECK(r.server_sends(bind_complete()));
    CHECK_FALSE(r.server_sends(row_description() + data_row() + command_complete() + ready()));
    CHECK(r.hb.outstanding() == 0);
  }
  // Both answers in one read still end in a held message.
  CHECK(r.client_sends(parse("", "SELECT 1") + bind("", "") + execute() + sync()) == 2);
  CHECK(r.server_sends(parse_complete() + bind_complete()));
  CHECK_FALSE(r.server_sends(command_complete() + ready()));
  CHECK_FALSE(r.hb.unsure());
}

TEST_CASE("Npgsql batch: P/B/D/E three times and one Sync") {
  Relay r;
  std::string batch;
  for (int i = 0; i < 3; ++i)
    batch +=
        parse("", "SELECT " + std::to_string(i)) + bind("", "") + describe_portal() + execute();
  CHECK(r.client_sends(batch + sync()) == 6);
  for (int i = 0; i < 3; ++i) {
    CHECK(r.server_sends(parse_complete()));
    CHECK(r.server_sends(bind_complete()));
    // Without the proxy these would wait for the Sync; a chunk ending in them is not held.
    CHECK_FALSE(r.server_sends(row_description() + data_row() + command_complete()));
  }
  CHECK_FALSE(r.server_sends(ready()));
  CHECK(r.hb.outstanding() == 0);
  CHECK_FALSE(r.hb.unsure());
}

TEST_CASE("pgjdbc named pipeline: Parse of S_1 once, then Bind/Execute reusing it") {
  Relay r;
  CHECK(r.client_sends(parse("S_1", "SELECT $1") + bind("", "S_1") + describe_portal() + execute() +
                       bind("", "S_1") + execute() + sync()) == 3);
  CHECK(r.server_sends(parse_complete()));
  CHECK(r.server_sends(bind_complete()));
  CHECK_FALSE(r.server_sends(row_description() + data_row() + command_complete()));
  CHECK(r.server_sends(bind_complete()));
  CHECK_FALSE(r.server_sends(data_row() + command_complete() + ready()));
  // The next round, sent in two reads: the Bind ends the first, its Flush is injected.
  CHECK(r.client_sends(bind("", "S_1")) == 1);
  CHECK(r.client_sends(execute() + sync()) == 0);
  CHECK(r.server_sends(bind_complete()));
  CHECK_FALSE(r.server_sends(data_row() + command_complete() + ready()));
  CHECK_FALSE(r.hb.unsure());
}

TEST_CASE("the client's own Flush after Parse: its answer is never held") {
  Relay r;
  CHECK(r.client_sends(parse("s", "SELECT 1") + flush()) == 0);
  CHECK_FALSE(r.server_sends(parse_complete()));
  // Parse + Bind with no Flush and no Sync: nothing guarantees more backend bytes (the
  // client may send its Flush later), so nothing is held.
  CHECK(r.client_sends(parse("t", "SELECT 2") + bind("", "t")) == 2);
  CHECK_FALSE(r.server_sends(parse_complete()));
  CHECK_FALSE(r.server_sends(bind_complete()));
  CHECK(r.client_sends(flush()) == 0);
  // A Flush opening the next read does not undo the Flush injected at the previous end,
  // but with no Sync after the Parse its answer is still not held.
  CHECK(r.client_sends(parse("u", "SELECT 3")) == 1);
  CHECK(r.client_sends(flush()) == 0);
  CHECK_FALSE(r.server_sends(parse_complete()));
  CHECK(r.client_sends(sync()) == 0);
  CHECK_FALSE(r.server_sends(ready()));
  CHECK(r.hb.outstanding() == 0);
  CHECK_FALSE(r.hb.unsure());
}

TEST_CASE("an error in the middle of a pipeline: the skipped messages' entries are dropped") {
  Relay r;
  // Three epochs in one read; the first fails at Bind, so its Describe/Execute and the
  // BindComplete never come.
  std::string round = parse("", "SELECT x") + bind("", "") + describe_portal() + execute() + sync();
  CHECK(r.client_sends(round + round + round) == 6);
  CHECK(r.server_sends(parse_complete()));
  CHECK_FALSE(r.server_sends(error()));
  CHECK_FALSE(r.server_sends(ready('I')));
  // Epoch 1 fails at Parse: its Bind's entry is dropped with the ReadyForQuery.
  CHECK_FALSE(r.server_sends(error() + ready('I')));
  // Epoch 2 is answered normally and matched to its own Parse and Bind.
  CHECK(r.server_sends(parse_complete()));
  CHECK(r.server_sends(bind_complete()));
  CHECK_FALSE(r.server_sends(row_description() + data_row() + command_complete() + ready()));
  CHECK(r.hb.outstanding() == 0);
  CHECK_FALSE(r.hb.unsure());
  // And the session goes on holding.
  CHECK(r.client_sends(round) == 2);
  CHECK(r.server_sends(parse_complete()));
}

TEST_CASE("states where the counting could drift stop holding for good") {
  SUBCASE("COPY") {
    Relay r;
    CHECK(r.client_sends(parse("", "COPY t FROM STDIN") + bind("", "") + execute() + sync()) == 2);
    CHECK(r.server_sends(parse_complete()));
    CHECK_FALSE(r.server_sends(bind_complete() + copy_in_response()));
    CHECK(r.hb.unsure());
  }
  SUBCASE("a Query amid unsynced extended messages") {
    Relay r;
    CHECK(r.client_sends(parse("", "SELECT 1") + query("SELECT 2")) == 1);
    CHECK(r.hb.unsure());
    CHECK_FALSE(r.server_sends(parse_complete()));
  }
  SUBCASE("an answer that matches no forwarded message") {
    Relay r;
    CHECK(r.client_sends(parse("", "SELECT 1") + execute() + sync()) == 1);
    CHECK_FALSE(r.server_sends(bind_complete()));
    CHECK(r.hb.unsure());
  }
  SUBCASE("more Parse/Bind outstanding than the ring holds") {
    Relay r;
    std::string many;
    for (std::size_t i = 0; i <= HoldBack::kCapacity; ++i) many += bind("", "s");
    r.client_sends(many + sync());
    CHECK(r.hb.unsure());
    CHECK_FALSE(r.server_sends(bind_complete()));
  }
  Relay r;
  // A plain Query between syncs is counted, not a reason to stop.
  CHECK(r.client_sends(query("SELECT 1")) == 0);
  CHECK_FALSE(r.server_sends(row_description() + data_row() + command_complete() + ready()));
  CHECK(r.client_sends(parse("", "SELECT 1") + bind("", "") + execute() + sync()) == 2);
  CHECK(r.server_sends(parse_complete()));
  CHECK_FALSE(r.hb.unsure());
}

TEST_CASE("pipelined epochs: a ReadyForQuery is never held with the next epoch's answer") {
  Relay r;
  std::string round = parse("", "SELECT 1") + bind("", "") + describe_portal() + execute() + sync();
  CHECK(r.client_sends(round + round) == 4);
  CHECK(r.server_sends(parse_complete()));
  CHECK(r.server_sends(bind_complete()));
  // Without the proxy the client would have the first result now: the server flushes it
  // with ReadyForQuery.
  CHECK_FALSE(r.server_sends(row_description() + data_row() + command_complete() + ready() +
                             parse_complete()));
  CHECK(r.server_sends(bind_complete()));
  CHECK_FALSE(r.server_sends(row_description() + data_row() + command_complete() + ready()));
  CHECK_FALSE(r.hb.unsure());
}

TEST_CASE("messages the server flushes itself are never held") {
  Relay r;
  CHECK(r.client_sends(parse("", "SELECT 1") + bind("", "") + execute() + sync()) == 2);
  // A NoticeResponse went out at once; the BindComplete read with it is not held.
  CHECK_FALSE(r.server_sends(parse_complete() + msg('N', "SNOTICE" + std::string(2, '\0')) +
                             bind_complete()));
  CHECK_FALSE(r.server_sends(command_complete() + ready()));
}

TEST_CASE("the client's own Flush in an epoch: later answers of that epoch are not held") {
  Relay r;
  // P1 H P2 B S: the Flush after P1 is the client's; P2 gets one injected.
  CHECK(r.client_sends(parse("a", "SELECT 1") + flush() + parse("b", "SELECT 2") + bind("", "b") +
                       sync()) == 1);
  CHECK_FALSE(r.server_sends(parse_complete()));
  // Without the proxy the client's Flush might have flushed this one too.
  CHECK_FALSE(r.server_sends(parse_complete()));
  CHECK_FALSE(r.server_sends(bind_complete() + ready()));
  // The next epoch holds again.
  CHECK(r.client_sends(parse("", "SELECT 3") + bind("", "") + execute() + sync()) == 2);
  CHECK(r.server_sends(parse_complete()));
  CHECK_FALSE(r.hb.unsure());
}
