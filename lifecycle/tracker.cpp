#include "lifecycle/tracker.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <boost/container/small_vector.hpp>

#include "lifecycle/block_pool.hpp"
#include "lifecycle/ring.hpp"
#include "lifecycle/sql_analyzer.hpp"
#include "lifecycle/text_format.hpp"
#include "lifecycle/uuid.hpp"
#include "pgwire/backend.hpp"
#include "pgwire/frontend.hpp"

namespace pglc::lifecycle {
namespace {

namespace fe = pgwire::fe;
namespace be = pgwire::be;

double seconds(MonoTime from, MonoTime to) {
  return std::chrono::duration<double>(to - from).count();
}

struct Stmt {
  std::array<char, kUuidLength> id_text{};  // in place: one statement per unnamed Parse
  std::string_view id() const { return {id_text.data(), id_text.size()}; }
  StatementKind kind = StatementKind::simple;
  std::string name;
  std::shared_ptr<const SqlText> sql;
  SqlCommand command = SqlCommand::other;  // for a DEALLOCATE / DISCARD run as a portal
  std::string target;
  bool parsed = false;
  bool described = false;
  bool closed = false;
  Timing timing = Timing::precise;
  bool bound = false;                   // a Bind named it: its next execution is not the first
  std::optional<double> parse_seconds;  // until its first execution reports it
  // An extended Parse's record waits for its ParseComplete (StatementRecord::parsed_at),
  // or for its Parse to leave the ledger unanswered; these are what it will say.
  bool record_pending = false;
  std::string param_types;
  WallMicros received_at = 0;
};
using StmtPtr = std::shared_ptr<Stmt>;

struct Exec {
  ExecutionRecord rec;
  StmtPtr stmt;
  MonoTime received;
  std::optional<MonoTime> start;  // pipeline-aware (DESIGN §2)
  std::optional<MonoTime> bound, executed, finished, delivered;
  std::optional<MonoTime> last_suspended;
  std::uint64_t last_response_offset = 0;  // PortalSuspended or terminal response
  std::optional<MonoTime> last_response_delivered;
  std::vector<StmtPtr> closes;  // DEALLOCATE / DISCARD ALL through the extended protocol
  bool has_rows = false;
  bool copy_out = false;
  bool ran = false;  // an Execute (or the Query) was sent for it
  bool final = false;
  bool emitted = false;
  bool in_portal = false;
  int pending_refs = 0;
  // Without --record-parameters: the text values bound, so that an error message that
  // echoes one can be masked (length-prefixed, at most kMaskedValueBytes in all).
  std::string bound_values;
  bool bound_values_overflow = false;
};
using ExecPtr = std::shared_ptr<Exec>;

// One statement of a Query.
struct QueryItem {
  ExecPtr exec;                 // null for PREPARE, which has no execution of its own
  StmtPtr prepared;             // PREPARE: `parsed` at its CommandComplete
  std::vector<StmtPtr> closes;  // DEALLOCATE [ALL] / DISCARD ALL: `closed` at completion
};

// A frontend message whose response the backend still owes. Tracker::push sets every
// member in the ring's slot: a member added here is set there too.
struct Pending {
  MessageKind kind = MessageKind::sync;
  std::uint64_t seq = 0;
  MonoTime received;
  std::optional<MonoTime> start;
  StmtPtr stmt;  // parse, describe 'S', close 'S'
  ExecPtr exec;  // bind, execute, describe 'P'
  // A simple Query's statements; one inline, as AnalyzedQuery holds them: no allocation
  // per Query.
  boost::container::small_vector<QueryItem, kInlineStatements> items;
  std::size_t item = 0;
  MonoTime item_start;  // when the current Query item began (previous one finished)
  std::uint64_t copy_ends_before = 0;
  std::size_t cost = 0;  // what this entry holds, in bytes (Tracker::owed_bytes)
};

constexpr std::size_t kMaskedValueBytes = 16u << 10;
// The query text live activity shows, like PostgreSQL's track_activity_query_size.
constexpr std::size_t kActivityQueryBytes = 1024;

// The server echoes some bound values in its messages (invalid input syntax for type
// integer: "bind-secret-2"). Longer values are masked wherever they appear, short ones
// (where a blind replace would mangle the message) where they appear in quotes.
std::string mask_bound_values(std::string message, const Exec& e) {
  if (e.bound_values_overflow) {
    return "(message withheld: it may echo bound parameter values, which are not recorded)";
  }
  std::string_view values = e.bound_values;
  while (values.size() >= 4) {
    std::uint32_t len;
    std::memcpy(&len, values.data(), 4);
    const std::string_view v = values.substr(4, len);
    values.remove_prefix(4 + len);
    if (v.empty()) continue;
    const std::string needle = v.size() >= 3 ? std::string(v) : "\"" + std::string(v) + "\"";
    const std::string mask = v.size() >= 3 ? "***" : "\"***\"";
    for (std::size_t at = message.find(needle); at != std::string::npos;
         at = message.find(needle, at + mask.size())) {
      message.replace(at, needle.size(), mask);
    }
  }
  return message;
}

// Estimates of what the tracker holds per object, for the per-session memory bound: the
// object itself plus the ids and names it keeps on the heap.
constexpr std::size_t kExecCost = sizeof(Exec) + 3 * 48 + 32;
constexpr std::size_t kStmtCost = sizeof(Stmt) + 48 + 32;

struct Portal {
  ExecPtr exec;
  std::uint64_t bind_seq = 0;
};

struct Awaiting {
  std::uint64_t offset = 0;
  ExecPtr exec;
};
constexpr std::size_t kAwaitingCost = sizeof(Awaiting) + kExecCost;

class Tracker final : public SessionObserver {
 public:
  Tracker(const TrackerConfig& config, Sink& sink, std::uint64_t seed)
      : config_(config),
        sink_(sink),
        analyzer_(config.max_sql_length, config.defer_sql_analysis, config.text_shapes),
        timing_(config.timing, config.precise_sample_rate, seed) {}

