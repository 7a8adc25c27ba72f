// Soak workload for bench/soak.sh: SESSIONS concurrent libpq sessions, mostly idle, each
// doing one unit of work every THINK_MIN..THINK_MAX ms for SECONDS, from a pool of threads
// (PER_THREAD sessions each, run one after another: the machine has few cores, so the
// driver stays cheap). A share of the sessions connects with sslmode=require, the others
// with sslmode=disable. Units, picked at random by weight:
//
//   simple          Query: one SELECT                                          1 execution
//   simple_multi    Query: two SELECTs in one message                          2
//   extended        PQexecParams (unnamed statement), text or binary results   1
//   prepared        PQexecPrepared of the session's named statement            1
//   pipeline        pipeline mode, Npgsql-like: 3 x Parse/Bind/Describe/Execute
//                   + 1 x Bind/Describe/Execute of the named statement, 1 Sync 4
//   pipeline_error  pipeline of 3 with a division by zero in the 2nd: 22012,
//                   the 3rd is skipped by the server (aborted)                 3
//   copy_in         BEGIN; COPY soak_copy FROM STDIN (100 rows); ROLLBACK      3
//   copy_out        COPY (SELECT ... 200 rows) TO STDOUT                       1
//   error_div0      Query: SELECT 1/0: 22012                                   1
//   error_unique    PQexecParams INSERT of an existing key: 23505              1
//   cancel          Query: pg_sleep(5), PQcancel after 100 ms: 57014           1
//
// Every unit has an intended outcome ("ok" or "error:SQLSTATE"); the driver counts per
// kind how often each outcome happened, and the session failures (connect failed,
// connection lost, a unit that never returned). bench/soak.sh runs it once directly
// against PostgreSQL and once through the proxy and compares.
//
//   soak_load CONNINFO SESSIONS SECONDS [key=value...]
//     label=NAME tls_percent=25 per_thread=8 think_min_ms=1000 think_max_ms=2000
//     grace=30 (seconds the sessions get to finish their unit after SECONDS) seed=1
//
// CONNINFO gets " sslmode=require" or " sslmode=disable" appended per session. Output on
// stdout, one record per line, key=value (parsed by bench/soak.sh):
//   summary label=.. sessions=.. connected=.. connect_s=.. seconds=.. units=..
//           executions=.. connect_failures=.. connections_lost=.. hung=.. reconnects=..
//           cancel_resent=.. tls_sessions=..
//   kind name=.. intended=.. units=.. executions=.. as_intended=..
//   outcome kind=.. result=.. count=..
// Failure details (first few of each kind) go to stderr.
#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

enum Kind {
  kSimple,
  kSimpleMulti,
  kExtended,
  kPrepared,
  kPipeline,
  kPipelineError,
  kCopyIn,
  kCopyOut,
  kErrorDiv0,
  kErrorUnique,
  kCancel,
  kKinds
};

struct KindInfo {
  const char* name;
  const char* intended;
  int weight;  // per 100 units
};
constexpr std::array<KindInfo, kKinds> kInfo{{
    {"simple", "ok", 20},
    {"simple_multi", "ok", 8},
    {"extended", "ok", 15},
    {"prepared", "ok", 15},
    {"pipeline", "ok", 15},
    {"pipeline_error", "error:22012", 4},
    {"copy_in", "ok", 5},
    {"copy_out", "ok", 6},
    {"error_div0", "error:22012", 4},
    {"error_unique", "error:23505", 4},
    {"cancel", "error:57014", 4},
}};

constexpr int kAidMax = 100000;  // pgbench scale 1
constexpr const char* kPreparedSql = "SELECT abalance, filler FROM pgbench_accounts WHERE aid = $1";

struct Options {
  std::string conninfo, label = "run";
  int sessions = 0, tls_percent = 25, per_thread = 8, think_min_ms = 1000, think_max_ms = 2000;
  double seconds = 0, grace = 30;
  unsigned seed = 1;
};

// --- shared counters --------------------------------------------------------------------
std::mutex g_mu;
std::map<std::pair<int, std::string>, long> g_outcomes;  // (kind, result) -> units
std::array<long, kKinds> g_units{}, g_execs{};
std::map<std::string, int> g_failure_samples;  // message -> times printed
std::atomic<long> g_connect_failures{0}, g_connections_lost{0}, g_reconnects{0},
    g_cancel_resent{0}, g_connected{0};

