// Builds real protocol bytes for both directions and drives one tracker with them through
// the real Framer, the way the relay does. Times are given in milliseconds from a fixed
// base so that tests can assert exact durations.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lifecycle/sink.hpp"
#include "lifecycle/tracker.hpp"
#include "pgwire/framer.hpp"
#include "pgwire/startup.hpp"

namespace pglc::testwire {

using Msg = std::vector<std::uint8_t>;

class Builder {
 public:
  explicit Builder(char type) { out_.push_back(static_cast<std::uint8_t>(type)), i32(0); }
  Builder& i8(std::int8_t v) {
    out_.push_back(static_cast<std::uint8_t>(v));
    return *this;
  }
  Builder& i16(std::int16_t v) {
    out_.push_back(static_cast<std::uint8_t>((v >> 8) & 0xff));
    out_.push_back(static_cast<std::uint8_t>(v & 0xff));
    return *this;
  }
  Builder& i32(std::int32_t v) {
    for (int s = 24; s >= 0; s -= 8) out_.push_back(static_cast<std::uint8_t>((v >> s) & 0xff));
    return *this;
  }
  Builder& str(std::string_view s) {
    out_.insert(out_.end(), s.begin(), s.end());
    out_.push_back(0);
    return *this;
  }
  Builder& raw(std::string_view s) {
    out_.insert(out_.end(), s.begin(), s.end());
    return *this;
  }
  Msg done() {
    const auto len = static_cast<std::uint32_t>(out_.size() - 1);
    for (int i = 0; i < 4; ++i) out_[1 + i] = static_cast<std::uint8_t>(len >> (24 - 8 * i));
    return std::move(out_);
  }