  void on_session_begin(const SessionStart& s, MonoTime t) override {
    begun_ = true;
    session_.id = uuid_v7();
    session_.proxy_instance = config_.proxy_instance;
    session_.connected_at = to_wall(s.accepted == MonoTime{} ? t : s.accepted);
    if (s.tls_established) session_.tls_established_at = to_wall(*s.tls_established);
    session_.startup_received_at = to_wall(t);
    if (s.backend_connected) session_.backend_connected_at = to_wall(*s.backend_connected);
    session_.client_addr = s.client_addr;
    session_.client_port = s.client_port;
    session_.backend_addr = s.backend_addr;
    session_.client_tls = s.client_tls;
    session_.backend_tls = s.backend_tls;
    if (s.startup != nullptr) {
      session_.user_name = std::string(s.startup->parameter("user"));
      session_.database_name = std::string(s.startup->parameter("database"));
      if (session_.database_name.empty()) session_.database_name = session_.user_name;
      session_.application_name = std::string(s.startup->parameter("application_name"));
    }
  }

  void on_frontend(const pgwire::Frame& f, MonoTime t) override {
    // Before AuthenticationOk the client is nobody: what it sends is relayed (the server
    // answers it) but neither analysed nor recorded (DESIGN §6).
    if (!authenticated_) return;
    wants_flush_ = false;
    switch (f.type) {
      case fe::kQuery:
        on_query(f, t);
        break;
      case fe::kParse:
        on_parse(f, t);
        break;
      case fe::kBind:
        on_bind(f, t);
        break;
      case fe::kDescribe:
        on_describe(f, t);
        break;
      case fe::kExecute:
        on_execute(f, t);
        break;
      case fe::kClose:
        on_close(f, t);
        break;
      case fe::kSync:
        on_sync(t);
        return;
      case fe::kFunctionCall:
        push(MessageKind::function_call, t);
        break;
      case fe::kCopyDone:
      case fe::kCopyFail:
        ++copy_ends_;
        frontend_copy_in_ = false;
        return;
      default:  // Flush, CopyData, Terminate, password messages: nothing is owed or kept
        return;
    }
    // After an error the server ignores everything up to Sync, including this message.
    if (skip_until_sync_) skip_pending(t, nullptr);
  }

  void on_backend(const pgwire::Frame& f, MonoTime t, std::uint64_t offset) override {
    backend_offset_ = offset;
    switch (f.type) {
      case be::kDataRow:
        // The hot path: counters only, no decoding.
        if (Exec* e = current_exec(t)) {
          if (!e->has_rows) {
            e->has_rows = true;
            if (!e->executed) e->executed = t;
          }
          ++e->rec.rows;
          e->rec.result_bytes += static_cast<std::int64_t>(f.wire_size());
        }
        return;
      case be::kCopyData:
        if (Exec* e = current_exec(t); e != nullptr && e->copy_out) {
          e->rec.result_bytes += static_cast<std::int64_t>(f.wire_size());
        }
        return;
      case be::kParseComplete:
        on_parse_complete(t);
        return;
      case be::kBindComplete:
        on_bind_complete(t);
        return;
      case be::kCloseComplete:
        on_close_complete(t);
        return;
      case be::kRowDescription:
      case be::kNoData:
        on_describe_answer(t);
        return;
      case be::kCommandComplete: {
        auto cc = be::decode_command_complete(f);
        on_completion(t, offset, cc.ok() ? cc.value.tag : std::string_view{},
                      cc.ok() ? cc.value.rows() : -1);
        return;
      }
      case be::kEmptyQueryResponse:
        on_completion(t, offset, {}, -1);
        return;
      case be::kPortalSuspended:
        on_portal_suspended(t, offset);
        return;
      case be::kErrorResponse:
        on_error(f, t, offset);
        return;
      case be::kCopyInResponse:
      case be::kCopyOutResponse:
      case be::kCopyBothResponse:
        on_copy_response(f.type, t);
        return;
      case be::kFunctionCallResponse:
        if (!pending_.empty() && pending_.front().kind == MessageKind::function_call) {
          timed(pending_.front(), t);
        }
        return;
      case be::kReadyForQuery:
        on_ready(f, t);
        return;
      case be::kBackendKeyData:
        if (auto k = be::decode_backend_key_data(f); k.ok()) session_.backend_pid = k.value.pid;
        return;
      case be::kAuthentication:
        if (auto a = be::decode_authentication(f); a.ok() && a.value.code == 0) {
          authenticated_ = true;
          if (!session_.authenticated_at) session_.authenticated_at = to_wall(t);
        }
        return;
      case be::kParameterStatus:
        if (auto p = be::decode_parameter_status(f); p.ok() && p.value.name == "application_name") {
          session_.application_name = std::string(p.value.value);
        }
        return;
      default:  // Notice, Notification, Authentication, ParameterDescription, CopyDone, ...
        return;
    }
  }

  void on_backend_read_done(MonoTime) override { flush_timings(); }

  void on_client_written(std::uint64_t offset, MonoTime t) override {
    written_ = std::max(written_, offset);
    last_write_ = t;
    drain_awaiting();
  }

  bool wants_flush() const override { return wants_flush_; }

  Activity activity() const override {
    Activity a;
    a.session_id = session_.id;
    a.backend_pid = session_.backend_pid.value_or(0);
    for (std::size_t i = 0; i < pending_.size(); ++i) {
      const Pending& p = pending_.at(i);
      const Exec* e = p.exec.get();
      if (p.kind == MessageKind::query && p.item < p.items.size()) e = p.items[p.item].exec.get();
      const bool runs = p.kind == MessageKind::execute || p.kind == MessageKind::query ||
                        p.kind == MessageKind::function_call;
      if (!runs) continue;
      ++a.pipeline_depth;
      if (a.query_received) continue;
      a.query_received = p.kind == MessageKind::query ? p.received : (e ? e->received : p.received);
      if (e && e->rec.sql) a.query = one_line(e->rec.sql->sql, kActivityQueryBytes);
    }
    if (!a.query_received && last_sql_) a.query = one_line(last_sql_->sql, kActivityQueryBytes);
    return a;
  }
  std::size_t owed_bytes() const override { return owed_bytes_ + awaiting_.size() * kAwaitingCost; }

  void on_cancel_requested(MonoTime) override {
    if (!pending_.empty()) cancel_requested_ = true;
  }