void note_failure(const std::string& what) {
  std::lock_guard lock(g_mu);
  int& n = g_failure_samples[what.substr(0, 300)];
  if (++n <= 3) std::fprintf(stderr, "soak_load: %s\n", what.c_str());
}

struct Session {
  int index = 0;
  bool tls = false;
  PGconn* conn = nullptr;
  Clock::time_point due;
  std::mt19937 rng;
  // Watchdog: nonzero while a unit runs (steady-clock ns since epoch), and its kind.
  std::atomic<long long> busy_since{0};
  std::atomic<int> busy_kind{-1};
};

long long now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (char& c : s) {
    if (c == '\n') c = ' ';
  }
  return s;
}

// "" for a result that is fine, otherwise the outcome it stands for.
std::string classify(PGresult* r) {
  if (!r) return "no_result";
  switch (PQresultStatus(r)) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
    case PGRES_COPY_IN:
    case PGRES_COPY_OUT:
    case PGRES_PIPELINE_SYNC:
      return "";
    case PGRES_FATAL_ERROR: {
      const char* st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
      return std::string("error:") + (st && *st ? st : "none");
    }
    case PGRES_PIPELINE_ABORTED:
      return "pipeline_aborted";
    default:
      return std::string("status:") + PQresStatus(PQresultStatus(r));
  }
}

// The outcome of one unit: the first thing that went wrong, else "ok".
struct Unit {
  Session& s;
  std::string outcome;
  long executions = 0;
  void fail(const std::string& what) {
    if (outcome.empty()) outcome = what;
  }
  // Consumes every result up to the NULL that ends a query; returns the first outcome.
  std::string drain(PGresult* first = nullptr) {
    std::string first_bad;
    bool any = first != nullptr;
    PGresult* r = first ? first : PQgetResult(s.conn);
    while (r) {
      any = true;
      std::string c = classify(r);
      if (!c.empty() && first_bad.empty()) {
        first_bad = c;
        if (c == "error:none" || c.rfind("status:", 0) == 0) {
          note_failure(std::string(kInfo[s.busy_kind.load()].name) + ": " +
                       trim(PQresultErrorMessage(r)));
        }
      }
      PQclear(r);
      r = PQgetResult(s.conn);
    }
    if (!any) first_bad = "no_result";
    return first_bad;
  }
  void expect_rows(PGresult* r, int rows) {
    if (r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) != rows) {
      fail("wrong_rows");
    }
  }
};

std::string aid_text(Session& s, int span = 0) {
  std::uniform_int_distribution<int> d(1, kAidMax - span);
  return std::to_string(d(s.rng));
}

void unit_simple(Unit& u) {
  std::string sql = "SELECT abalance FROM pgbench_accounts WHERE aid = " + aid_text(u.s);
  ++u.executions;
  PGresult* r = PQexec(u.s.conn, sql.c_str());
  std::string c = classify(r);
  if (!c.empty()) u.fail(c);
  u.expect_rows(r, 1);
  PQclear(r);
}

void unit_simple_multi(Unit& u) {
  std::string a = aid_text(u.s, 10);
  std::string sql = "SELECT count(*) FROM pgbench_branches; SELECT aid, abalance FROM "
                    "pgbench_accounts WHERE aid BETWEEN " +
                    a + " AND " + a + " + 9";
  u.executions += 2;
  if (!PQsendQuery(u.s.conn, sql.c_str())) return u.fail("send_failed");
  int n = 0;
  while (PGresult* r = PQgetResult(u.s.conn)) {
    std::string c = classify(r);
    if (!c.empty()) u.fail(c);
    if (PQresultStatus(r) == PGRES_TUPLES_OK) u.expect_rows(r, n == 0 ? 1 : 10);
    ++n;
    PQclear(r);
  }
  if (n != 2) u.fail("wrong_results");
}

void unit_extended(Unit& u) {
  std::string a = aid_text(u.s, 20);
  const char* values[1] = {a.c_str()};
  int binary = std::uniform_int_distribution<int>(0, 1)(u.s.rng);
  ++u.executions;
  PGresult* r = PQexecParams(u.s.conn,
                             "SELECT aid, bid, abalance FROM pgbench_accounts WHERE aid BETWEEN "
                             "$1::int AND $1::int + 19",
                             1, nullptr, values, nullptr, nullptr, binary);
  std::string c = classify(r);
  if (!c.empty()) u.fail(c);
  u.expect_rows(r, 20);
  PQclear(r);
}

