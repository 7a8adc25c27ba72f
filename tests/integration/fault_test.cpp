// Fault injection against the real proxy and a real PostgreSQL 15: a backend SIGKILLed or
// SIGSTOPped mid-pipeline, the server restarted under an idle session, the SQLite store on
// a full filesystem, SIGTERM with the recorder's queue full. The rule checked everywhere:
// traffic keeps flowing where it can, the client gets a clear error where it cannot (an
// ErrorResponse / libpq error, never a hang), the proxy stays up and serves new sessions,
// and every record is either stored or counted as dropped.
//
// Nothing here sleeps to synchronize: every wait polls a condition with a deadline, and
// every client read has a deadline too (a hang fails the check instead of the run).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/pq.hpp"
#include "tests/storage/store_reader.hpp"
#include "tests/support/pg_server.hpp"

using namespace pglc::test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

long long ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

// Polls `pred` every `step` until it holds or `limit` passes; returns its last value.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 10s,
                std::chrono::milliseconds step = 10ms) {
  const auto deadline = Clock::now() + limit;
  for (;;) {
    if (pred()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(step);
  }
}

std::string temp_dir() {
  std::string tmpl = "/tmp/pglc-fault-XXXXXX";
  REQUIRE(mkdtemp(tmpl.data()) != nullptr);
  return tmpl;
}

// ---- /metrics ---------------------------------------------------------------------------

using Samples = std::map<std::string, double>;  // "name{labels}" -> value

Samples scrape(int port) {
  Samples out;
  std::istringstream in(http_get(port, "/metrics"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    if (space == std::string::npos) continue;
    try {
      out[line.substr(0, space)] = std::stod(line.substr(space + 1));
    } catch (...) {
    }
  }
  return out;
}

// Sum of the samples of family `name` whose label text contains `labels` ("" = all).
double sum(const Samples& s, const std::string& name, const std::string& labels = "") {
  double total = 0;
  for (const auto& [series, value] : s) {
    const bool family = series == name || series.rfind(name + "{", 0) == 0;
    if (family && (labels.empty() || series.find(labels) != std::string::npos)) total += value;
  }
  return total;
}

double rows_executions(const Samples& s) {
  return sum(s, "pglifecycle_recorder_rows_total", "table=\"executions\"");
}
double dropped(const Samples& s) {
  return sum(s, "pglifecycle_recorder_dropped_total");
}

// ---- the proxy's last words -------------------------------------------------------------

struct FinalCount {
  long long wrote = -1;    // executions written
  long long dropped = -1;  // records dropped (every kind: sessions, statements, executions)
};

// "pglifecycle: stopped; recorder wrote N executions, dropped M records"
FinalCount final_count(const std::string& log) {
  FinalCount f;
  const std::string key = "recorder wrote ";
  const auto at = log.rfind(key);
  if (at == std::string::npos) return f;
  std::istringstream in(log.substr(at + key.size()));
  std::string executions, word;
  long long n = -1, m = -1;
  in >> n >> executions >> word >> m;
  if (executions == "executions," && word == "dropped") {
    f.wrote = n;
    f.dropped = m;
  }
  return f;
}

// SIGTERM, exit 0, and the SQLite file holds exactly the executions the proxy says it
// wrote. Returns the final count.
FinalCount terminate_and_account(ProxyProcess& proxy, const std::string& db,
                                 int timeout_ms = 30000) {
  const int status = proxy.terminate(timeout_ms);
  const std::string log = proxy.log();
  CHECK_MESSAGE(status == 0, log);
  const FinalCount f = final_count(log);
  CHECK_MESSAGE(f.wrote >= 0, "no final 'recorder wrote' line in:\n" << log);
  SqliteReader store(db);
  CHECK_MESSAGE(store.count("executions") == f.wrote, log);
  return f;
}

// ---- libpq with deadlines ---------------------------------------------------------------

bool wait_readable(PGconn* c, Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (left <= 0ms) return false;
  pollfd p{PQsocket(c), POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 20))) > 0;
}

struct Outcome {
  std::vector<ExecStatusType> statuses;  // every non-NULL result, in order
  std::vector<std::string> values;       // first cell of each TUPLES_OK result
  std::string errors;                    // result and connection error messages
  int syncs = 0;                         // PGRES_PIPELINE_SYNC seen
  bool timed_out = false;
  bool connection_bad = false;
  long long ms = 0;