  void on_session_end(EndReason reason, MonoTime t) override {
    if (!begun_ || ended_) return;
    ended_ = true;
    flush_timings();
    while (!pending_.empty()) {
      Pending p = take_front();
      abort_entry(p);
    }
    remove_portals_bound_before(seq_ + 1);
    // Responses read but never written: final without `delivered`.
    while (!awaiting_.empty()) {
      Awaiting a = take_awaiting();
      if (a.exec->final && !a.exec->emitted) emit(*a.exec);
    }
    if (!ready_seen_ && startup_error_ &&
        (reason == EndReason::backend_closed || reason == EndReason::client_closed ||
         reason == EndReason::client_terminate)) {
      reason = EndReason::auth_failed;
    }
    session_.end_reason = reason;
    session_.disconnected_at = to_wall(t);
    if (!opened_emitted_) sink_.session_opened(session_);
    sink_.session_closed(session_);
  }

 private:
  // ---- frontend ------------------------------------------------------------------------

  // Every member is set in the ring's slot itself: a moved-from entry holds no pointers and
  // no items, so resetting those costs a test each.
  Pending& push(MessageKind kind, MonoTime t, std::size_t cost = 0) {
    Pending& p = pending_.push_slot();
    p.kind = kind;
    p.seq = ++seq_;
    p.received = t;
    p.start.reset();
    p.stmt.reset();
    p.exec.reset();
    p.items.clear();
    p.item = 0;
    p.item_start = {};
    p.copy_ends_before = copy_ends_;
    p.cost = sizeof(Pending) + cost;
    owed_bytes_ += p.cost;
    return p;
  }

  // Executions whose answers are read but not yet written to the client.
  void await_delivery(Awaiting a) { awaiting_.push_back(std::move(a)); }
  Awaiting take_awaiting() { return awaiting_.pop_front(); }

  // Every way out of the ledger comes here: a Parse that leaves it unanswered (an error,
  // a skip, the session's end) still gets its statement recorded.
  Pending take_front() {
    Pending p = pending_.pop_front();
    owed_bytes_ -= p.cost;
    if (p.kind == MessageKind::parse && p.stmt && p.stmt->record_pending) {
      emit_stmt(*p.stmt, std::nullopt);
    }
    return p;
  }

  void on_query(const pgwire::Frame& f, MonoTime t) {
    std::string_view sql;
    if (auto q = fe::decode_query(f); q.ok()) {
      sql = q.value.sql;
    } else {
      sql = fe::leading_cstrings(f).first;
    }
    // A simple Query works through the unnamed statement and portal: it drops both.
    unnamed_.reset();
    remove_portal("");

    auto analyzed = analyzer_.query(sql);
    const bool multi = analyzed->statements.size() > 1;
    const StatementKind simple_kind = multi ? StatementKind::simple_multi : StatementKind::simple;
    std::size_t cost = 0;
    for (const AnalyzedStatement& s : analyzed->statements) {
      cost += sizeof(QueryItem) + kExecCost + kStmtCost + s.text->sql.size();
    }
    Pending& p = push(MessageKind::query, t, cost);
    p.items.reserve(analyzed->statements.size());
    int position = 0;
    for (const AnalyzedStatement& s : analyzed->statements) {
      QueryItem item;
      switch (s.command) {
        case SqlCommand::prepare: {
          item.prepared = new_stmt(StatementKind::sql_prepare, s.name, s.text, position, t, "");
          if (!statements_.contains(s.name)) statements_[s.name] = item.prepared;
          break;
        }
        case SqlCommand::execute: {
          StmtPtr target = lookup(s.name);
          if (!target || s.name.empty()) {
            target = new_stmt(simple_kind, "", s.text, position, t, "");
          }
          item.exec = new_exec(target, t, "");
          break;
        }
        case SqlCommand::deallocate:
        case SqlCommand::deallocate_all:
        case SqlCommand::discard_all: {
          item.closes = take_closed(s.command, s.name);
          item.exec = new_exec(new_stmt(simple_kind, "", s.text, position, t, ""), t, "");
          break;
        }
        case SqlCommand::other:
          item.exec = new_exec(new_stmt(simple_kind, "", s.text, position, t, ""), t, "");
          break;
      }
      if (item.exec) {
        item.exec->ran = true;
        item.exec->rec.fetches = 1;
      }
      p.items.push_back(std::move(item));
      ++position;
    }
  }

  void on_parse(const pgwire::Frame& f, MonoTime t) {
    std::string_view name, sql;
    std::string param_types;
    if (auto d = fe::decode_parse(f); d.ok()) {
      name = d.value.name;
      sql = d.value.sql;
      if (d.value.param_type_count > 0) {
        param_types = "{";
        for (std::size_t i = 0; i < d.value.param_type_count; ++i) {
          if (i > 0) param_types += ',';
          param_types += std::to_string(d.value.param_type(i));
        }
        param_types += '}';
      }
    } else {
      std::tie(name, sql) = fe::leading_cstrings(f);
    }
    auto analyzed = analyzer_.prepared(sql);
    const AnalyzedStatement& a = analyzed->statements.front();
    const Timing timing = timing_.statement(a.text->hash);
    wants_flush_ = timing == Timing::precise;
    StmtPtr stmt = new_stmt(StatementKind::extended, name, a.text, 0, t, std::move(param_types),
                            timing, /*defer=*/true);
    stmt->command = a.command;
    stmt->target = a.name;
    if (name.empty()) {
      unnamed_ = stmt;
    } else if (!statements_.contains(name)) {  // else the server answers 42P05
      statements_.emplace(std::string(name), stmt);
    }
    // The statement holds its parameter types until its record goes (emit_stmt).
    const std::size_t cost = kStmtCost + stmt->sql->sql.size() + stmt->param_types.size();
    push(MessageKind::parse, t, cost).stmt = std::move(stmt);
  }