void unit_prepared(Unit& u) {
  std::string a = aid_text(u.s);
  const char* values[1] = {a.c_str()};
  ++u.executions;
  PGresult* r = PQexecPrepared(u.s.conn, "soak_get", 1, values, nullptr, nullptr, 0);
  std::string c = classify(r);
  if (!c.empty()) u.fail(c);
  u.expect_rows(r, 1);
  PQclear(r);
}

// Sends the queries of a pipeline (one Sync at the end) and reads every answer.
void run_pipeline(Unit& u, const std::vector<std::pair<const char*, std::string>>& queries,
                  bool last_prepared) {
  PGconn* c = u.s.conn;
  if (!PQenterPipelineMode(c)) return u.fail("pipeline_enter_failed");
  for (std::size_t i = 0; i < queries.size(); ++i) {
    const char* values[1] = {queries[i].second.c_str()};
    int ok;
    if (last_prepared && i + 1 == queries.size()) {
      ok = PQsendQueryPrepared(c, "soak_get", 1, values, nullptr, nullptr, 1);
    } else {
      ok = PQsendQueryParams(c, queries[i].first, 1, nullptr, values, nullptr, nullptr, 1);
    }
    if (!ok) {
      u.fail("send_failed");
      note_failure(std::string("pipeline send: ") + trim(PQerrorMessage(c)));
      return;
    }
    ++u.executions;
  }
  if (!PQpipelineSync(c)) return u.fail("send_failed");
  for (std::size_t i = 0; i < queries.size(); ++i) {
    bool any = false;
    while (PGresult* r = PQgetResult(c)) {
      any = true;
      std::string k = classify(r);
      // After an error the server skips to the Sync: the rest come back aborted.
      if (!k.empty() && !(k == "pipeline_aborted" && !u.outcome.empty())) u.fail(k);
      PQclear(r);
    }
    if (!any) return u.fail("no_result");
  }
  PGresult* sync = PQgetResult(c);
  if (!sync || PQresultStatus(sync) != PGRES_PIPELINE_SYNC) u.fail("no_pipeline_sync");
  PQclear(sync);
  if (!PQexitPipelineMode(c)) u.fail("pipeline_exit_failed");
}

void unit_pipeline(Unit& u) {
  run_pipeline(u,
               {{"SELECT aid, bid, abalance, filler FROM pgbench_accounts WHERE aid BETWEEN "
                 "$1::int AND $1::int + 49",
                 aid_text(u.s, 50)},
                {"SELECT bid, count(*), sum(abalance) FROM pgbench_accounts WHERE aid BETWEEN "
                 "$1::int AND $1::int + 199 GROUP BY bid",
                 aid_text(u.s, 200)},
                {"SELECT b.bid, b.bbalance, t.tid, t.tbalance FROM pgbench_branches b JOIN "
                 "pgbench_tellers t USING (bid) WHERE b.bid = 1 + $1::int % 1",
                 aid_text(u.s)},
                {kPreparedSql, aid_text(u.s)}},
               true);
}

void unit_pipeline_error(Unit& u) {
  run_pipeline(u,
               {{"SELECT $1::int AS a", "1"},
                {"SELECT 1 / $1::int AS boom", "0"},
                {"SELECT $1::int AS never", "3"}},
               false);
}

void unit_copy_in(Unit& u) {
  PGconn* c = u.s.conn;
  ++u.executions;
  std::string k = u.drain(PQexec(c, "BEGIN"));
  if (!k.empty()) return u.fail(k);
  ++u.executions;
  PGresult* r = PQexec(c, "COPY soak_copy (session, n, payload) FROM STDIN");
  if (!r || PQresultStatus(r) != PGRES_COPY_IN) {
    u.fail(classify(r).empty() ? "status:not_copy_in" : classify(r));
    PQclear(r);
  } else {
    PQclear(r);
    std::string row;
    for (int i = 0; i < 100; ++i) {
      row = std::to_string(u.s.index) + "\t" + std::to_string(i) + "\tpayload-" +
            std::to_string(i * 7919) + "\n";
      if (PQputCopyData(c, row.data(), static_cast<int>(row.size())) != 1) {
        u.fail("copy_put_failed");
        break;
      }
    }
    if (PQputCopyEnd(c, nullptr) != 1) u.fail("copy_end_failed");
    while (PGresult* e = PQgetResult(c)) {
      std::string kk = classify(e);
      if (!kk.empty()) u.fail(kk);
      if (PQresultStatus(e) == PGRES_COMMAND_OK && std::strcmp(PQcmdTuples(e), "100") != 0) {
        u.fail("wrong_rows");
      }
      PQclear(e);
    }
  }
  ++u.executions;
  k = u.drain(PQexec(c, "ROLLBACK"));
  if (!k.empty()) u.fail(k);
}