  int count(ExecStatusType st) const {
    int n = 0;
    for (auto s : statuses) n += s == st;
    return n;
  }
};

// Reads results without ever blocking past `deadline`: until `syncs` PIPELINE_SYNC
// results (pipeline mode), or — with syncs == 0 — until the end of one command's results,
// or until the connection is lost.
Outcome collect(PGconn* c, int syncs, std::chrono::milliseconds limit) {
  Outcome o;
  const auto start = Clock::now();
  const auto deadline = start + limit;
  bool done = false;
  int nulls = 0;
  while (!done) {
    if (PQstatus(c) == CONNECTION_BAD) {
      // libpq may still hold the error result of what was running.
      while (PGresult* r = PQgetResult(c)) {
        o.statuses.push_back(PQresultStatus(r));
        o.errors += PQresultErrorMessage(r);
        PQclear(r);
        if (o.statuses.size() > 100000) break;
      }
      o.connection_bad = true;
      if (o.errors.find(PQerrorMessage(c)) == std::string::npos) o.errors += PQerrorMessage(c);
      break;
    }
    // Everything already buffered.
    while (!PQisBusy(c)) {
      PGresult* r = PQgetResult(c);
      if (r == nullptr) {
        if (syncs == 0 && !o.statuses.empty()) {
          done = true;
          break;
        }
        if (++nulls >= 2) break;  // nothing more buffered: wait for the socket
        continue;
      }
      nulls = 0;
      const auto st = PQresultStatus(r);
      o.statuses.push_back(st);
      if (st == PGRES_TUPLES_OK && PQntuples(r) > 0) o.values.emplace_back(PQgetvalue(r, 0, 0));
      if (st == PGRES_FATAL_ERROR || st == PGRES_NONFATAL_ERROR)
        o.errors += PQresultErrorMessage(r);
      if (st == PGRES_PIPELINE_SYNC && ++o.syncs >= syncs && syncs > 0) done = true;
      PQclear(r);
      if (done) break;
    }
    if (done) break;
    if (Clock::now() >= deadline) {
      o.timed_out = true;
      break;
    }
    nulls = 0;
    if (wait_readable(c, deadline)) PQconsumeInput(c);  // a failure shows as CONNECTION_BAD
  }
  o.ms = ms_since(start);
  return o;
}

// One simple query, its results read with a deadline.
Outcome query(PGconn* c, const std::string& sql, std::chrono::milliseconds limit = 10s) {
  if (PQsendQuery(c, sql.c_str()) == 0) {
    Outcome o;
    o.connection_bad = PQstatus(c) == CONNECTION_BAD;
    o.errors = PQerrorMessage(c);
    o.statuses.push_back(PGRES_FATAL_ERROR);  // libpq refused to send: a clear error
    return o;
  }
  return collect(c, 0, limit);
}

bool answered(const Outcome& o, const std::string& value) {
  return !o.timed_out && o.statuses.size() == 1 && o.statuses[0] == PGRES_TUPLES_OK &&
         o.values.size() == 1 && o.values[0] == value;
}

// ---- the server -------------------------------------------------------------------------

// Until the server accepts a login and answers (after crash recovery or a restart).
bool wait_server_ready(std::chrono::milliseconds limit = 60s) {
  const std::string ci = PgServer::shared().conninfo("postgres", kSuperUser, kSuperPassword,
                                                     "sslmode=disable connect_timeout=2");
  return eventually(
      [&] {
        Conn c = connect(ci);
        return ok(c) && scalar(c.get(), "SELECT 1") == "1";
      },
      limit, 20ms);
}

// Until pg_stat_activity shows `pid` running a query LIKE `like`.
bool wait_until_active(int pid, const std::string& like) {
  Conn admin = connect(
      PgServer::shared().conninfo(kTestDatabase, kSuperUser, kSuperPassword, "sslmode=disable"));
  if (!ok(admin)) return false;
  const std::string sql =
      "SELECT count(*) FROM pg_stat_activity WHERE pid = " + std::to_string(pid) +
      " AND state = 'active' AND query LIKE '" + like + "'";
  return eventually([&] { return scalar(admin.get(), sql) == "1"; }, 10s, 5ms);
}

// State letter of /proc/PID/stat ('S' sleeping, 'T' stopped, ...), or '?'.
char process_state(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  const auto paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() ? stat[paren + 2] : '?';
}