  void on_bind(const pgwire::Frame& f, MonoTime t) {
    std::string_view portal, statement;
    std::optional<std::string> params;
    const auto bind = fe::decode_bind(f);
    if (bind.ok()) {
      portal = bind.value.portal;
      statement = bind.value.statement;
      if (config_.record_parameters) params = format_params(bind.value);
    } else {
      std::tie(portal, statement) = fe::leading_cstrings(f);
    }
    StmtPtr stmt = lookup(statement);
    if (!stmt) {
      // Unknown to the tracker: the server will answer 26000; the execution keeps the error.
      stmt = new_stmt(StatementKind::extended, statement, analyzer_.statement(""), 0, t, "");
    }
    ExecPtr exec = new_exec(stmt, t, portal);
    exec->rec.timing = timing_.execution(stmt->timing, !std::exchange(stmt->bound, true));
    wants_flush_ = exec->rec.timing == Timing::precise;
    exec->rec.params = std::move(params);
    if (!config_.record_parameters && bind.ok()) keep_for_masking(*exec, bind.value);
    remove_portal(portal);
    Pending& p =
        push(MessageKind::bind, t, kExecCost + (exec->rec.params ? exec->rec.params->size() : 0));
    add_portal(portal, Portal{exec, p.seq});
    exec->in_portal = true;
    ++exec->pending_refs;
    p.exec = std::move(exec);
  }

  void on_describe(const pgwire::Frame& f, MonoTime t) {
    auto d = fe::decode_describe(f);
    Pending& p = push(MessageKind::describe, t);
    if (!d.ok()) return;
    if (d.value.target == 'S') {
      p.stmt = lookup(d.value.name);
    } else if (auto it = portals_.find(d.value.name); it != portals_.end()) {
      p.exec = it->second.exec;
      ++p.exec->pending_refs;
    }
  }

  void on_execute(const pgwire::Frame& f, MonoTime t) {
    auto d = fe::decode_execute(f);
    Pending& p = push(MessageKind::execute, t);
    std::string_view portal = d.ok() ? d.value.portal : fe::leading_cstrings(f).first;
    if (auto it = portals_.find(portal); it != portals_.end()) {
      ExecPtr exec = it->second.exec;
      ++exec->pending_refs;
      ++exec->rec.fetches;
      exec->ran = true;
      if (exec->rec.fetches == 1 && exec->stmt && exec->stmt->command != SqlCommand::other) {
        exec->closes = take_closed(exec->stmt->command, exec->stmt->target);
      }
      p.exec = std::move(exec);
    }
  }

  void on_close(const pgwire::Frame& f, MonoTime t) {
    auto d = fe::decode_close(f);
    Pending& p = push(MessageKind::close, t);
    if (!d.ok()) return;
    if (d.value.target == 'S') {
      if (d.value.name.empty()) {
        p.stmt = std::move(unnamed_);
      } else if (auto it = statements_.find(d.value.name); it != statements_.end()) {
        p.stmt = std::move(it->second);
        statements_.erase(it);
      }
    } else {
      remove_portal(d.value.name);
    }
  }

  void on_sync(MonoTime t) {
    // During COPY FROM STDIN the server ignores Sync (libpq sends one after Execute).
    if (frontend_copy_in_) return;
    skip_until_sync_ = false;
    push(MessageKind::sync, t);
  }

  static void keep_for_masking(Exec& e, const fe::Bind& b) {
    b.for_each_param([&](std::size_t i, std::optional<pgwire::Bytes> v) {
      if (!v || v->empty() || b.param_format(i) != 0 || e.bound_values_overflow) return;
      if (e.bound_values.size() + 4 + v->size() > kMaskedValueBytes) {
        e.bound_values_overflow = true;
        e.bound_values.clear();
        return;
      }
      const auto len = static_cast<std::uint32_t>(v->size());
      e.bound_values.append(reinterpret_cast<const char*>(&len), 4);
      e.bound_values.append(reinterpret_cast<const char*>(v->data()), v->size());
    });
  }

  std::string format_params(const fe::Bind& b) const {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out = "[";
    b.for_each_param([&](std::size_t i, std::optional<pgwire::Bytes> v) {
      if (i > 0) out += ',';
      if (!v) {
        out += "null";
        return;
      }
      if (b.param_format(i) == 0) {
        std::string_view text(reinterpret_cast<const char*>(v->data()), v->size());
        append_json_string(out, cut_utf8(text, config_.max_sql_length));
      } else {
        out += "\"\\\\x";
        const std::size_t n = std::min(v->size(), config_.max_sql_length / 2);
        for (std::size_t k = 0; k < n; ++k) {
          out.push_back(kHex[(*v)[k] >> 4]);
          out.push_back(kHex[(*v)[k] & 0xf]);
        }
        out += '"';
      }
    });
    out += ']';
    return out;
  }

  // ---- backend -------------------------------------------------------------------------

  // The start of the head entry: the later of its arrival and the previous response.
  MonoTime start_of(Pending& p) {
    if (!p.start) {
      p.start = std::max(p.received, last_done_);
      p.item_start = *p.start;
    }
    return *p.start;
  }

  // The execution that the next DataRow / CopyData belongs to.
  Exec* current_exec(MonoTime) {
    if (pending_.empty()) return nullptr;
    Pending& p = pending_.front();
    if (p.kind == MessageKind::execute) return p.exec.get();
    if (p.kind == MessageKind::query && p.item < p.items.size()) {
      start_of(p);
      Exec* e = p.items[p.item].exec.get();
      if (e != nullptr && !e->start) e->start = p.item_start;
      return e;
    }
    return nullptr;
  }

  // Answers read together (one backend read, one timestamp) are timed as a group when the
  // read is over: see flush_timings.
  void timed(Pending& p, MonoTime t) {
    if (!timings_.empty() && timings_.front().at != t) flush_timings();
    timings_.push_back(AnswerTime{p.kind, start_of(p), t});
  }

