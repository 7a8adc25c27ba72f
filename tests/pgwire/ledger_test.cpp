// The ledger of owed ReadyForQuery, fed the byte streams of real client sessions in the
// order a relay forwards and reads them.
#include "pgwire/ledger.hpp"

#include <doctest/doctest.h>

#include "pgwire/framer.hpp"
#include "sessions.hpp"

using namespace pglc::pgwire;
using namespace pglc::pgwire::test;

namespace {

void client_sends(Ledger& l, const ByteVec& bytes) {
  Framer f(Direction::frontend);
  REQUIRE(f.feed(Bytes(bytes.data(), bytes.size()),
                 [&](const Frame& m, std::size_t) { l.on_frontend(m.type); }) == FrameError::none);
}

void server_sends(Ledger& l, const ByteVec& bytes) {
  Framer f(Direction::backend);
  REQUIRE(f.feed(Bytes(bytes.data(), bytes.size()),
                 [&](const Frame& m, std::size_t) { l.on_backend(m); }) == FrameError::none);
}

ByteVec ready(char status) {
  return Msg('Z').u8(static_cast<std::uint8_t>(status)).bytes();
}

// After the login: the StartupMessage answered by the first ReadyForQuery.
Ledger logged_in() {
  Ledger l;
  CHECK(l.owes_ready());
  CHECK_FALSE(l.idle());
  server_sends(l, concat({Msg('R').i32(0).bytes(), Msg('K').i32(1).i32(2).bytes(), ready('I')}));
  CHECK(l.idle());
  return l;
}

}  // namespace

TEST_CASE("psql: one Query owes one ReadyForQuery") {
  Ledger l = logged_in();
  client_sends(l, Msg('Q').str("SELECT 1;").bytes());
  CHECK(l.owes_ready());
  CHECK(l.requests() == 2);
  CHECK_FALSE(l.idle());
  server_sends(l, concat({row_description_one_int4("?column?", 0),
                          Msg('D').i16(1).param("1").bytes(), Msg('C').str("SELECT 1").bytes()}));
  CHECK(l.owes_ready());
  server_sends(l, ready('I'));
  CHECK(l.idle());
  CHECK(l.readies() == 2);
  CHECK_FALSE(l.unsure());
}

TEST_CASE("Npgsql batch: unsynced until its Sync, idle once answered") {
  Ledger l = logged_in();
  ByteVec batch = npgsql_frontend();
  batch.resize(batch.size() - Msg('S').bytes().size());
  client_sends(l, batch);
  CHECK(l.unsynced());
  CHECK_FALSE(l.owes_ready());
  CHECK_FALSE(l.idle());  // the server owes answers, just no ReadyForQuery yet
  client_sends(l, Msg('S').bytes());
  CHECK_FALSE(l.unsynced());
  CHECK(l.owes_ready());
  server_sends(l, npgsql_backend());
  CHECK(l.idle());
}

TEST_CASE("pgjdbc pipeline: three Syncs, three answers, ends inside a transaction") {
  Ledger l = logged_in();
  client_sends(l, pgjdbc_frontend());
  CHECK(l.requests() == 4);
  server_sends(l, pgjdbc_backend());
  CHECK(l.readies() == 4);
  CHECK_FALSE(l.owes_ready());
  CHECK(l.status() == 'T');
  CHECK_FALSE(l.idle());  // in a transaction: ending here would lose it
  client_sends(l, Msg('Q').str("COMMIT").bytes());
  server_sends(l, concat({Msg('C').str("COMMIT").bytes(), ready('I')}));
  CHECK(l.idle());
}

TEST_CASE("an error skips to Sync; a Query amid unsynced messages makes the count unsure") {
  Ledger l = logged_in();
  client_sends(l, concat({Msg('P').str("").str("SELEC 1").i16(0).bytes(),
                          Msg('B').str("").str("").i16(0).i16(0).i16(0).bytes(),
                          Msg('E').str("").i32(0).bytes(), Msg('S').bytes()}));
  server_sends(
      l, concat({Msg('E').u8('S').str("ERROR").u8('C').str("42601").u8(0).bytes(), ready('I')}));
  CHECK(l.idle());
  CHECK_FALSE(l.unsure());
  // After an error the server skips to Sync, and would swallow this Query unanswered.
  client_sends(l, concat({Msg('P').str("").str("SELECT 1").i16(0).bytes(),
                          Msg('Q').str("SELECT 2").bytes()}));
  CHECK(l.unsure());
}

TEST_CASE("more ReadyForQuery than requests makes the count unsure") {
  Ledger l = logged_in();
  server_sends(l, ready('I'));
  CHECK(l.unsure());
}

TEST_CASE("simple COPY FROM STDIN, COPY TO STDOUT and a CopyFail") {
  Ledger l = logged_in();
  client_sends(l, Msg('Q').str("COPY t FROM STDIN").bytes());
  server_sends(l, Msg('G').u8(0).i16(2).i16(0).i16(0).bytes());
  CHECK(l.in_copy_in());
  client_sends(l, concat({Msg('d').raw("1\tfoo\n").bytes(), Msg('c').bytes()}));
  CHECK_FALSE(l.in_copy_in());
  server_sends(l, concat({Msg('C').str("COPY 1").bytes(), ready('I')}));
  CHECK(l.idle());
  client_sends(l, copy_frontend());
  server_sends(l, copy_backend());
  CHECK_FALSE(l.owes_ready());
  CHECK_FALSE(l.unsure());
}

TEST_CASE("libpq's extended COPY: the Sync sent with the Execute is ignored by the server") {
  Ledger l = logged_in();
  // PQexecParams("COPY t FROM STDIN"): Parse, Bind, Describe, Execute, Sync at once.
  client_sends(l, concat({Msg('P').str("").str("COPY t FROM STDIN").i16(0).bytes(),
                          Msg('B').str("").str("").i16(0).i16(0).i16(0).bytes(),
                          Msg('D').u8('P').str("").bytes(), Msg('E').str("").i32(0).bytes(),
                          Msg('S').bytes()}));
  CHECK(l.requests() == 2);
  server_sends(l, concat({Msg('1').bytes(), Msg('2').bytes(), Msg('n').bytes(),
                          Msg('G').u8(0).i16(2).i16(0).i16(0).bytes()}));
  // The server never answers that Sync: it was in copy-in mode when it read it.
  CHECK(l.requests() == 1);
  CHECK(l.unsynced());
  // PQputCopyData, then PQputCopyEnd: CopyDone and, in extended mode, a Sync.
  client_sends(l, concat({Msg('d').raw("1\tfoo\n").bytes(), Msg('S').bytes(), Msg('c').bytes(),
                          Msg('S').bytes()}));
  CHECK(l.requests() == 2);
  server_sends(l, concat({Msg('C').str("COPY 1").bytes(), ready('I')}));
  CHECK(l.idle());
  CHECK_FALSE(l.unsure());
}