// A new session through the proxy answers; retried until the deadline (the backend may
// still be recovering: its FATAL reaches the client, which then tries again).
bool new_session_works(const ProxyProcess& proxy, const std::string& value,
                       std::chrono::milliseconds limit = 30s) {
  return eventually(
      [&] {
        Conn c = connect(proxy.conninfo());
        return ok(c) && answered(query(c.get(), "SELECT '" + value + "'"), value);
      },
      limit, 20ms);
}

void send_params(PGconn* c, const std::string& sql) {
  REQUIRE_MESSAGE(PQsendQueryParams(c, sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0) == 1,
                  PQerrorMessage(c));
}

}  // namespace

TEST_CASE("backend SIGKILLed mid-pipeline: prompt error, proxy survives, executions aborted") {
  REQUIRE(wait_server_ready());
  const std::string dir = temp_dir();
  const std::string db = dir + "/store.db";
  ProxyProcess proxy({"--storage", "sqlite:" + db});
  int pid = 0;
  {
    Conn c = connect(proxy.conninfo());
    REQUIRE_MESSAGE(ok(c), error(c));
    pid = PQbackendPID(c.get());
    REQUIRE(pid > 0);
    REQUIRE(PQenterPipelineMode(c.get()) == 1);
    send_params(c.get(), "SELECT 'kill-before'");
    send_params(c.get(), "SELECT pg_sleep(5) AS kill_sleep");
    send_params(c.get(), "SELECT 'kill-after-1'");
    send_params(c.get(), "SELECT 'kill-after-2'");
    REQUIRE(PQpipelineSync(c.get()) == 1);
    // PQbackendPID is the server's pid (the proxy passes BackendKeyData through).
    REQUIRE(wait_until_active(pid, "SELECT pg_sleep(5) AS kill_sleep"));

    REQUIRE(::kill(pid, SIGKILL) == 0);
    const Outcome o = collect(c.get(), 1, 4s);
    MESSAGE("client learned of the SIGKILL after " << o.ms << " ms: " << o.errors);
    CHECK_FALSE(o.timed_out);
    CHECK(o.ms < 2000);  // well under the 5 s sleep
    CHECK(o.connection_bad);
    CHECK(o.syncs == 0);
    REQUIRE_FALSE(o.statuses.empty());
    CHECK(o.statuses.front() == PGRES_TUPLES_OK);  // answered before the kill
    CHECK(o.count(PGRES_FATAL_ERROR) >= 1);
    CHECK(o.count(PGRES_TUPLES_OK) == 1);
    CHECK(o.errors.find("server closed the connection") != std::string::npos);
  }
  CHECK(proxy.running());
  // The postmaster restarts every backend after a SIGKILL (crash recovery).
  CHECK(wait_server_ready());
  CHECK(new_session_works(proxy, "after crash"));
  CHECK(proxy.running());

  const FinalCount f = terminate_and_account(proxy, db);
  CHECK(f.dropped == 0);
  SqliteReader store(db);
  const std::string session =
      "(SELECT id FROM sessions WHERE backend_pid = " + std::to_string(pid) + ")";
  CHECK(store.count("sessions WHERE backend_pid = " + std::to_string(pid)) == 1);
  CHECK(store.value("SELECT end_reason FROM sessions WHERE backend_pid = " + std::to_string(pid)) ==
        Cell("backend_closed"));
  // Every execution of the pipeline is stored: the first one succeeded, the killed one
  // and those queued behind it did not finish.
  CHECK(store.count("execution_summary WHERE session_id = " + session) == 4);
  CHECK(store.value("SELECT status FROM execution_summary WHERE session_id = " + session +
                    " AND sql = 'SELECT ''kill-before'''") == Cell("success"));
  const Rows after =
      store.query("SELECT sql, status FROM execution_summary WHERE session_id = " + session +
                  " AND sql <> 'SELECT ''kill-before''' ORDER BY began_at");
  CHECK(after.size() == 3);
  for (const Row& r : after) {
    CAPTURE(r);
    CHECK((r[1] == Cell("aborted") || r[1] == Cell("error")));
  }
  CHECK(store.value("SELECT status FROM execution_summary WHERE session_id = " + session +
                    " AND sql LIKE '%kill_sleep'") == Cell("aborted"));
  std::filesystem::remove_all(dir);
}

