// Protocol messages byte for byte as PostgreSQL, pgbench and Npgsql put them on the wire,
// for the micro-benchmarks. Header-only so the bench/micro/*.cpp glob does not pick it up.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pglc::bench {

using Wire = std::vector<std::uint8_t>;

class Msg {
 public:
  explicit Msg(char type) : type_(type) { body_.reserve(128); }
  Msg& i8(std::uint8_t v) {
    body_.push_back(v);
    return *this;
  }
  Msg& i16(std::uint16_t v) {
    body_.push_back(static_cast<std::uint8_t>(v >> 8));
    body_.push_back(static_cast<std::uint8_t>(v));
    return *this;
  }
  Msg& i32(std::uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) body_.push_back(static_cast<std::uint8_t>(v >> s));
    return *this;
  }
  Msg& str(std::string_view s) {  // NUL-terminated
    body_.insert(body_.end(), s.begin(), s.end());
    body_.push_back(0);
    return *this;
  }
  Msg& raw(std::string_view s) {
    body_.insert(body_.end(), s.begin(), s.end());
    return *this;
  }
  void append_to(Wire& out) const {
    out.push_back(static_cast<std::uint8_t>(type_));
    std::uint32_t len = static_cast<std::uint32_t>(body_.size() + 4);
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(len >> s));
    out.insert(out.end(), body_.begin(), body_.end());
  }

 private:
  char type_;
  Wire body_;
};

inline std::string int4_binary(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

// --- frontend -----------------------------------------------------------------------------

inline void query(Wire& w, std::string_view sql) {
  Msg('Q').str(sql).append_to(w);
}

inline void parse(Wire& w, std::string_view name, std::string_view sql,
                  const std::vector<std::uint32_t>& oids) {
  Msg m('P');
  m.str(name).str(sql).i16(static_cast<std::uint16_t>(oids.size()));
  for (auto o : oids) m.i32(o);
  m.append_to(w);
}

// One binary int4 parameter, every result column binary (as Npgsql asks).
inline void bind_int4(Wire& w, std::string_view portal, std::string_view stmt, std::uint32_t v,
                      bool binary_results) {
  Msg m('B');
  m.str(portal).str(stmt).i16(1).i16(1).i16(1).i32(4).raw(int4_binary(v));
  if (binary_results) {
    m.i16(1).i16(1);
  } else {
    m.i16(0);
  }
  m.append_to(w);
}

// pgbench -M prepared: one text parameter, text results.
inline void bind_text(Wire& w, std::string_view stmt, std::string_view v) {
  Msg('B')
      .str("")
      .str(stmt)
      .i16(0)
      .i16(1)
      .i32(static_cast<std::uint32_t>(v.size()))
      .raw(v)
      .i16(0)
      .append_to(w);
}

inline void describe(Wire& w, char target, std::string_view name) {
  Msg('D').i8(static_cast<std::uint8_t>(target)).str(name).append_to(w);
}
inline void execute(Wire& w, std::string_view portal = "", std::uint32_t max_rows = 0) {
  Msg('E').str(portal).i32(max_rows).append_to(w);
}
inline void sync(Wire& w) {
  Msg('S').append_to(w);
}

// --- backend ------------------------------------------------------------------------------

inline void parse_complete(Wire& w) {
  Msg('1').append_to(w);
}
inline void bind_complete(Wire& w) {
  Msg('2').append_to(w);
}
inline void ready_for_query(Wire& w, char status = 'I') {
  Msg('Z').i8(static_cast<std::uint8_t>(status)).append_to(w);
}
inline void command_complete(Wire& w, std::string_view tag) {
  Msg('C').str(tag).append_to(w);
}

// RowDescription of pgbench_accounts (aid int4, bid int4, abalance int4, filler bpchar(84)).
inline void accounts_row_description(Wire& w, std::int16_t format) {
  Msg m('T');
  m.i16(4);
  const char* names[4] = {"aid", "bid", "abalance", "filler"};
  const std::uint32_t types[4] = {23, 23, 23, 1042};
  const std::int16_t sizes[4] = {4, 4, 4, -1};
  for (int i = 0; i < 4; ++i) {
    m.str(names[i])
        .i32(16390)
        .i16(static_cast<std::uint16_t>(i + 1))
        .i32(types[i])
        .i16(static_cast<std::uint16_t>(sizes[i]))
        .i32(i == 3 ? 88 : 0xFFFFFFFF)
        .i16(static_cast<std::uint16_t>(format));
  }
  m.append_to(w);
}

inline void accounts_data_row(Wire& w, std::uint32_t aid) {
  static const std::string filler(84, ' ');
  Msg('D')
      .i16(4)
      .i32(4)
      .raw(int4_binary(aid))
      .i32(4)
      .raw(int4_binary(1 + aid / 100000))
      .i32(4)
      .raw(int4_binary(0))
      .i32(84)
      .raw(filler)
      .append_to(w);
}

inline void int4_row_description(Wire& w, std::string_view name) {
  Msg('T').i16(1).str(name).i32(0).i16(0).i32(23).i16(4).i32(0xFFFFFFFF).i16(0).append_to(w);
}
inline void text_data_row(Wire& w, std::string_view v) {
  Msg('D').i16(1).i32(static_cast<std::uint32_t>(v.size())).raw(v).append_to(w);
}

// After the startup packet: what a trust-authenticated PostgreSQL 15 sends.
inline void auth_ok_and_params(Wire& w) {
  Msg('R').i32(0).append_to(w);
  const char* params[][2] = {{"application_name", "bench"},
                             {"client_encoding", "UTF8"},
                             {"DateStyle", "ISO, MDY"},
                             {"integer_datetimes", "on"},
                             {"server_version", "15.8"},
                             {"standard_conforming_strings", "on"},
                             {"TimeZone", "UTC"}};
  for (auto& p : params) Msg('S').str(p[0]).str(p[1]).append_to(w);
  Msg('K').i32(4242).i32(0x5eed).append_to(w);
  ready_for_query(w);
}

inline Wire startup_packet(std::string_view user, std::string_view db) {
  Wire body;
  auto put_str = [&](std::string_view s) {
    body.insert(body.end(), s.begin(), s.end());
    body.push_back(0);
  };
  put_str("user");
  put_str(user);
  put_str("database");
  put_str(db);
  put_str("application_name");
  put_str("bench");
  body.push_back(0);
  Wire out;
  std::uint32_t len = static_cast<std::uint32_t>(body.size() + 8);
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(len >> s));
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(196608u >> s));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