  // The server sends what it buffered in one go, so answers that arrive together say only
  // how long the group took, not each message: pipeline-aware starts would charge it all to
  // the first one (a Describe whose answer waited with the rows got the execution time and
  // the Execute zero). The group's time goes to the messages that run something (Execute,
  // Query, FunctionCall), split evenly between them; the others' answers were ready as far
  // as anyone can tell, and are observed at zero. A message answered alone keeps its own
  // time.
  void flush_timings() {
    if (timings_.empty()) return;
    auto runs = [](MessageKind k) {
      return k == MessageKind::execute || k == MessageKind::query ||
             k == MessageKind::function_call;
    };
    std::size_t running = 0;
    for (const AnswerTime& g : timings_) running += runs(g.kind) ? 1 : 0;
    const auto group = timings_.front().at - timings_.front().start;
    for (std::size_t i = 0; i < timings_.size(); ++i) {
      const AnswerTime& g = timings_[i];
      std::chrono::nanoseconds d{0};
      if (timings_.size() == 1) {
        d = std::chrono::duration_cast<std::chrono::nanoseconds>(g.at - g.start);
      } else if (running > 0 ? runs(g.kind) : i == 0) {
        d = std::chrono::duration_cast<std::chrono::nanoseconds>(group) /
            static_cast<std::int64_t>(running > 0 ? running : 1);
      }
      sink_.message_timed(g.kind, d);
    }
    // A burst's read of thousands of answers does not keep its vector for the session.
    if (timings_.capacity() > kKeepTimings) {
      std::vector<AnswerTime>().swap(timings_);
    } else {
      timings_.clear();
    }
  }

  // `advance`: the answer's arrival says when the server was done with it, so the next
  // message's phase starts there (DESIGN §2). Not so for answers the server kept in its
  // buffer: a passively timed ParseComplete / BindComplete, or a Describe's answer (never
  // flushed on its own), arrive with whatever the server flushed next — counting from
  // them would leave a passive execution's total near zero.
  void pop(MonoTime t, bool advance = true) {
    Pending p = take_front();
    if (advance) last_done_ = t;
    if (p.exec) release(p.exec);
  }

  bool head_is(MessageKind k) const { return !pending_.empty() && pending_.front().kind == k; }

  void on_parse_complete(MonoTime t) {
    if (!head_is(MessageKind::parse)) return;
    Pending& p = pending_.front();
    timed(p, t);
    if (p.stmt) {
      if (p.stmt->record_pending) {
        p.stmt->parsed = true;
        emit_stmt(*p.stmt, to_wall(t));
      } else {
        stmt_event(*p.stmt, StatementEvent::parsed, t);
      }
      p.stmt->parse_seconds = seconds(start_of(p), t);
    }
    pop(t, !p.stmt || p.stmt->timing == Timing::precise);
  }

  void on_bind_complete(MonoTime t) {
    if (!head_is(MessageKind::bind)) return;
    Pending& p = pending_.front();
    timed(p, t);
    if (p.exec) {
      p.exec->start = start_of(p);
      p.exec->bound = t;
    }
    pop(t, !p.exec || p.exec->rec.timing == Timing::precise);
  }

  void on_close_complete(MonoTime t) {
    if (!head_is(MessageKind::close)) return;
    Pending& p = pending_.front();
    timed(p, t);
    if (p.stmt) stmt_event(*p.stmt, StatementEvent::closed, t);
    pop(t);
  }

  void on_describe_answer(MonoTime t) {
    if (!head_is(MessageKind::describe)) return;  // a Query's RowDescription
    Pending& p = pending_.front();
    timed(p, t);
    if (p.stmt) stmt_event(*p.stmt, StatementEvent::described, t);
    pop(t, false);
  }

  void on_completion(MonoTime t, std::uint64_t offset, std::string_view tag, std::int64_t rows) {
    if (pending_.empty()) return;
    frontend_copy_in_ = false;  // a COPY, if one ran, is over
    Pending& p = pending_.front();
    if (p.kind == MessageKind::execute) {
      timed(p, t);
      if (p.exec && !p.exec->final) {
        finish_exec(*p.exec, p.exec, t, offset, tag, rows);
        for (auto& closed : p.exec->closes) stmt_event(*closed, StatementEvent::closed, t);
        p.exec->closes.clear();
      }
      pop(t);
    } else if (p.kind == MessageKind::query && p.item < p.items.size()) {
      current_exec(t);
      QueryItem& item = p.items[p.item];
      if (item.exec) finish_exec(*item.exec, item.exec, t, offset, tag, rows);
      if (item.prepared) stmt_event(*item.prepared, StatementEvent::parsed, t);
      for (auto& s : item.closes) stmt_event(*s, StatementEvent::closed, t);
      ++p.item;
      p.item_start = t;
    }
  }

  void on_portal_suspended(MonoTime t, std::uint64_t offset) {
    if (!head_is(MessageKind::execute)) return;
    Pending& p = pending_.front();
    timed(p, t);
    if (p.exec) {
      Exec& e = *p.exec;
      if (!e.executed) e.executed = t;
      e.last_suspended = t;
      e.last_response_offset = offset;
      e.last_response_delivered.reset();
      await_delivery(Awaiting{offset, p.exec});
    }
    pop(t);
  }

  void on_copy_response(char type, MonoTime t) {
    Exec* e = current_exec(t);
    if (e != nullptr) {
      if (!e->executed) e->executed = t;
      e->copy_out = type != be::kCopyInResponse;
    }
    if (type == be::kCopyOutResponse || pending_.empty()) return;
    // Copy-in: the Syncs the client sent before it ended the copy are ignored by the server.
    const std::uint64_t ends = pending_.front().copy_ends_before;
    pending_.remove_if_after(1, [&](const Pending& p) {
      const bool ignored = p.kind == MessageKind::sync && p.copy_ends_before == ends;
      if (ignored) owed_bytes_ -= p.cost;
      return ignored;
    });
    if (copy_ends_ == ends) frontend_copy_in_ = true;
  }