 private:
  Msg out_;
};

// ---- frontend ----
inline Msg query(std::string_view sql) {
  return Builder('Q').str(sql).done();
}
inline Msg parse(std::string_view name, std::string_view sql,
                 std::initializer_list<std::int32_t> oids = {}) {
  Builder b('P');
  b.str(name).str(sql).i16(static_cast<std::int16_t>(oids.size()));
  for (auto o : oids) b.i32(o);
  return b.done();
}
// Text parameters; nullopt = NULL. `binary` sends every parameter in binary format.
inline Msg bind(std::string_view portal, std::string_view stmt,
                std::initializer_list<std::optional<std::string>> params = {},
                bool binary = false) {
  Builder b('B');
  b.str(portal).str(stmt);
  if (binary) {
    b.i16(1).i16(1);
  } else {
    b.i16(0);
  }
  b.i16(static_cast<std::int16_t>(params.size()));
  for (const auto& p : params) {
    if (!p) {
      b.i32(-1);
    } else {
      b.i32(static_cast<std::int32_t>(p->size())).raw(*p);
    }
  }
  b.i16(1).i16(1);  // results in binary, as Npgsql asks
  return b.done();
}
inline Msg describe(char target, std::string_view name) {
  return Builder('D').i8(static_cast<std::int8_t>(target)).str(name).done();
}
inline Msg execute(std::string_view portal, std::int32_t max_rows = 0) {
  return Builder('E').str(portal).i32(max_rows).done();
}
inline Msg close(char target, std::string_view name) {
  return Builder('C').i8(static_cast<std::int8_t>(target)).str(name).done();
}
inline Msg sync_msg() {
  return Builder('S').done();
}
inline Msg flush() {
  return Builder('H').done();
}
inline Msg fe_copy_data(std::string_view data) {
  return Builder('d').raw(data).done();
}
inline Msg fe_copy_done() {
  return Builder('c').done();
}
inline Msg copy_fail(std::string_view why) {
  return Builder('f').str(why).done();
}
inline Msg function_call(std::int32_t oid) {
  return Builder('F').i32(oid).i16(0).i16(0).i16(0).done();
}
inline Msg password(std::string_view pw) {
  return Builder('p').str(pw).done();
}
inline Msg terminate() {
  return Builder('X').done();
}

// ---- backend ----
inline Msg parse_complete() {
  return Builder('1').done();
}
inline Msg bind_complete() {
  return Builder('2').done();
}
inline Msg close_complete() {
  return Builder('3').done();
}
inline Msg parameter_description(std::initializer_list<std::int32_t> oids) {
  Builder b('t');
  b.i16(static_cast<std::int16_t>(oids.size()));
  for (auto o : oids) b.i32(o);
  return b.done();
}
inline Msg row_description(std::initializer_list<std::string_view> names) {
  Builder b('T');
  b.i16(static_cast<std::int16_t>(names.size()));
  for (auto n : names) b.str(n).i32(0).i16(0).i32(23).i16(4).i32(-1).i16(0);
  return b.done();
}
inline Msg no_data() {
  return Builder('n').done();
}
inline Msg data_row(std::initializer_list<std::string_view> values) {
  Builder b('D');
  b.i16(static_cast<std::int16_t>(values.size()));
  for (auto v : values) b.i32(static_cast<std::int32_t>(v.size())).raw(v);
  return b.done();
}
inline Msg command_complete(std::string_view tag) {
  return Builder('C').str(tag).done();
}
inline Msg empty_query() {
  return Builder('I').done();
}
inline Msg portal_suspended() {
  return Builder('s').done();
}
inline Msg error(std::string_view sqlstate, std::string_view message) {
  return Builder('E')
      .i8('S')
      .str("ERROR")
      .i8('V')
      .str("ERROR")
      .i8('C')
      .str(sqlstate)
      .i8('M')
      .str(message)
      .i8(0)
      .done();
}
inline Msg notice(std::string_view message) {
  return Builder('N').i8('S').str("NOTICE").i8('C').str("00000").i8('M').str(message).i8(0).done();
}
inline Msg notification(std::string_view channel) {
  return Builder('A').i32(42).str(channel).str("payload").done();
}
inline Msg ready(char status = 'I') {
  return Builder('Z').i8(static_cast<std::int8_t>(status)).done();
}
inline Msg copy_in_response(int columns) {
  Builder b('G');
  b.i8(0).i16(static_cast<std::int16_t>(columns));
  for (int i = 0; i < columns; ++i) b.i16(0);
  return b.done();
}
inline Msg copy_out_response(int columns) {
  Builder b('H');
  b.i8(0).i16(static_cast<std::int16_t>(columns));
  for (int i = 0; i < columns; ++i) b.i16(0);
  return b.done();
}
inline Msg be_copy_data(std::string_view data) {
  return Builder('d').raw(data).done();
}
inline Msg be_copy_done() {
  return Builder('c').done();
}
inline Msg backend_key(std::int32_t pid, std::int32_t key) {
  return Builder('K').i32(pid).i32(key).done();
}
inline Msg parameter_status(std::string_view name, std::string_view value) {
  return Builder('S').str(name).str(value).done();
}
inline Msg auth_ok() {
  return Builder('R').i32(0).done();
}
inline Msg auth_md5() {
  return Builder('R').i32(5).raw("salt").done();
}
inline Msg function_call_response(std::string_view value) {
  return Builder('V').i32(static_cast<std::int32_t>(value.size())).raw(value).done();
}

inline Msg cat(std::initializer_list<Msg> msgs) {
  Msg out;
  for (const auto& m : msgs) out.insert(out.end(), m.begin(), m.end());
  return out;
}

// Keeps everything the tracker emits, in order.
class CaptureSink final : public lifecycle::Sink {
 public:
  void session_opened(const lifecycle::SessionRecord& r) override {
    opened.push_back(r);
    order.push_back("session_opened");
  }
  void session_closed(const lifecycle::SessionRecord& r) override {
    closed.push_back(r);
    order.push_back("session_closed");
  }
  void statement(const lifecycle::StatementRecord& r) override {
    statements.push_back(r);
    order.push_back("statement " + r.sql->sql);
  }
  void statement_event(const lifecycle::StatementEventRecord& r) override {
    statement_events.push_back(r);
    order.push_back(std::string("statement_event ") + std::string(to_string(r.event)) + " " +
                    statement_sql(r.statement_id));
  }
  void execution(const lifecycle::ExecutionRecord& r) override {
    executions.push_back(r);
    order.push_back(std::string("execution ") + std::string(to_string(r.status)) + " " +
                    (r.sql ? r.sql->sql : std::string()));
  }
  void message_timed(lifecycle::MessageKind k, std::chrono::nanoseconds d) override {
    timed.emplace_back(k, d);
  }

  std::string statement_sql(const std::string& id) const {
    for (const auto& s : statements) {
      if (s.id == id) return s.sql->sql;
    }
    return "?";
  }
  const lifecycle::StatementRecord* statement_by_id(const std::string& id) const {
    for (const auto& s : statements) {
      if (s.id == id) return &s;
    }
    return nullptr;
  }
  // "received,bound,executed,finished,delivered" for one execution.
  static std::string events(const lifecycle::ExecutionRecord& r) {
    std::string out;
    for (const auto& [e, t] : r.events) {
      if (!out.empty()) out += ',';
      out += to_string(e);
    }
    return out;
  }
  // The statement events of one statement, in order.
  // An extended statement's parsed event comes in its record (parsed_at).
  std::string events_of(const std::string& statement_id) const {
    std::string out;
    if (const auto* s = statement_by_id(statement_id); s && s->parsed_at) out = "parsed";
    for (const auto& e : statement_events) {
      if (e.statement_id != statement_id) continue;
      if (!out.empty()) out += ',';
      out += to_string(e.event);
    }
    return out;
  }
  std::vector<std::chrono::nanoseconds> timed_of(lifecycle::MessageKind k) const {
    std::vector<std::chrono::nanoseconds> out;
    for (const auto& [kind, d] : timed) {
      if (kind == k) out.push_back(d);
    }
    return out;
  }