namespace {

// SIGCONT on scope exit, so a failing check never leaves a stopped backend behind.
struct ContinueGuard {
  int pid;
  ~ContinueGuard() { ::kill(pid, SIGCONT); }
};

}  // namespace

TEST_CASE("backend SIGSTOPped mid-pipeline: other sessions keep working, then it completes") {
  REQUIRE(wait_server_ready());
  const std::string dir = temp_dir();
  const std::string db = dir + "/store.db";
  // One io thread: the stalled session and the others share it, so neither a lock nor a
  // blocking call on the relay path could hide.
  ProxyProcess proxy({"--storage", "sqlite:" + db, "--workers", "1"});
  Conn a = connect(proxy.conninfo());
  Conn b = connect(proxy.conninfo());
  REQUIRE_MESSAGE(ok(a), error(a));
  REQUIRE_MESSAGE(ok(b), error(b));
  const int pid = PQbackendPID(a.get());
  REQUIRE(PQenterPipelineMode(a.get()) == 1);
  send_params(a.get(), "SELECT pg_sleep(0.2) AS stopped_sleep");
  send_params(a.get(), "SELECT 'stop-after'");
  REQUIRE(PQpipelineSync(a.get()) == 1);
  REQUIRE(wait_until_active(pid, "SELECT pg_sleep(0.2) AS stopped_sleep"));

  Clock::time_point stopped_at, continued_at;
  {
    REQUIRE(::kill(pid, SIGSTOP) == 0);
    stopped_at = Clock::now();
    ContinueGuard guard{pid};
    REQUIRE(eventually([&] { return process_state(pid) == 'T'; }, 5s, 1ms));

    // Meanwhile: the open session and a new one are served promptly.
    for (int i = 0; i < 20; ++i) {
      const std::string v = "bystander-" + std::to_string(i);
      const Outcome o = query(b.get(), "SELECT '" + v + "'", 5s);
      CHECK_MESSAGE(answered(o, v), o.errors);
      CHECK(o.ms < 2000);
    }
    {
      Conn fresh = connect(proxy.conninfo());
      REQUIRE_MESSAGE(ok(fresh), error(fresh));
      CHECK(answered(query(fresh.get(), "SELECT 'fresh during stop'"), "fresh during stop"));
    }
    // The stopped session has had no answer (its backend really is stopped) ...
    CHECK(process_state(pid) == 'T');
    REQUIRE(PQconsumeInput(a.get()) == 1);
    CHECK(PQisBusy(a.get()) == 1);
    // ... and stays stopped a while longer than pg_sleep(0.2) would have taken, so that
    // the stored duration shows the stall (a duration wanted, not a synchronization).
    CHECK(eventually([&] { return ms_since(stopped_at) > 400; }, 2s, 5ms));
    continued_at = Clock::now();
  }  // SIGCONT

  const Outcome o = collect(a.get(), 1, 10s);
  CHECK_FALSE(o.timed_out);
  CHECK_FALSE(o.connection_bad);
  CHECK(o.syncs == 1);
  CHECK(o.count(PGRES_TUPLES_OK) == 2);
  CHECK(o.values == std::vector<std::string>{"", "stop-after"});
  REQUIRE(PQexitPipelineMode(a.get()) == 1);
  CHECK(answered(query(a.get(), "SELECT 'a after continue'"), "a after continue"));
  CHECK(answered(query(b.get(), "SELECT 'b at the end'"), "b at the end"));
  a.reset();
  b.reset();
  CHECK(proxy.running());

  const FinalCount f = terminate_and_account(proxy, db);
  CHECK(f.dropped == 0);
  SqliteReader store(db);
  const auto stopped_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(continued_at - stopped_at).count();
  const Rows sleep =
      store.query("SELECT status, total_ms FROM execution_summary WHERE sql LIKE '%stopped_sleep'");
  REQUIRE(sleep.size() == 1);
  CHECK(sleep[0][0] == Cell("success"));
  // Received before the stop, finished after the continue: the stall is in its time.
  CHECK(num(sleep[0][1]) >= static_cast<double>(stopped_ms) - 1);
  MESSAGE("backend stopped " << stopped_ms << " ms; the execution took " << num(sleep[0][1])
                             << " ms");
  CHECK(store.count("execution_summary WHERE sql LIKE 'SELECT ''bystander-%' AND status = "
                    "'success'") == 20);
  std::filesystem::remove_all(dir);
}