  void on_error(const pgwire::Frame& f, MonoTime t, std::uint64_t offset) {
    if (!ready_seen_) {
      startup_error_ = true;
      return;
    }
    if (pending_.empty()) return;
    frontend_copy_in_ = false;
    // A huge error (one that echoes a huge value) reaches us cut by the framer.
    auto d = f.complete() ? be::decode_error_fields(f) : be::decode_error_fields_prefix(f);
    ErrorInfo err;
    if (d.ok()) {
      err.sqlstate = d.value.sqlstate;
      // Enough to find every bound value the message may echo, not the whole of a
      // message that echoes a huge one: fail_exec masks, then cuts at max_error_length.
      err.message =
          std::string(cut_utf8(d.value.message, config_.max_error_length + kMaskedValueBytes));
    }
    err.status = ExecutionStatus::error;
    if (err.sqlstate == "57014" && cancel_requested_) {
      err.status = ExecutionStatus::canceled;
      cancel_requested_ = false;
    }
    Pending& p = pending_.front();
    switch (p.kind) {
      case MessageKind::query: {
        current_exec(t);
        if (p.item < p.items.size()) {
          QueryItem& item = p.items[p.item];
          if (item.exec) fail_exec(item.exec, t, offset, err);
          if (item.prepared) unregister(item.prepared);
          // The rest of the Query is not run.
          for (std::size_t i = p.item + 1; i < p.items.size(); ++i) abort_item(p.items[i]);
          p.item = p.items.size();
        }
        return;
      }
      case MessageKind::function_call:
      case MessageKind::sync:  // e.g. a deferred constraint failing at the implicit commit
        return;
      case MessageKind::parse:
      case MessageKind::bind:
      case MessageKind::describe:
      case MessageKind::execute:
      case MessageKind::close: {
        timed(p, t);
        StmtPtr culprit;
        if (p.kind == MessageKind::parse || (p.kind == MessageKind::describe && p.stmt)) {
          culprit = p.stmt;
          if (p.kind == MessageKind::parse) unregister(p.stmt);
        }
        if (p.exec && !p.exec->final) {
          if (p.kind == MessageKind::bind) p.exec->start = start_of(p);
          fail_exec(p.exec, t, offset, err);
        }
        if (p.kind == MessageKind::bind) drop_portal_of(p.exec);
        pop(t);
        // The failed Parse's error goes to the first execution of that statement that the
        // server now skips; the others are aborted.
        skip_pending(t, culprit, &err, offset);
        if (pending_.empty()) skip_until_sync_ = true;
        return;
      }
    }
  }

  struct ErrorInfo {
    ExecutionStatus status = ExecutionStatus::error;
    std::string sqlstate;
    std::string message;
  };

  // Drops every entry up to the next Sync: the server skips those messages.
  void skip_pending(MonoTime t, const StmtPtr& culprit, const ErrorInfo* err = nullptr,
                    std::uint64_t offset = 0) {
    bool attributed = false;
    while (!pending_.empty() && pending_.front().kind != MessageKind::sync) {
      Pending p = take_front();
      if (p.kind == MessageKind::parse) unregister(p.stmt);
      if (p.kind == MessageKind::bind) drop_portal_of(p.exec);
      if (p.exec && !p.exec->final &&
          (p.kind == MessageKind::bind || p.kind == MessageKind::execute)) {
        if (!attributed && culprit && err != nullptr && p.exec->stmt == culprit) {
          attributed = true;
          fail_exec(p.exec, t, offset, *err);
        } else {
          abort_exec(p.exec);
        }
      }
      if (p.kind == MessageKind::query) {
        for (auto& item : p.items) abort_item(item);
      }
      if (p.exec) release(p.exec);
    }
  }

  void on_ready(const pgwire::Frame& f, MonoTime t) {
    if (!ready_seen_) {
      ready_seen_ = true;
      opened_emitted_ = true;
      session_.ready_at = to_wall(t);
      sink_.session_opened(session_);
      return;
    }
    auto d = be::decode_ready_for_query(f);
    std::uint64_t ready_seq = 0;
    while (!pending_.empty()) {
      Pending& p = pending_.front();
      const MessageKind k = p.kind;
      if (k == MessageKind::query || k == MessageKind::sync || k == MessageKind::function_call) {
        if (k != MessageKind::function_call) timed(p, t);
        if (k == MessageKind::query) {
          for (std::size_t i = p.item; i < p.items.size(); ++i) abort_item(p.items[i]);
        }
        ready_seq = p.seq;
        pop(t);
        break;
      }
      // A request the server should have answered before ReadyForQuery: resynchronise.
      Pending lost = take_front();
      abort_entry(lost);
    }
    if (ready_seq != 0 && d.ok() && d.value.status == 'I') {
      // Outside a transaction block no portal survives.
      remove_portals_bound_before(ready_seq);
    }
    if (pending_.empty()) cancel_requested_ = false;
  }

  // ---- statements and executions ------------------------------------------------------

  // `timing`: of its Parse (extended); the rows of the simple protocol take simple()'s.
  // `defer`: an extended Parse's; its record goes out with its ParseComplete (emit_stmt).
  StmtPtr new_stmt(StatementKind kind, std::string_view name, std::shared_ptr<const SqlText> sql,
                   int position, MonoTime t, std::string param_types,
                   std::optional<Timing> timing = std::nullopt, bool defer = false) {
    auto s = std::allocate_shared<Stmt>(PoolAllocator<Stmt>(stmt_pool_));
    uuid_v7_into(s->id_text.data());
    s->kind = kind;
    s->name = std::string(name);
    s->sql = std::move(sql);
    s->timing = timing.value_or(timing_.simple());
    s->param_types = std::move(param_types);
    s->received_at = to_wall(t);
    if (defer) {
      s->record_pending = true;
    } else {
      emit_stmt(*s, std::nullopt, position);
    }
    return s;
  }

  void emit_stmt(Stmt& s, std::optional<WallMicros> parsed_at, int position = 0) {
    s.record_pending = false;
    // One record, refilled for every statement: its strings keep their buffers (the sinks
    // copy what they keep).
    StatementRecord& r = stmt_record_;
    r.id.assign(s.id());
    r.session_id.assign(session_.id);
    r.kind = s.kind;
    r.name.assign(s.name);
    r.position = position;
    // Lent, not copied: the text's count is shared with the writer, which drops the
    // references its items held (an atomic on a line of its core).
    r.sql = std::move(s.sql);
    r.param_types = std::move(s.param_types);  // the statement needs them no more
    r.received_at = s.received_at;
    r.timing = s.timing;
    r.parsed_at = parsed_at;
    try {
      sink_.statement(r);
    } catch (...) {
      s.sql = std::move(r.sql);
      throw;
    }
    s.sql = std::move(r.sql);
  }

  void stmt_event(Stmt& s, StatementEvent e, MonoTime t) {
    if (s.record_pending) emit_stmt(s, std::nullopt);  // its record before any of its events
    bool& done = e == StatementEvent::parsed      ? s.parsed
                 : e == StatementEvent::described ? s.described
                                                  : s.closed;
    if (done) return;
    done = true;
    StatementEventRecord& r = stmt_event_record_;
    r.statement_id.assign(s.id());
    r.event = e;
    r.occurred_at = to_wall(t);
    sink_.statement_event(r);
  }