void unit_copy_out(Unit& u) {
  PGconn* c = u.s.conn;
  std::string a = aid_text(u.s, 200);
  std::string sql = "COPY (SELECT aid, abalance, filler FROM pgbench_accounts WHERE aid BETWEEN " +
                    a + " AND " + a + " + 199) TO STDOUT";
  ++u.executions;
  PGresult* r = PQexec(c, sql.c_str());
  if (!r || PQresultStatus(r) != PGRES_COPY_OUT) {
    u.fail(classify(r).empty() ? "status:not_copy_out" : classify(r));
    PQclear(r);
    return;
  }
  PQclear(r);
  int rows = 0;
  char* buf = nullptr;
  int n;
  while ((n = PQgetCopyData(c, &buf, 0)) > 0) {
    ++rows;
    PQfreemem(buf);
  }
  if (n == -2) u.fail("copy_get_failed");
  std::string k = u.drain();
  if (!k.empty()) u.fail(k);
  if (rows != 200) u.fail("wrong_rows");
}

void unit_error_div0(Unit& u) {
  ++u.executions;
  std::string k = u.drain(PQexec(u.s.conn, "SELECT 1/0"));
  u.fail(k.empty() ? "ok" : k);
}

void unit_error_unique(Unit& u) {
  const char* values[1] = {"1"};
  ++u.executions;
  PGresult* r = PQexecParams(u.s.conn, "INSERT INTO soak_unique (id) VALUES ($1::int)", 1,
                             nullptr, values, nullptr, nullptr, 0);
  std::string k = classify(r);
  PQclear(r);
  u.fail(k.empty() ? "ok" : k);
}

