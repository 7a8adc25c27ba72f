// Byte streams of real client sessions, both directions, as the named drivers and
// PostgreSQL 15 put them on the wire after the startup phase.
#pragma once

#include <string>

#include "wire_bytes.hpp"

namespace pglc::pgwire::test {

// int4 in binary format, as Npgsql sends and receives it.
inline std::string int4_binary(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

inline ByteVec row_description_one_int4(std::string_view name, std::int16_t format) {
  return Msg('T').i16(1).str(name).i32(0).i16(0).i32(23).i16(4).i32(-1).i16(format).bytes();
}

// psql: `SELECT 1;` then \q.
inline ByteVec psql_frontend() {
  return concat({Msg('Q').str("SELECT 1;").bytes(), Msg('X').bytes()});
}
// The server's side: authentication ok, parameters, key, then the query's answer.
inline ByteVec psql_backend() {
  return concat({Msg('R').i32(0).bytes(), Msg('S').str("application_name").str("psql").bytes(),
                 Msg('S').str("client_encoding").str("UTF8").bytes(),
                 Msg('S').str("server_version").str("15.5").bytes(),
                 Msg('K').i32(4242).i32(0x1badcafe).bytes(), Msg('Z').u8('I').bytes(),
                 row_description_one_int4("?column?", 0), Msg('D').i16(1).param("1").bytes(),
                 Msg('C').str("SELECT 1").bytes(), Msg('Z').u8('I').bytes()});
}

// Npgsql: an unprepared batch of three commands, binary parameters and results, one Sync.
inline ByteVec npgsql_frontend() {
  ByteVec out;
  for (int i = 1; i <= 3; ++i) {
    out = concat(
        {out, Msg('P').str("").str("SELECT $1::int4 + " + std::to_string(i)).i16(1).i32(23).bytes(),
         Msg('B').str("").str("").i16(1).i16(1).i16(1).param(int4_binary(40)).i16(1).i16(1).bytes(),
         Msg('D').u8('P').str("").bytes(), Msg('E').str("").i32(0).bytes()});
  }
  return concat({out, Msg('S').bytes()});
}
inline ByteVec npgsql_backend() {
  ByteVec out;
  for (int i = 1; i <= 3; ++i) {
    out = concat({out, Msg('1').bytes(), Msg('2').bytes(), row_description_one_int4("?column?", 1),
                  Msg('D').i16(1).param(int4_binary(40 + i)).bytes(),
                  Msg('C').str("SELECT 1").bytes()});
  }
  return concat({out, Msg('Z').u8('I').bytes()});
}

// pgjdbc: a named server-side statement (prepareThreshold reached) run twice in one
// pipeline, a fetch-size cursor in a transaction, then the statement is closed.
inline ByteVec pgjdbc_frontend() {
  return concat({
      Msg('P').str("S_1").str("INSERT INTO t(a, b) VALUES ($1, $2)").i16(2).i32(23).i32(25).bytes(),
      Msg('D').u8('S').str("S_1").bytes(),
      Msg('B').str("").str("S_1").i16(0).i16(2).param("42").param("hello").i16(0).bytes(),
      Msg('E').str("").i32(1).bytes(),
      Msg('B').str("").str("S_1").i16(0).i16(2).param("43").null_param().i16(0).bytes(),
      Msg('E').str("").i32(1).bytes(),
      Msg('S').bytes(),
      Msg('P').str("S_2").str("SELECT g FROM generate_series(1, 3) g").i16(0).bytes(),
      Msg('B').str("C_3").str("S_2").i16(0).i16(0).i16(0).bytes(),
      Msg('D').u8('P').str("C_3").bytes(),
      Msg('E').str("C_3").i32(2).bytes(),
      Msg('S').bytes(),
      Msg('C').u8('S').str("S_1").bytes(),
      Msg('C').u8('P').str("C_3").bytes(),
      Msg('S').bytes(),
  });
}
inline ByteVec pgjdbc_backend() {
  return concat({
      Msg('1').bytes(),
      Msg('t').i16(2).i32(23).i32(25).bytes(),
      Msg('n').bytes(),
      Msg('2').bytes(),
      Msg('C').str("INSERT 0 1").bytes(),
      Msg('2').bytes(),
      Msg('C').str("INSERT 0 1").bytes(),
      Msg('Z').u8('I').bytes(),
      Msg('1').bytes(),
      Msg('2').bytes(),
      Msg('T').i16(1).str("g").i32(0).i16(0).i32(23).i16(4).i32(-1).i16(0).bytes(),
      Msg('D').i16(1).param("1").bytes(),
      Msg('D').i16(1).param("2").bytes(),
      Msg('s').bytes(),
      Msg('Z').u8('T').bytes(),
      Msg('3').bytes(),
      Msg('3').bytes(),
      Msg('Z').u8('T').bytes(),
  });
}

// psql's \copy in both directions, and a failing statement with a notice.
inline ByteVec copy_frontend() {
  return concat({Msg('Q').str("COPY t FROM STDIN").bytes(), Msg('d').raw("1\tfoo\n").bytes(),
                 Msg('d').raw("2\tbar\n").bytes(), Msg('c').bytes(),
                 Msg('Q').str("COPY t TO STDOUT").bytes(),
                 Msg('Q').str("COPY t FROM STDIN").bytes(), Msg('f').str("aborted by user").bytes(),
                 Msg('Q').str("SELECT 1/0").bytes()});
}
inline ByteVec copy_backend() {
  return concat({
      Msg('G').u8(0).i16(2).i16(0).i16(0).bytes(),
      Msg('C').str("COPY 2").bytes(),
      Msg('Z').u8('I').bytes(),
      Msg('H').u8(0).i16(2).i16(0).i16(0).bytes(),
      Msg('d').raw("1\tfoo\n").bytes(),
      Msg('d').raw("2\tbar\n").bytes(),
      Msg('c').bytes(),
      Msg('C').str("COPY 2").bytes(),
      Msg('Z').u8('I').bytes(),
      Msg('G').u8(0).i16(2).i16(0).i16(0).bytes(),
      Msg('E')
          .u8('S')
          .str("ERROR")
          .u8('V')
          .str("ERROR")
          .u8('C')
          .str("57014")
          .u8('M')
          .str("COPY from stdin failed: aborted by user")
          .u8('W')
          .str("COPY t, line 1")
          .u8('F')
          .str("copyfromparse.c")
          .u8('L')
          .str("264")
          .u8('R')
          .str("CopyGetData")
          .u8(0)
          .bytes(),
      Msg('Z').u8('I').bytes(),
      Msg('N')
          .u8('S')
          .str("WARNUNG")
          .u8('V')
          .str("WARNING")
          .u8('C')
          .str("01000")
          .u8('M')
          .str("careful")
          .u8(0)
          .bytes(),
      Msg('E')
          .u8('S')
          .str("ERROR")
          .u8('V')
          .str("ERROR")
          .u8('C')
          .str("22012")
          .u8('M')
          .str("division by zero")
          .u8('F')
          .str("int.c")
          .u8('L')
          .str("841")
          .u8('R')
          .str("int4div")
          .u8(0)
          .bytes(),
      Msg('Z').u8('I').bytes(),
  });
}

// Large messages that straddle any realistic read: a wide row and a long query.
inline ByteVec big_frontend() {
  return concat({Msg('Q').str("SELECT '" + std::string(3000, 'x') + "'").bytes(),
                 Msg('d').raw(std::string(2500, 'y')).bytes(), Msg('S').bytes()});
}
inline ByteVec big_backend() {
  return concat({Msg('T').i16(1).str("wide").i32(0).i16(0).i32(25).i16(-1).i32(-1).i16(0).bytes(),
                 Msg('D').i16(2).param(std::string(3000, 'x')).null_param().bytes(),
                 Msg('C').str("SELECT 1").bytes(), Msg('Z').u8('I').bytes()});
}

}  // namespace pglc::pgwire::test