  ExecPtr new_exec(const StmtPtr& stmt, MonoTime t, std::string_view portal) {
    auto e = std::allocate_shared<Exec>(PoolAllocator<Exec>(exec_pool_));
    e->stmt = stmt;
    e->received = t;
    ExecutionRecord& r = e->rec;
    if (!spare_records_.empty()) {
      RecordBuffers& b = spare_records_.back();
      r.id = std::move(b.id);
      r.statement_id = std::move(b.statement_id);
      r.session_id = std::move(b.session_id);
      r.events = std::move(b.events);
      spare_records_.pop_back();
    }
    uuid_v7_into(r.id);
    r.statement_id.assign(stmt->id());
    r.session_id.assign(session_.id);
    r.portal = std::string(portal);
    r.began_at = to_wall(t);
    r.application_name = session_.application_name;
    r.kind = stmt->kind;
    r.sql = stmt->sql;
    r.timing = stmt->timing;  // a Bind decides its own (on_bind)
    r.user_name = session_.user_name;
    r.database_name = session_.database_name;
    return e;
  }

  StmtPtr lookup(std::string_view name) const {
    if (name.empty()) return unnamed_;
    auto it = statements_.find(name);
    return it == statements_.end() ? nullptr : it->second;
  }

  void unregister(const StmtPtr& s) {
    if (!s) return;
    if (unnamed_ == s) unnamed_.reset();
    if (auto it = statements_.find(s->name); it != statements_.end() && it->second == s) {
      statements_.erase(it);
    }
  }

  void finish_exec(Exec& e, const ExecPtr& ptr, MonoTime t, std::uint64_t offset,
                   std::string_view tag, std::int64_t tag_rows) {
    if (!e.executed) e.executed = t;
    e.finished = t;
    e.rec.command_tag = std::string(tag);
    // A suspended portal's last tag counts only its last fetch: DataRows win.
    if (!e.has_rows && tag_rows >= 0) e.rec.rows = tag_rows;
    e.rec.status = ExecutionStatus::success;
    e.final = true;
    e.last_response_offset = offset;
    e.last_response_delivered.reset();
    await_delivery(Awaiting{offset, ptr});
  }

  void fail_exec(const ExecPtr& e, MonoTime t, std::uint64_t offset, const ErrorInfo& err) {
    if (e->final) return;
    if (!e->executed) e->executed = t;
    e->finished = t;
    e->rec.status = err.status;
    e->rec.sqlstate = err.sqlstate;
    e->rec.error_message =
        std::string(cut_utf8(mask_bound_values(err.message, *e), config_.max_error_length));
    e->bound_values.clear();
    e->final = true;
    e->last_response_offset = offset;
    e->last_response_delivered.reset();
    await_delivery(Awaiting{offset, e});
  }

  void abort_exec(const ExecPtr& e) {
    if (!e || e->final) return;
    e->rec.status = ExecutionStatus::aborted;
    e->final = true;
    // Queued behind the responses already read, so records leave in pipeline order.
    e->last_response_offset = backend_offset_;
    await_delivery(Awaiting{backend_offset_, e});
    drain_awaiting();
  }

  void abort_item(QueryItem& item) {
    if (item.exec) abort_exec(item.exec);
    if (item.prepared) unregister(item.prepared);
  }

  void abort_entry(Pending& p) {
    if (p.kind == MessageKind::query) {
      for (auto& item : p.items) abort_item(item);
    }
    if (p.exec) {
      if (p.kind != MessageKind::describe) abort_exec(p.exec);
      release(p.exec);
    }
  }

  // A pending entry no longer refers to `e`.
  void release(const ExecPtr& e) {
    --e->pending_refs;
    settle(e);
  }

  void drop_portal_of(const ExecPtr& e) {
    if (!e) return;
    if (auto it = portals_.find(e->rec.portal); it != portals_.end() && it->second.exec == e) {
      erase_portal(it);
      e->in_portal = false;
    }
  }

  void remove_portal(std::string_view name) {
    auto it = portals_.find(name);
    if (it == portals_.end()) return;
    ExecPtr e = std::move(it->second.exec);
    erase_portal(it);
    e->in_portal = false;
    settle(e);
  }

  // Every Bind makes a portal and the next Sync removes it: the map's node is kept for
  // the next one instead of being freed and allocated again.
  void erase_portal(std::map<std::string, Portal, std::less<>>::iterator it) {
    auto node = portals_.extract(it);
    if (spare_portal_.empty()) {
      node.mapped().exec.reset();
      spare_portal_ = std::move(node);
    }
  }

  void add_portal(std::string_view name, Portal p) {
    if (auto it = portals_.find(name); it != portals_.end()) {
      it->second = std::move(p);
      return;
    }
    if (spare_portal_.empty()) {
      portals_.emplace(std::string(name), std::move(p));
      return;
    }
    spare_portal_.key().assign(name);
    spare_portal_.mapped() = std::move(p);
    portals_.insert(std::move(spare_portal_));
    spare_portal_ = {};
  }

  // What DEALLOCATE name / DEALLOCATE ALL / DISCARD ALL remove from the namespaces (taken
  // when the command is sent, like every namespace change); `closed` follows at completion.
  std::vector<StmtPtr> take_closed(SqlCommand command, const std::string& name) {
    std::vector<StmtPtr> out;
    if (command == SqlCommand::deallocate) {
      if (auto it = statements_.find(name); it != statements_.end()) {
        out.push_back(std::move(it->second));
        statements_.erase(it);
      }
    } else if (command == SqlCommand::deallocate_all || command == SqlCommand::discard_all) {
      for (auto& [n, stmt] : statements_) out.push_back(std::move(stmt));
      statements_.clear();
    }
    if (command == SqlCommand::discard_all) remove_portals_bound_before(seq_ + 1);
    return out;
  }

  void remove_portals_bound_before(std::uint64_t seq) {
    for (auto it = portals_.begin(); it != portals_.end();) {
      if (it->second.bind_seq >= seq) {
        ++it;
        continue;
      }
      ExecPtr e = std::move(it->second.exec);
      erase_portal(it++);
      e->in_portal = false;
      settle(e);
    }
  }