// --- flows --------------------------------------------------------------------------------

inline constexpr const char* kNpgsqlBatch[3] = {
    "SELECT aid, bid, abalance, filler FROM pgbench_accounts WHERE aid BETWEEN $1 AND $1 + 999",
    "SELECT count(*) FROM pgbench_branches WHERE bid = $1",
    "SELECT tid, tbalance FROM pgbench_tellers WHERE bid = $1"};

// Npgsql-style pipelined batch: 3 × (Parse, Bind, Describe portal, Execute), one Sync.
inline Wire npgsql_batch_request(std::uint32_t aid) {
  Wire w;
  for (const char* sql : kNpgsqlBatch) {
    parse(w, "", sql, {23});
    bind_int4(w, "", "", aid, true);
    describe(w, 'P', "");
    execute(w);
  }
  sync(w);
  return w;
}

// Its response: the first statement returns `rows` DataRows of pgbench_accounts.
inline Wire npgsql_batch_response(std::uint32_t aid, int rows) {
  Wire w;
  parse_complete(w);
  bind_complete(w);
  accounts_row_description(w, 1);
  for (int i = 0; i < rows; ++i) accounts_data_row(w, aid + static_cast<std::uint32_t>(i));
  command_complete(w, "SELECT " + std::to_string(rows));
  parse_complete(w);
  bind_complete(w);
  int4_row_description(w, "count");
  Msg('D').i16(1).i32(8).raw(std::string("\0\0\0\0\0\0\0\1", 8)).append_to(w);
  command_complete(w, "SELECT 1");
  parse_complete(w);
  bind_complete(w);
  int4_row_description(w, "tid");
  for (int i = 0; i < 10; ++i) {
    Msg('D')
        .i16(2)
        .i32(4)
        .raw(int4_binary(static_cast<std::uint32_t>(i)))
        .i32(4)
        .raw(int4_binary(0))
        .append_to(w);
  }
  command_complete(w, "SELECT 10");
  ready_for_query(w);
  return w;
}

}  // namespace pglc::bench