TEST_CASE("backend restarted under an idle session: clear error, new sessions work") {
  REQUIRE(wait_server_ready());
  const std::string dir = temp_dir();
  const std::string db = dir + "/store.db";
  ProxyProcess proxy({"--storage", "sqlite:" + db});
  Conn idle = connect(proxy.conninfo());
  Conn watched = connect(proxy.conninfo());
  REQUIRE_MESSAGE(ok(idle), error(idle));
  REQUIRE_MESSAGE(ok(watched), error(watched));
  CHECK(answered(query(idle.get(), "SELECT 'before restart'"), "before restart"));
  const int pid = PQbackendPID(idle.get());

  auto& pg = PgServer::shared();
  pg.stop();
  // The proxy passes the server's close on: the client sees its connection end without
  // sending anything (no half-open session left behind by the proxy).
  CHECK(eventually(
      [&] {
        PQconsumeInput(watched.get());
        return PQstatus(watched.get()) == CONNECTION_BAD;
      },
      10s));
  CHECK(proxy.running());
  pg.start();
  CHECK(proxy.running());

  const Outcome o = query(idle.get(), "SELECT 'after restart'", 10s);
  MESSAGE("idle session after the restart (" << o.ms << " ms): " << o.errors);
  CHECK_FALSE(o.timed_out);
  CHECK(o.ms < 5000);
  CHECK(o.count(PGRES_TUPLES_OK) == 0);
  CHECK(o.count(PGRES_FATAL_ERROR) >= 1);
  CHECK_FALSE(o.errors.empty());
  CHECK(PQstatus(idle.get()) == CONNECTION_BAD);

  for (int i = 0; i < 3; ++i) {
    Conn fresh = connect(proxy.conninfo());
    REQUIRE_MESSAGE(ok(fresh), error(fresh));
    CHECK(answered(query(fresh.get(), "SELECT 'new " + std::to_string(i) + "'"),
                   "new " + std::to_string(i)));
  }
  CHECK(proxy.running());
  idle.reset();
  watched.reset();

  const FinalCount f = terminate_and_account(proxy, db);
  CHECK(f.dropped == 0);
  SqliteReader store(db);
  CHECK(store.value("SELECT end_reason FROM sessions WHERE backend_pid = " + std::to_string(pid)) ==
        Cell("backend_closed"));
  CHECK(store.count("execution_summary WHERE sql LIKE 'SELECT ''new %' AND status = 'success'") ==
        3);
  std::filesystem::remove_all(dir);
}

namespace {

// A tmpfs of its own, unmounted on scope exit (also when a check fails).
struct TmpfsMount {
  std::string dir;
  bool mounted = false;
  std::string why;

  explicit TmpfsMount(const std::string& size) {
    std::string tmpl = "/tmp/pglc-fault-fs-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
      why = std::string("mkdtemp: ") + std::strerror(errno);
      return;
    }
    dir = tmpl;
    const std::string opts = "size=" + size + ",mode=0755";
    if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, opts.c_str()) == 0) {
      mounted = true;
    } else {
      why = std::string("mount -t tmpfs: ") + std::strerror(errno);
    }
  }
  ~TmpfsMount() {
    if (mounted && ::umount2(dir.c_str(), 0) != 0) ::umount2(dir.c_str(), MNT_DETACH);
    if (!dir.empty()) ::rmdir(dir.c_str());
  }
};

// Writes `path` until the filesystem is full; returns the bytes written.
long long fill(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  const std::string block(64 * 1024, 'f');
  long long total = 0;
  std::size_t size = block.size();
  for (;;) {
    const ssize_t n = ::write(fd, block.data(), size);
    if (n > 0) {
      total += n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (size > 512) {  // the last pages
      size /= 2;
      continue;
    }
    break;  // ENOSPC
  }
  ::close(fd);
  return total;
}

long long free_bytes(const std::string& dir) {
  std::error_code ec;
  const auto info = std::filesystem::space(dir, ec);
  return ec ? -1 : static_cast<long long>(info.available);
}

}  // namespace