// Waits up to ms for the connection's current query to be ready to read; false on timeout.
bool wait_readable(PGconn* c, int ms) {
  auto until = Clock::now() + milliseconds(ms);
  while (true) {
    if (!PQconsumeInput(c)) return true;  // broken: PQgetResult will say so
    if (!PQisBusy(c)) return true;
    auto left = std::chrono::duration_cast<milliseconds>(until - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{PQsocket(c), POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(left));
  }
}

void unit_cancel(Unit& u) {
  PGconn* c = u.s.conn;
  ++u.executions;
  if (!PQsendQuery(c, "SELECT pg_sleep(5)")) return u.fail("send_failed");
  std::this_thread::sleep_for(milliseconds(100));
  // A cancel that reaches the server before the query started is ignored: send it again
  // if the answer does not come within a second.
  for (int attempt = 0; attempt < 4; ++attempt) {
    if (attempt > 0) ++g_cancel_resent;
    PGcancel* cancel = PQgetCancel(c);
    char err[256] = "";
    if (!cancel || !PQcancel(cancel, err, sizeof err)) {
      note_failure(std::string("PQcancel: ") + (cancel ? err : "PQgetCancel returned NULL"));
      u.fail("cancel_send_failed");
    }
    PQfreeCancel(cancel);
    if (wait_readable(c, 1000)) break;
  }
  std::string k = u.drain();
  u.fail(k.empty() ? "ok" : k);
}

using UnitFn = void (*)(Unit&);
constexpr std::array<UnitFn, kKinds> kUnits{unit_simple,       unit_simple_multi, unit_extended,
                                            unit_prepared,     unit_pipeline,
                                            unit_pipeline_error, unit_copy_in,    unit_copy_out,
                                            unit_error_div0,   unit_error_unique, unit_cancel};

bool connect(Session& s, const Options& o) {
  std::string ci = o.conninfo + (s.tls ? " sslmode=require" : " sslmode=disable");
  s.conn = PQconnectdb(ci.c_str());
  if (PQstatus(s.conn) != CONNECTION_OK) {
    ++g_connect_failures;
    note_failure("connect (" + std::string(s.tls ? "tls" : "plain") +
                 "): " + trim(PQerrorMessage(s.conn)));
    PQfinish(s.conn);
    s.conn = nullptr;
    return false;
  }
  if (s.tls && !PQsslInUse(s.conn)) {
    note_failure("sslmode=require session without TLS");
  }
  PGresult* r = PQprepare(s.conn, "soak_get", kPreparedSql, 1, nullptr);
  std::string k = classify(r);
  PQclear(r);
  if (!k.empty()) {
    ++g_connect_failures;
    note_failure("prepare: " + k + " " + trim(PQerrorMessage(s.conn)));
    PQfinish(s.conn);
    s.conn = nullptr;
    return false;
  }
  ++g_connected;
  return true;
}

int pick_kind(std::mt19937& rng) {
  int x = std::uniform_int_distribution<int>(0, 99)(rng);
  for (int k = 0; k < kKinds; ++k) {
    if ((x -= kInfo[k].weight) < 0) return k;
  }
  return kSimple;
}

std::atomic<int> g_ready_threads{0};
std::atomic<long long> g_start_ns{0};

void run_thread(std::vector<Session*> sessions, const Options& o, int nthreads,
                std::atomic<int>& done) {
  for (Session* s : sessions) connect(*s, o);
  // Everyone connects first; the clock starts when the last thread is ready.
  if (g_ready_threads.fetch_add(1) + 1 == nthreads) g_start_ns = now_ns();
  while (g_start_ns.load() == 0) std::this_thread::sleep_for(milliseconds(20));
  const auto start = Clock::time_point(std::chrono::nanoseconds(g_start_ns.load()));
  const auto until = start + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(o.seconds));
  std::uniform_int_distribution<int> think(o.think_min_ms, o.think_max_ms);
  for (Session* s : sessions) {
    s->due = start + milliseconds(std::uniform_int_distribution<int>(0, o.think_max_ms)(s->rng));
  }
  while (true) {
    Session* s = *std::min_element(sessions.begin(), sessions.end(),
                                   [](Session* a, Session* b) { return a->due < b->due; });
    if (s->due >= until) break;
    std::this_thread::sleep_until(s->due);
    if (!s->conn) {
      ++g_reconnects;
      if (!connect(*s, o)) {
        s->due = Clock::now() + milliseconds(1000);
        continue;
      }
    }
    int kind = pick_kind(s->rng);
    s->busy_kind = kind;
    s->busy_since = now_ns();
    Unit u{*s, "", 0};
    kUnits[kind](u);
    bool lost = PQstatus(s->conn) == CONNECTION_BAD;
    if (lost) {
      note_failure(std::string("connection lost during ") + kInfo[kind].name + ": " +
                   trim(PQerrorMessage(s->conn)));
      u.outcome = "connection_lost";
      ++g_connections_lost;
    } else if (PQtransactionStatus(s->conn) != PQTRANS_IDLE) {
      note_failure(std::string("session not idle after ") + kInfo[kind].name);
      u.fail("not_idle_after_unit");
    }
    if (u.outcome.empty()) u.outcome = "ok";
    s->busy_since = 0;
    {
      std::lock_guard lock(g_mu);
      ++g_outcomes[{kind, u.outcome}];
      ++g_units[kind];
      g_execs[kind] += u.executions;
    }
    if (lost) {
      PQfinish(s->conn);
      s->conn = nullptr;
      s->due = Clock::now() + milliseconds(1000);
    } else {
      s->due = Clock::now() + milliseconds(think(s->rng));
    }
  }
  for (Session* s : sessions) {
    if (s->conn) PQfinish(s->conn);
    s->conn = nullptr;
  }
  ++done;
}

