#include "explain/command.hpp"

#include <boost/program_options.hpp>
#include <chrono>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <ostream>
#include <sstream>
#include <stdexcept>

#include "config/options.hpp"
#include "explain/render.hpp"
#include "explain/slowest_rank.hpp"
#include "explain/trace.hpp"
#include "storage/reset.hpp"
#include "storage/store_query.hpp"

namespace po = boost::program_options;

namespace pglc::explain {
namespace {

using storage::QueryCell;
using storage::QueryRow;
using storage::StoreQuery;

std::string text(const QueryCell& c) {
  return c.value_or("");
}
std::optional<double> number(const QueryCell& c) {
  if (!c) return std::nullopt;
  return std::stod(*c);
}
std::int64_t integer(const QueryCell& c) {
  return c ? std::stoll(*c) : 0;
}
bool truth(const QueryCell& c) {
  return c && (*c == "1" || *c == "t" || *c == "true");
}

struct NotFound : std::runtime_error {
  using std::runtime_error::runtime_error;
};

ExecutionView read_execution(StoreQuery& q, const std::string& id) {
  const auto rows = q.query(
      "SELECT execution_id, session_id, statement_id, user_name, database_name, "
      "application_name, kind, statement_name, sql, fingerprint, " +
          q.micros("began_at") +
          ", status, sqlstate, error_message, command_tag, rows, result_bytes, fetches, "
          "timing, bind_ms, first_row_ms, execute_ms, total_ms, deliver_ms, " +
          q.micros("bound_at") + ", " + q.micros("executed_at") + ", " + q.micros("finished_at") +
          ", " + q.micros("delivered_at") +
          ", statement_type, origin FROM execution_summary WHERE " +
          q.id_equals("execution_id", "?1"),
      {id});
  if (rows.empty()) throw NotFound("no execution " + id + " in the " + q.describe());
  const QueryRow& r = rows[0];
  ExecutionView e;
  e.id = text(r[0]), e.session_id = text(r[1]), e.statement_id = text(r[2]);
  e.user = text(r[3]), e.database = text(r[4]), e.application = text(r[5]);
  e.kind = text(r[6]), e.statement_name = text(r[7]), e.sql = text(r[8]);
  e.fingerprint = text(r[9]), e.began_us = integer(r[10]);
  e.status = text(r[11]), e.sqlstate = text(r[12]), e.error_message = text(r[13]);
  e.command_tag = text(r[14]), e.rows = integer(r[15]), e.result_bytes = integer(r[16]);
  e.fetches = integer(r[17]), e.timing = text(r[18]);
  e.bind_ms = number(r[19]), e.first_row_ms = number(r[20]), e.execute_ms = number(r[21]);
  e.total_ms = number(r[22]), e.deliver_ms = number(r[23]);
  auto at = [](const QueryCell& c) -> std::optional<std::int64_t> {
    if (!c) return std::nullopt;
    return std::stoll(*c);
  };
  e.bound_us = at(r[24]), e.executed_us = at(r[25]), e.finished_us = at(r[26]);
  e.delivered_us = at(r[27]);
  e.statement_type = text(r[28]), e.origin = text(r[29]);
  // The statement's parse time belongs to its first execution.
  const auto parse = q.query(
      "SELECT s.parse_ms, (SELECT count(*) FROM executions x WHERE x.statement_id = st.id AND "
      "x.id < e.id), " +
          q.micros("st.parsed_at") +
          " FROM statement_summary s JOIN statements st ON st.id = s.statement_id "
          "JOIN executions e ON e.statement_id = st.id WHERE " +
          q.id_equals("e.id", "?1"),
      {id});
  if (!parse.empty() && parse[0][1] && *parse[0][1] == "0") {
    e.parse_ms = number(parse[0][0]);
    if (e.parse_ms) e.parsed_us = at(parse[0][2]);  // NULL parse_ms: timed passively
  }
  if (!e.fingerprint.empty()) {
    const auto stats = q.query(
        "SELECT p50_ms, p95_ms, calls FROM query_stats WHERE fingerprint = ?1 AND "
        "user_name = ?2 AND database_name = ?3",
        {e.fingerprint, e.user, e.database});
    if (!stats.empty()) {
      e.p50_ms = number(stats[0][0]), e.p95_ms = number(stats[0][1]);
      if (stats[0][2]) e.calls = integer(stats[0][2]);
    }
  }
  return e;
}

SessionView read_session(StoreQuery& q, const std::string& id, std::size_t limit) {
  const auto rows = q.query(
      "SELECT session_id, user_name, database_name, application_name, client_addr, "
      "client_port, client_tls, backend_tls, backend_pid, " +
          q.micros("connected_at") + ", " + q.micros("disconnected_at") +
          ", end_reason, tls_ms, startup_ms, backend_ms, auth_ms, connect_ms, duration_ms, "
          "executions, proxy_instance FROM session_summary WHERE " +
          q.id_equals("session_id", "?1"),
      {id});
  if (rows.empty()) throw NotFound("no session " + id + " in the " + q.describe());
  const QueryRow& r = rows[0];
  SessionView s;
  s.id = text(r[0]), s.user = text(r[1]), s.database = text(r[2]), s.application = text(r[3]);
  s.client_addr = text(r[4]), s.client_port = integer(r[5]);
  s.client_tls = truth(r[6]), s.backend_tls = truth(r[7]);
  if (r[8]) s.backend_pid = integer(r[8]);
  s.connected_us = integer(r[9]);
  if (r[10]) s.disconnected_us = integer(r[10]);
  s.end_reason = text(r[11]);
  s.tls_ms = number(r[12]), s.startup_ms = number(r[13]), s.backend_ms = number(r[14]);
  s.auth_ms = number(r[15]), s.connect_ms = number(r[16]), s.duration_ms = number(r[17]);
  s.execution_count = integer(r[18]), s.proxy_instance = text(r[19]);
  // A statement's parse is its first execution's, when it was timed precisely.
  const auto xs = q.query(
      "SELECT es.execution_id, " + q.micros("es.began_at") + ", " + q.micros("es.finished_at") +
          ", es.total_ms, es.status, es.sqlstate, es.error_message, es.kind, "
          "es.statement_name, es.sql, es.timing, es.fingerprint, es.rows, es.result_bytes, " +
          q.micros("es.bound_at") + ", " + q.micros("es.executed_at") + ", " +
          q.micros("es.delivered_at") +
          ", es.origin, CASE WHEN st.timing = 'precise' AND NOT EXISTS "
          "(SELECT 1 FROM executions x WHERE x.statement_id = es.statement_id AND "
          "x.id < es.execution_id) THEN " +
          q.micros("st.parsed_at") +
          " END FROM execution_summary es LEFT JOIN statements st ON st.id = es.statement_id "
          "AND st.session_id = es.session_id WHERE " +
          q.id_equals("es.session_id", "?1") + " ORDER BY es.began_at, es.execution_id LIMIT " +
          std::to_string(limit),
      {id});
  auto at = [](const QueryCell& c) -> std::optional<std::int64_t> {
    if (!c) return std::nullopt;
    return std::stoll(*c);
  };
  for (const QueryRow& x : xs) {
    SessionExecution e;
    e.id = text(x[0]), e.began_us = integer(x[1]), e.finished_us = at(x[2]);
    e.total_ms = number(x[3]), e.status = text(x[4]), e.sqlstate = text(x[5]);
    e.error_message = text(x[6]), e.kind = text(x[7]), e.statement_name = text(x[8]);
    e.sql = text(x[9]), e.timing = text(x[10]), e.fingerprint = text(x[11]);
    e.rows = integer(x[12]), e.result_bytes = integer(x[13]);
    e.bound_us = at(x[14]), e.executed_us = at(x[15]), e.delivered_us = at(x[16]);
    e.origin = text(x[17]), e.parsed_us = at(x[18]);
    s.executions.push_back(std::move(e));
  }
  return s;
}

SlowestView read_slowest(const std::string& storage_spec, StoreQuery& q, std::size_t n,
                         std::int64_t since_us, const RankFilter& filter) {
  // Ranked on the executions table alone (explain/slowest_rank.hpp), and only the n found
  // go through execution_summary's joins: ranking the view itself joined every execution
  // of the range (5.2 s over the 10-million-execution store).
  const std::vector<std::string> ids =
      slowest_ids(storage_spec, q, n, since_us, filter, default_rank_slices());
  storage::QueryRows rows;
  if (!ids.empty()) {
    std::string list;
    for (const std::string& id : ids) list += (list.empty() ? "" : ", ") + q.id_literal(id);
    rows = q.query("SELECT execution_id, " + q.micros("began_at") +
                       ", total_ms, status, sqlstate, application_name, sql FROM "
                       "execution_summary WHERE execution_id IN (" +
                       list + ") ORDER BY total_ms DESC, execution_id",
                   {});
  }
  SlowestView v;
  v.since_us = since_us;
  v.limit = n;
  for (const QueryRow& r : rows) {
    SlowRow s;
    s.id = text(r[0]), s.began_us = integer(r[1]), s.total_ms = number(r[2]);
    s.status = text(r[3]), s.sqlstate = text(r[4]), s.application = text(r[5]);
    s.sql = text(r[6]);
    v.rows.push_back(std::move(s));
  }
  return v;
}

}  // namespace

int run(int argc, const char* const argv[], std::ostream& out, std::ostream& err,
        bool out_is_terminal) {
  po::options_description desc(
      "pglifecycle explain: where the time of an execution or a session went\n\n"
      "  pglifecycle explain --execution ID      one execution as a tree of its phases\n"
      "  pglifecycle explain --session ID        a session's connect and executions\n"
      "  pglifecycle explain --slowest N [--since 1h] [--fingerprint F] [--application A]\n\n"
      "Options");
  desc.add_options()("help,h", "this text")(
      "storage", po::value<std::string>()->default_value("sqlite:pglifecycle.db"),
      "the store, as the proxy's --storage: sqlite:PATH or postgresql://...")(
      "execution", po::value<std::string>(), "an execution id (execution_summary.execution_id)")(
      "session", po::value<std::string>(), "a session id (session_summary.session_id)")(
      "slowest", po::value<std::size_t>(), "the N slowest executions")(
      "since", po::value<std::string>()->default_value("1h"),
      "with --slowest: how far back (30m, 12h, 7d)")("fingerprint",
                                                     po::value<std::string>()->default_value(""),
                                                     "with --slowest: only this fingerprint")(
      "application", po::value<std::string>()->default_value(""),
      "with --slowest: only application_name LIKE this pattern (PowerBI%)")(
      "limit", po::value<std::size_t>()->default_value(1000),
      "with --session: show at most this many executions")(
      "format", po::value<std::string>()->default_value("text"), "text or json");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);  // skips argv[0]
    po::notify(vm);
  } catch (const std::exception& e) {
    err << "pglifecycle explain: " << e.what() << "\n";
    return 2;
  }
  if (vm.count("help")) {
    out << desc << "\n";
    return 0;
  }
  const std::string format = vm["format"].as<std::string>();
  const int modes =
      static_cast<int>(vm.count("execution") + vm.count("session") + vm.count("slowest"));
  if (modes != 1 || (format != "text" && format != "json")) {
    err << "pglifecycle explain: give one of --execution ID, --session ID or --slowest N, and "
           "--format text or json (see --help)\n";
    return 2;
  }
  const bool json = format == "json";
  try {
    auto q = storage::open_store_query(vm["storage"].as<std::string>());
    if (vm.count("execution")) {
      const ExecutionView e = read_execution(*q, vm["execution"].as<std::string>());
      out << (json ? render_json(e) : render_text(e, out_is_terminal));
    } else if (vm.count("session")) {
      const SessionView s =
          read_session(*q, vm["session"].as<std::string>(), vm["limit"].as<std::size_t>());
      out << (json ? render_json(s) : render_text(s, out_is_terminal));
    } else {
      const auto since = config::parse_duration(vm["since"].as<std::string>());
      if (!since) {
        err << "pglifecycle explain: --since expects a duration such as 30m, 12h or 7d\n";
        return 2;
      }
      const auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
      const SlowestView v =
          read_slowest(vm["storage"].as<std::string>(), *q, vm["slowest"].as<std::size_t>(),
                       now - since->count(),
                       {vm["fingerprint"].as<std::string>(), vm["application"].as<std::string>()});
      out << (json ? render_json(v) : render_text(v, out_is_terminal));
    }
  } catch (const std::exception& e) {
    err << "pglifecycle explain: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace pglc::explain

namespace pglc::explain {

int run_trace(int argc, const char* const argv[], std::ostream& out, std::ostream& err) {
  po::options_description desc(
      "pglifecycle trace: sessions as a Chrome Trace Event file for ui.perfetto.dev or "
      "chrome://tracing\n\n"
      "  pglifecycle trace --session ID [--session ID ...] [-o trace.json]\n"
      "  pglifecycle trace [--since 1h] [--application PATTERN] [--max-sessions 50] [-o FILE]\n\n"
      "Options");
  desc.add_options()("help,h", "this text")(
      "storage", po::value<std::string>()->default_value("sqlite:pglifecycle.db"),
      "the store, as the proxy's --storage: sqlite:PATH or postgresql://...")(
      "session", po::value<std::vector<std::string>>()->composing(), "a session id (repeatable)")(
      "since", po::value<std::string>()->default_value("1h"),
      "without --session: sessions connected this recently (30m, 12h, 7d)")(
      "application", po::value<std::string>()->default_value(""),
      "without --session: only application_name LIKE this pattern (PowerBI%)")(
      "max-sessions", po::value<std::size_t>()->default_value(50), "at most this many sessions")(
      "limit", po::value<std::size_t>()->default_value(10000),
      "at most this many executions per session")(
      "output,o", po::value<std::string>()->default_value("-"), "the file to write (- : stdout)");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);  // skips argv[0]
    po::notify(vm);
  } catch (const std::exception& e) {
    err << "pglifecycle trace: " << e.what() << "\n";
    return 2;
  }
  if (vm.count("help")) {
    out << desc << "\n";
    return 0;
  }
  try {
    auto q = storage::open_store_query(vm["storage"].as<std::string>());
    std::vector<std::string> ids;
    if (vm.count("session")) {
      ids = vm["session"].as<std::vector<std::string>>();
    } else {
      const auto since = config::parse_duration(vm["since"].as<std::string>());
      if (!since) {
        err << "pglifecycle trace: --since expects a duration such as 30m, 12h or 7d\n";
        return 2;
      }
      const auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
      const std::int64_t from = now - since->count();
      std::vector<std::string> params{std::to_string(from)};
      std::string where = q->id_since("session_id", from) + " AND " + q->micros("connected_at") +
                          " >= CAST(?1 AS BIGINT)";
      if (const auto& app = vm["application"].as<std::string>(); !app.empty()) {
        params.push_back(app);
        where += " AND application_name LIKE ?2";
      }
      for (const auto& r : q->query("SELECT session_id FROM session_summary WHERE " + where +
                                        " ORDER BY connected_at LIMIT " +
                                        std::to_string(vm["max-sessions"].as<std::size_t>()),
                                    params)) {
        ids.push_back(text(r[0]));
      }
    }
    std::vector<SessionView> sessions;
    for (const std::string& id : ids) {
      sessions.push_back(read_session(*q, id, vm["limit"].as<std::size_t>()));
    }
    const std::string trace = render_trace(sessions);
    const std::string path = vm["output"].as<std::string>();
    if (path == "-") {
      out << trace;
    } else {
      std::ofstream f(path, std::ios::binary | std::ios::trunc);
      f << trace;
      if (!f.good()) throw std::runtime_error("cannot write " + path);
      err << "pglifecycle trace: " << sessions.size() << " session(s) written to " << path
          << " (open it in ui.perfetto.dev or chrome://tracing)\n";
    }
  } catch (const std::exception& e) {
    err << "pglifecycle trace: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace pglc::explain

namespace pglc::explain {
namespace {

// "7d" (that long ago) or an ISO 8601 time in UTC ("2026-12-01", "2026-12-01T08:30:00Z",
// "2026-12-01 08:30:00"). nullopt when it is neither.
std::optional<std::int64_t> time_before(const std::string& text, std::int64_t now_us) {
  if (auto d = config::parse_duration(text)) return now_us - d->count();
  std::string t = text;
  for (char& c : t) {
    if (c == 'T') c = ' ';
  }
  if (!t.empty() && (t.back() == 'Z' || t.back() == 'z')) t.pop_back();
  for (const char* fmt : {"%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"}) {
    std::tm tm{};
    std::istringstream in(t);
    in >> std::get_time(&tm, fmt);
    if (!in.fail() && in.peek() == std::char_traits<char>::eof()) {
      return static_cast<std::int64_t>(timegm(&tm)) * 1'000'000;
    }
  }
  return std::nullopt;
}

}  // namespace

int run_reset(int argc, const char* const argv[], std::ostream& out, std::ostream& err) {
  po::options_description desc(
      "pglifecycle reset: clear what a store has seen (as pg_stat_statements_reset), in small "
      "transactions, also while proxies write to it\n\n"
      "  pglifecycle reset --all              every raw row and minute rollup, and the all-time\n"
      "                                       totals of query_stats and error_stats\n"
      "  pglifecycle reset --before TIME      raw rows and minute rollups older than TIME (7d,\n"
      "                                       or 2026-12-01T08:00:00Z); the totals stay\n\n"
      "Options");
  desc.add_options()("help,h", "this text")(
      "storage", po::value<std::string>()->default_value("sqlite:pglifecycle.db"),
      "the store, as the proxy's --storage: sqlite:PATH or postgresql://...")(
      "all", po::bool_switch(), "everything, the all-time totals included")(
      "before", po::value<std::string>(), "only what is older than this");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);  // skips argv[0]
    po::notify(vm);
  } catch (const std::exception& e) {
    err << "pglifecycle reset: " << e.what() << "\n";
    return 2;
  }
  if (vm.count("help")) {
    out << desc << "\n";
    return 0;
  }
  const bool all = vm["all"].as<bool>();
  if (all == (vm.count("before") > 0)) {
    err << "pglifecycle reset: give --all or --before TIME (see --help)\n";
    return 2;
  }
  const auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  std::int64_t before = now;
  if (!all) {
    const auto t = time_before(vm["before"].as<std::string>(), now);
    if (!t) {
      err << "pglifecycle reset: --before expects a duration (7d) or a UTC time "
             "(2026-12-01T08:00:00Z)\n";
      return 2;
    }
    before = *t;
  }
  try {
    const storage::ResetReport r =
        storage::reset_store(vm["storage"].as<std::string>(), all, before, now);
    out << "deleted " << r.raw_rows << " raw rows and " << r.minute_rows << " minute rollups"
        << (r.totals ? "; the all-time totals start again now" : "; the all-time totals stay")
        << "\n";
  } catch (const std::exception& e) {
    err << "pglifecycle reset: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace pglc::explain