namespace {

// Executions of one named prepared statement, the client counting what it ran. After
// warm_up() the session's own records (session, statement, its events) are in the store,
// and from then on the session produces nothing but execution records until it closes:
// a named statement's later executions add no statement or event records. That is what
// makes exact accounting possible.
struct PreparedLoad {
  PGconn* c;
  ProxyProcess& proxy;
  long long ran = 0;  // executions that answered, as the client saw them

  void prepare(const char* name, const char* sql) {
    Result r(PQprepare(c, name, sql, 0, nullptr));
    REQUIRE_MESSAGE(PQresultStatus(r.get()) == PGRES_COMMAND_OK, PQerrorMessage(c));
  }

  // `values.size()` executions of `name` in one pipeline; every one must answer
  // `expect(value)`.
  void pipeline(const char* name, const std::vector<std::string>& values,
                std::string (*expect)(const std::string&)) {
    REQUIRE(PQenterPipelineMode(c) == 1);
    for (const auto& value : values) {
      const char* v[] = {value.c_str()};
      REQUIRE(PQsendQueryPrepared(c, name, 1, v, nullptr, nullptr, 0) == 1);
    }
    REQUIRE(PQpipelineSync(c) == 1);
    const Outcome o = collect(c, 1, 20s);
    CHECK_FALSE(o.timed_out);
    CHECK_FALSE(o.connection_bad);
    CHECK(o.count(PGRES_TUPLES_OK) == static_cast<int>(values.size()));
    REQUIRE(o.values.size() == static_cast<std::size_t>(o.count(PGRES_TUPLES_OK)));
    for (std::size_t i = 0; i < o.values.size() && i < values.size(); ++i) {
      if (o.values[i] != expect(values[i])) {
        CHECK(o.values[i] == expect(values[i]));
        break;
      }
    }
    ran += o.count(PGRES_TUPLES_OK);
    REQUIRE(PQexitPipelineMode(c) == 1);
  }

  // Until the writer has stored every execution so far and the session and statement rows.
  void wait_stored() {
    REQUIRE(eventually([&] {
      const Samples s = scrape(proxy.metrics_port());
      return rows_executions(s) == ran && sum(s, "pglifecycle_recorder_queue_depth") == 0 &&
             sum(s, "pglifecycle_recorder_rows_total", "table=\"sessions\"") >= 1 &&
             sum(s, "pglifecycle_recorder_rows_total", "table=\"statements\"") >= 1;
    }));
  }

  // Until the metrics have seen every execution the client ran (an execution is final
  // once delivered, which may be just after the client has read it).
  bool metrics_saw_all() {
    return eventually(
        [&] { return sum(scrape(proxy.metrics_port()), "pglifecycle_executions_total") == ran; });
  }
};

std::vector<std::string> numbers(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(std::to_string(i));
  return out;
}
std::string same(const std::string& v) {
  return v;
}
std::string length_of(const std::string& v) {
  return std::to_string(v.size());
}

// The session's closing record is written after everything else; it is stored
// (end_reason set) or it was dropped: 0 or 1 record of M that is not an execution.
long long session_close_dropped(SqliteReader& store) {
  return store.count("sessions WHERE end_reason IS NOT NULL") == 1 ? 0 : 1;
}

}  // namespace