bool parse_kv(Options& o, const std::string& arg) {
  auto eq = arg.find('=');
  if (eq == std::string::npos) return false;
  std::string k = arg.substr(0, eq), v = arg.substr(eq + 1);
  if (k == "label") o.label = v;
  else if (k == "tls_percent") o.tls_percent = std::atoi(v.c_str());
  else if (k == "per_thread") o.per_thread = std::max(1, std::atoi(v.c_str()));
  else if (k == "think_min_ms") o.think_min_ms = std::atoi(v.c_str());
  else if (k == "think_max_ms") o.think_max_ms = std::atoi(v.c_str());
  else if (k == "grace") o.grace = std::atof(v.c_str());
  else if (k == "seed") o.seed = static_cast<unsigned>(std::atoi(v.c_str()));
  else return false;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s CONNINFO SESSIONS SECONDS [key=value...]\n", argv[0]);
    return 2;
  }
  o.conninfo = argv[1];
  o.sessions = std::atoi(argv[2]);
  o.seconds = std::atof(argv[3]);
  for (int i = 4; i < argc; ++i) {
    if (!parse_kv(o, argv[i])) {
      std::fprintf(stderr, "soak_load: unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  if (o.sessions <= 0 || o.seconds <= 0 || o.think_min_ms < 0 || o.think_max_ms < o.think_min_ms) {
    std::fprintf(stderr, "soak_load: SESSIONS and SECONDS must be positive\n");
    return 2;
  }

  std::vector<Session> sessions(static_cast<std::size_t>(o.sessions));
  int tls_sessions = 0;
  for (int i = 0; i < o.sessions; ++i) {
    Session& s = sessions[static_cast<std::size_t>(i)];
    s.index = i;
    // Spread evenly: session i is TLS when floor((i+1)p/100) > floor(ip/100).
    s.tls = (i + 1) * o.tls_percent / 100 > i * o.tls_percent / 100;
    tls_sessions += s.tls;
    s.rng.seed(o.seed * 1000003u + static_cast<unsigned>(i));
  }
  const int nthreads = (o.sessions + o.per_thread - 1) / o.per_thread;
  std::atomic<int> done{0};
  std::vector<std::thread> threads;
  const auto t_begin = Clock::now();
  for (int t = 0; t < nthreads; ++t) {
    std::vector<Session*> mine;
    for (int i = t * o.per_thread; i < std::min(o.sessions, (t + 1) * o.per_thread); ++i) {
      mine.push_back(&sessions[static_cast<std::size_t>(i)]);
    }
    threads.emplace_back(run_thread, std::move(mine), std::cref(o), nthreads, std::ref(done));
  }

  // Watchdog: report units that take far longer than any should (the cancel unit takes
  // ~0.1 s, a missed cancel 5 s); stop waiting GRACE seconds after the end.
  long long warned_ns = 0;
  while (done.load() < nthreads) {
    std::this_thread::sleep_for(milliseconds(200));
    long long start = g_start_ns.load();
    long long now = now_ns();
    if (now - warned_ns > 10'000'000'000LL) {
      for (Session& s : sessions) {
        long long b = s.busy_since.load();
        if (b && now - b > 30'000'000'000LL) {
          note_failure("unit " + std::string(kInfo[s.busy_kind.load()].name) + " of session " +
                       std::to_string(s.index) + " running for " +
                       std::to_string((now - b) / 1'000'000'000LL) + " s");
          warned_ns = now;
        }
      }
    }
    if (start && now - start > static_cast<long long>((o.seconds + o.grace) * 1e9)) break;
    // Connecting is bounded by connect_timeout; this only guards against a stuck driver.
    if (!start && Clock::now() - t_begin > std::chrono::seconds(600)) break;
  }
  const double connect_s =
      g_start_ns.load()
          ? std::chrono::duration<double>(
                Clock::time_point(std::chrono::nanoseconds(g_start_ns.load())) - t_begin)
                .count()
          : -1;
  const double seconds =
      g_start_ns.load() ? (now_ns() - g_start_ns.load()) / 1e9 : 0;
  int hung = 0;
  for (Session& s : sessions) {
    if (s.busy_since.load()) {
      ++hung;
      note_failure("hung: unit " + std::string(kInfo[s.busy_kind.load()].name) + " of session " +
                   std::to_string(s.index) + (s.tls ? " (tls)" : " (plain)") + " never returned");
    }
  }

  std::lock_guard lock(g_mu);
  long units = 0, execs = 0;
  for (int k = 0; k < kKinds; ++k) {
    units += g_units[k];
    execs += g_execs[k];
  }
  std::printf(
      "summary label=%s sessions=%d connected=%ld connect_s=%.1f seconds=%.1f units=%ld "
      "executions=%ld connect_failures=%ld connections_lost=%ld hung=%d reconnects=%ld "
      "cancel_resent=%ld tls_sessions=%d threads=%d\n",
      o.label.c_str(), o.sessions, g_connected.load(), connect_s, seconds, units, execs,
      g_connect_failures.load(), g_connections_lost.load(), hung, g_reconnects.load(),
      g_cancel_resent.load(), tls_sessions, nthreads);
  for (int k = 0; k < kKinds; ++k) {
    auto it = g_outcomes.find({k, kInfo[k].intended});
    std::printf("kind name=%s intended=%s units=%ld executions=%ld as_intended=%ld\n",
                kInfo[k].name, kInfo[k].intended, g_units[k], g_execs[k],
                it == g_outcomes.end() ? 0L : it->second);
  }
  for (const auto& [key, count] : g_outcomes) {
    std::printf("outcome kind=%s result=%s count=%ld\n", kInfo[key.first].name,
                key.second.c_str(), count);
  }
  std::fflush(stdout);
  std::fflush(stderr);
  if (hung) std::_Exit(3);  // threads are stuck in libpq: do not join them
  for (auto& t : threads) t.join();
  return 0;
}