  std::vector<lifecycle::SessionRecord> opened, closed;
  std::vector<lifecycle::StatementRecord> statements;
  std::vector<lifecycle::StatementEventRecord> statement_events;
  std::vector<lifecycle::ExecutionRecord> executions;
  std::vector<std::pair<lifecycle::MessageKind, std::chrono::nanoseconds>> timed;
  std::vector<std::string> order;
};

// One client session in front of one tracker.
class Session {
 public:
  explicit Session(lifecycle::TrackerConfig config = {})
      : factory_(std::move(config), sink), observer_(factory_.create()) {}

  lifecycle::MonoTime at(double ms) const {
    return base_ + std::chrono::microseconds(static_cast<std::int64_t>(ms * 1000));
  }
  static lifecycle::WallMicros wall(lifecycle::MonoTime t) { return lifecycle::to_wall(t); }
  lifecycle::WallMicros wall_at(double ms) const { return lifecycle::to_wall(at(ms)); }

  // StartupMessage → AuthenticationOk ... ReadyForQuery, all at time 0.
  void start(std::string_view user = "alice", std::string_view db = "shop",
             std::string_view app = "psql", bool finish_startup = true) {
    pgwire::StartupPacket packet;
    packet.protocol = pgwire::kProtocol30;
    packet.parameters = {{"user", std::string(user)}, {"database", std::string(db)}};
    if (!app.empty()) packet.parameters.emplace_back("application_name", std::string(app));
    lifecycle::SessionStart s = phases;
    s.client_addr = "127.0.0.1";
    s.client_port = 50000;
    s.backend_addr = "127.0.0.1:5432";
    s.startup = &packet;
    observer_->on_session_begin(s, at(0));
    if (!finish_startup) return;
    fe(password("secret"), 0);
    be(cat({auth_ok(), parameter_status("application_name", app), backend_key(4242, 99),
            ready('I')}),
       0);
  }

  // Feeds client bytes (one or more messages) read at `ms`.
  void fe(const Msg& bytes, double ms) {
    auto r = fe_framer_.feed(
        pgwire::Bytes(bytes.data(), bytes.size()), [&](const pgwire::Frame& f, std::size_t) {
          observer_->on_frontend(f, at(ms));
          if (f.type == 'P' || f.type == 'B') {
            flushes.push_back(observer_->wants_flush() ? f.type : static_cast<char>(f.type + 32));
          }
        });
    if (r != pgwire::FrameError::none) throw std::runtime_error("bad frontend bytes");
  }
  // Feeds server bytes read at `ms`; with auto_write they are written to the client at once.
  void be(const Msg& bytes, double ms) {
    const std::uint64_t base = client_offset_;
    auto r = be_framer_.feed(pgwire::Bytes(bytes.data(), bytes.size()),
                             [&](const pgwire::Frame& f, std::size_t end) {
                               observer_->on_backend(f, at(ms), base + end);
                             });
    if (r != pgwire::FrameError::none) throw std::runtime_error("bad backend bytes");
    observer_->on_backend_read_done(at(ms));
    client_offset_ += bytes.size();
    if (auto_write) written(client_offset_, ms);
  }
  void written(std::uint64_t offset, double ms) { observer_->on_client_written(offset, at(ms)); }
  void cancel(double ms) { observer_->on_cancel_requested(at(ms)); }
  void end(lifecycle::EndReason reason, double ms) { observer_->on_session_end(reason, at(ms)); }
  std::uint64_t client_offset() const { return client_offset_; }
  std::size_t owed_bytes() const { return observer_->owed_bytes(); }

  CaptureSink sink;
  bool auto_write = true;
  // The phases before the StartupMessage that start() reports (accepted, TLS, backend).
  lifecycle::SessionStart phases;
  // Per Parse/Bind read, what the relay would do: 'P'/'B' followed by a Flush (timed
  // precisely), 'p'/'b' not.
  std::string flushes;

 private:
  lifecycle::MonoTime base_ = lifecycle::now();
  lifecycle::TrackerFactory factory_;
  std::unique_ptr<lifecycle::SessionObserver> observer_;
  pgwire::Framer fe_framer_{pgwire::Direction::frontend};
  pgwire::Framer be_framer_{pgwire::Direction::backend};
  std::uint64_t client_offset_ = 0;
};

}  // namespace pglc::testwire