TEST_CASE("SQLite store on a full filesystem: traffic flows, drops are counted, writing resumes") {
  REQUIRE(wait_server_ready());
  TmpfsMount fs("8m");  // declared before the proxy: unmounted after it has exited
  if (!fs.mounted) {
    MESSAGE("skipped: cannot mount a tmpfs here (" << fs.why << ")");
    return;
  }
  const std::string db = fs.dir + "/store.db";
  const std::string filler = fs.dir + "/filler";
  // Recorded parameters make every execution row large (the store must grow); a small
  // byte bound makes what the writer keeps for its retries overflow soon.
  ProxyProcess proxy(
      {"--storage", "sqlite:" + db, "--record-parameters", "--recorder-queue-bytes", "1MiB"});
  Conn c = connect(proxy.conninfo());
  REQUIRE_MESSAGE(ok(c), error(c));
  PreparedLoad load{c.get(), proxy};
  load.prepare("fill", "SELECT length($1::text)");
  load.pipeline("fill", {"warm", "up"}, length_of);
  load.wait_stored();
  CHECK(dropped(scrape(proxy.metrics_port())) == 0);

  const long long filled = fill(filler);
  MESSAGE("filler: " << filled / 1024 << " KiB; free now " << free_bytes(fs.dir) << " bytes");
  CHECK(free_bytes(fs.dir) < 64 * 1024);

  // 8 KB parameters, 10 executions a round trip, until the writer has failed and drops
  // are counted. Every execution answers meanwhile.
  Samples at_failure;
  bool writer_failed = false;
  int rounds = 0;
  const auto deadline = Clock::now() + 30s;
  while (Clock::now() < deadline && (!writer_failed || dropped(at_failure) == 0)) {
    std::vector<std::string> values;
    for (int i = 0; i < 10; ++i)
      values.push_back(std::to_string(rounds * 10 + i) + std::string(8000, 'p'));
    load.pipeline("fill", values, length_of);
    ++rounds;
    at_failure = scrape(proxy.metrics_port());
    writer_failed = proxy.log().find("cannot write to SQLite store") != std::string::npos;
  }
  MESSAGE("after " << rounds * 10 << " executions on the full filesystem: store_error "
                   << sum(at_failure, "pglifecycle_recorder_dropped_total", "store_error")
                   << ", queue_full "
                   << sum(at_failure, "pglifecycle_recorder_dropped_total", "queue_full"));
  CHECK(writer_failed);
  CHECK(dropped(at_failure) > 0);
  CHECK(proxy.running());

  // Space again: the writer comes back on its own.
  std::filesystem::remove(filler);
  const double rows_at_failure = rows_executions(at_failure);
  CHECK(eventually(
      [&] {
        load.pipeline("fill", {"resumed"}, length_of);
        return rows_executions(scrape(proxy.metrics_port())) > rows_at_failure &&
               proxy.log().find("writing to SQLite store") != std::string::npos;
      },
      20s, 20ms));
  load.pipeline("fill", {"last-after-resume"}, length_of);
  CHECK(load.metrics_saw_all());
  const Samples before_term = scrape(proxy.metrics_port());
  c.reset();

  const FinalCount f = terminate_and_account(proxy, db);
  CHECK(f.wrote > rows_at_failure);
  CHECK(f.dropped >= dropped(before_term));
  SqliteReader store(db);
  const long long stored = store.count("executions");
  const long long close_dropped = session_close_dropped(store);
  MESSAGE("ran " << load.ran << " executions; stored " << stored << ", dropped " << f.dropped
                 << " records (session close dropped: " << close_dropped << ")");
  // Exactly: stored executions + dropped records == executions run + (session close
  // record dropped ? 1 : 0). See PreparedLoad for why nothing else can be dropped.
  CHECK(stored + f.dropped == load.ran + close_dropped);
  CHECK(store.count("executions WHERE params = '[\"last-after-resume\"]'") == 1);
  // SQLITE_FULL mid-transaction left nothing half-written.
  CHECK(store.value("PRAGMA integrity_check") == Cell("ok"));
}