  // An execution that neither a portal nor a pending message refers to any more.
  void settle(const ExecPtr& e) {
    if (e->final || e->in_portal || e->pending_refs > 0) return;
    if (e->last_suspended) {
      // An abandoned portal: finished at its last PortalSuspended.
      e->finished = e->last_suspended;
      e->rec.status = ExecutionStatus::success;
      e->final = true;
      if (e->last_response_delivered) {
        e->delivered = e->last_response_delivered;
        emit(*e);
      }
      // Otherwise its Awaiting entry (still queued) emits it once written.
    } else if (e->ran) {
      abort_exec(e);
    } else {
      e->emitted = true;  // bound, never executed: not an execution
    }
  }

  void drain_awaiting() {
    while (!awaiting_.empty() && awaiting_.front().offset <= written_) {
      Awaiting a = take_awaiting();
      Exec& e = *a.exec;
      if (e.emitted) continue;
      if (e.rec.status == ExecutionStatus::aborted && e.final) {
        emit(e);
        continue;
      }
      if (a.offset != e.last_response_offset) continue;
      e.last_response_delivered = last_write_;
      if (e.final) {
        e.delivered = last_write_;
        emit(e);
      }
    }
  }

  void emit(Exec& e) {
    if (e.emitted) return;
    e.emitted = true;
    if (e.rec.sql) last_sql_ = e.rec.sql;
    ExecutionRecord& r = e.rec;
    r.events.clear();
    r.events.reserve(5);  // one allocation for all of them, not three as it grows
    r.events.emplace_back(ExecutionEvent::received, to_wall(e.received));
    if (e.bound) r.events.emplace_back(ExecutionEvent::bound, to_wall(*e.bound));
    // An aborted execution may have begun returning rows; it never finished.
    if (e.executed) r.events.emplace_back(ExecutionEvent::executed, to_wall(*e.executed));
    if (e.rec.status != ExecutionStatus::aborted) {
      if (e.finished) {
        r.finished_at = to_wall(*e.finished);
        r.events.emplace_back(ExecutionEvent::finished, *r.finished_at);
      }
      if (e.delivered) r.events.emplace_back(ExecutionEvent::delivered, to_wall(*e.delivered));
    }
    if (e.start) {
      if (e.bound) r.bind_seconds = seconds(*e.start, *e.bound);
      if (e.executed) r.first_row_seconds = seconds(*e.start, *e.executed);
      if (e.finished && r.status != ExecutionStatus::aborted) {
        r.total_seconds = seconds(*e.start, *e.finished);
      }
    }
    if (e.finished && e.delivered) r.deliver_seconds = seconds(*e.finished, *e.delivered);
    if (e.stmt && e.stmt->parse_seconds) {
      const auto parse = std::exchange(e.stmt->parse_seconds, {});
      if (e.stmt->timing == Timing::precise) r.parse_seconds = parse;
    }
    sink_.execution(r);
    e.stmt.reset();
    // Nothing reads these once the record is out (the sinks copied what they keep).
    if (spare_records_.size() < kSpareRecords) {
      spare_records_.push_back(RecordBuffers{std::move(r.id), std::move(r.statement_id),
                                             std::move(r.session_id), std::move(r.events)});
    }
  }

  // First: every statement and execution pointer below is freed into them.
  BlockPool exec_pool_;
  BlockPool stmt_pool_;
  const TrackerConfig config_;
  Sink& sink_;
  SqlAnalyzer analyzer_;
  TimingPolicy timing_;
  bool wants_flush_ = false;  // of the last frontend message (wants_flush())

  bool begun_ = false;
  bool ended_ = false;
  bool authenticated_ = false;
  bool ready_seen_ = false;
  bool opened_emitted_ = false;
  bool startup_error_ = false;
  SessionRecord session_;

  StmtPtr unnamed_;
  std::map<std::string, StmtPtr, std::less<>> statements_;
  std::map<std::string, Portal, std::less<>> portals_;
  std::map<std::string, Portal, std::less<>>::node_type spare_portal_;
  StatementRecord stmt_record_;             // new_stmt's, reused
  StatementEventRecord stmt_event_record_;  // stmt_event's, reused

  // What emitted execution records leave for the next ones: their id strings and event
  // vector keep their buffers, so that a new record allocates none of them.
  struct RecordBuffers {
    std::string id, statement_id, session_id;
    std::vector<std::pair<ExecutionEvent, WallMicros>> events;
  };
  static constexpr std::size_t kSpareRecords = 8;
  std::vector<RecordBuffers> spare_records_ = [] {
    std::vector<RecordBuffers> v;
    v.reserve(kSpareRecords);
    return v;
  }();

  Ring<Pending> pending_;
  std::shared_ptr<const SqlText> last_sql_;  // of the last execution emitted (activity)
  std::size_t owed_bytes_ = 0;               // sum of the pending entries' cost
  std::uint64_t seq_ = 0;
  MonoTime last_done_{};
  bool skip_until_sync_ = false;
  bool cancel_requested_ = false;
  bool frontend_copy_in_ = false;
  std::uint64_t copy_ends_ = 0;

  struct AnswerTime {
    MessageKind kind;
    MonoTime start;
    MonoTime at;
  };
  std::vector<AnswerTime> timings_;  // answers of the current backend read, not yet observed
  static constexpr std::size_t kKeepTimings = 1024;

  Ring<Awaiting> awaiting_;
  std::uint64_t written_ = 0;
  std::uint64_t backend_offset_ = 0;
  MonoTime last_write_{};
};

}  // namespace

TrackerFactory::TrackerFactory(TrackerConfig config, Sink& sink)
    : config_(std::move(config)), sink_(sink) {}

TrackerFactory::~TrackerFactory() = default;

std::unique_ptr<SessionObserver> TrackerFactory::create() {
  // A different stream per session without shared state: each io thread seeds once.
  thread_local std::uint64_t seed =
      (std::uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
  seed += 0x9e3779b97f4a7c15ull;
  return std::make_unique<Tracker>(config_, sink_, seed);
}

}  // namespace pglc::lifecycle