namespace {

// SIGTERM while the writer's backlog and queue are full of records it could not write
// (the store locked by another connection). `release_first`: the lock is released just
// before the SIGTERM (the backlog is then written on the way out); otherwise it is held
// until the proxy has exited (the store's stop timeout then drops the backlog, counted).
void sigterm_with_full_queue(bool release_first) {
  REQUIRE(wait_server_ready());
  const std::string dir = temp_dir();
  const std::string db = dir + "/store.db";
  ProxyProcess proxy(
      {"--storage", "sqlite:" + db, "--recorder-queue", "200", "--shutdown-grace", "5s"});
  Conn c = connect(proxy.conninfo());
  REQUIRE_MESSAGE(ok(c), error(c));
  PreparedLoad load{c.get(), proxy};
  load.prepare("acct", "SELECT $1::int");
  load.pipeline("acct", numbers(50), same);
  load.wait_stored();
  const long long warm = load.ran;

  auto locker = std::make_unique<SqliteReader>(db);
  locker->exec("BEGIN EXCLUSIVE");
  // Traffic until the writer has met the lock (its one warning line) and drops are
  // counted: it keeps 200 records for its retries, the queue holds 200 more, the rest
  // overflow.
  Samples during_lock;
  bool writer_failed = false;
  const auto deadline = Clock::now() + 20s;
  do {
    load.pipeline("acct", numbers(500), same);
    during_lock = scrape(proxy.metrics_port());
    writer_failed =
        writer_failed ||
        eventually(
            [&] { return proxy.log().find("cannot write to SQLite store") != std::string::npos; },
            2s);
  } while ((!writer_failed || dropped(during_lock) == 0) && Clock::now() < deadline);
  CHECK(writer_failed);
  CHECK(dropped(during_lock) > 0);
  CHECK(rows_executions(during_lock) == warm);  // nothing got past the lock
  CHECK(load.metrics_saw_all());
  if (release_first) locker->exec("ROLLBACK");

  // SIGTERM at once, with the writer's backlog still full and the session still open.
  const Samples before_term = scrape(proxy.metrics_port());
  const auto start = Clock::now();
  const int status = proxy.terminate(40000);
  const long long ms = ms_since(start);
  const std::string log = proxy.log();
  if (!release_first) {
    locker->exec("ROLLBACK");
  }
  locker.reset();
  CHECK_MESSAGE(status == 0, log);
  if (release_first) {
    CHECK_MESSAGE(ms < 5000 + 3000, log);  // the shutdown grace, plus sanitizer slack
  } else {
    // The session ends at once; the store gets its 10 s stop timeout, then the rest is
    // counted as dropped.
    CHECK_MESSAGE(ms < 10000 + 5000, log);
    CHECK(log.find("stopping while SQLite store") != std::string::npos);
  }
  const FinalCount f = final_count(log);
  REQUIRE_MESSAGE(f.wrote >= 0, log);
  CHECK(f.dropped >= dropped(before_term));

  SqliteReader store(db);
  const long long stored = store.count("executions");
  const long long close_dropped = session_close_dropped(store);
  MESSAGE("client ran " << load.ran << " executions; stored " << stored << ", dropped " << f.dropped
                        << " records (session close dropped: " << close_dropped << "); exit after "
                        << ms << " ms");
  // The accounting asserted, exactly:
  //   rows in executions == N of "recorder wrote N executions"
  //   rows in executions + M of "dropped M records" == executions the client ran
  //                                                    + (1 if the session-close record was
  //                                                       dropped, else 0)
  // (every other record of the session was stored before the lock; see PreparedLoad).
  CHECK(stored == f.wrote);
  CHECK(stored + f.dropped == load.ran + close_dropped);
  if (release_first) {
    // What the writer kept for its retries while locked (200 records) was written after.
    CHECK(stored - warm >= 200);
  } else {
    CHECK(stored == warm);
    CHECK(close_dropped == 1);
  }
  CHECK(store.count("sessions") == 1);
  CHECK(store.value("PRAGMA integrity_check") == Cell("ok"));
  std::filesystem::remove_all(dir);
}

}  // namespace

TEST_CASE("SIGTERM with the recorder's queue full: exit 0, every execution stored or dropped") {
  sigterm_with_full_queue(true);
}

TEST_CASE("SIGTERM with the store still locked: exit 0 after the stop timeout, drops counted") {
  sigterm_with_full_queue(false);
}

TEST_CASE("a backend that is not there: the proxy starts, warns once, and says when it is") {
  REQUIRE(wait_server_ready());
  // A port nobody listens on: the connect is refused at once.
  ProxyProcess missing({"--backend", "127.0.0.1:" + std::to_string(free_port())});
  CHECK(eventually([&] { return missing.log().find("is not reachable") != std::string::npos; }, 10s,
                   5ms));
  CHECK(missing.running());
  // The client gets an error, not a hang.
  Conn c = connect(missing.conninfo());
  CHECK_FALSE(ok(c));
  CHECK(missing.terminate() == 0);

  ProxyProcess present;
  CHECK(eventually([&] { return present.log().find("is reachable") != std::string::npos; }, 10s,
                   5ms));
  CHECK(present.log().find("is not reachable") == std::string::npos);
}

TEST_CASE("the log says where the data goes: the SQLite store's absolute path") {
  // A relative path is relative to the proxy's working directory (a temp dir here).
  ProxyProcess proxy({"--storage", "sqlite:relative.db"});
  const std::string log = proxy.log();
  const auto at = log.find("recording to SQLite store /");
  REQUIRE(at != std::string::npos);
  const std::string line = log.substr(at, log.find('\n', at) - at);
  CHECK(line.ends_with("/relative.db"));
  CHECK(std::filesystem::exists(line.substr(std::string("recording to SQLite store ").size())));
}
