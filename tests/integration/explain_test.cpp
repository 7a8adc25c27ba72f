// `pglifecycle explain` over a store filled by real traffic through the real proxy (psql,
// libpq simple and extended queries, a libpq pipeline with an error), in both stores: the
// text trees (the same, numbers masked, from either store), JSON read back with SQLite's
// JSON functions, and the errors a user meets.
#include <doctest/doctest.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "tests/integration/pq.hpp"
#include "tests/support/pg_server.hpp"

using namespace pglc::test;

namespace {

// A value of a JSON document, as SQLite's json_extract gives it (nullopt: SQL NULL).
std::optional<std::string> json_get(const std::string& json, const std::string& path) {
  sqlite3* db = nullptr;
  sqlite3_open(":memory:", &db);
  sqlite3_stmt* st = nullptr;
  std::optional<std::string> out;
  if (sqlite3_prepare_v2(db, "SELECT json_valid(?1), json_extract(?1, ?2)", -1, &st, nullptr) ==
      SQLITE_OK) {
    sqlite3_bind_text(st, 1, json.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, path.c_str(), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW) {
      REQUIRE_MESSAGE(sqlite3_column_int(st, 0) == 1, "not JSON: " << json);
      if (sqlite3_column_type(st, 1) != SQLITE_NULL)
        out = reinterpret_cast<const char*>(sqlite3_column_text(st, 1));
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

// Checks a Chrome Trace Event file as a viewer reads it: the event kinds this project
// writes and their fields (µs integers), a process name for every process, complete
// events ("X") that nest on each thread (no partial overlap: Perfetto's rule), and async
// events ("b"/"e") that pair up and nest per id. Returns the problems, empty if none.
std::vector<std::string> validate_trace(const std::string& json) {
  std::vector<std::string> problems;
  if (json_get(json, "$.traceEvents[0]") == std::nullopt) problems.push_back("no traceEvents");
  struct Event {
    std::string ph, name, cat, id;
    long long pid = 0, tid = 0, ts = 0, dur = 0;
  };
  std::vector<Event> events;
  sqlite3* db = nullptr;
  sqlite3_open(":memory:", &db);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db,
                     "SELECT json_extract(value, '$.ph'), json_extract(value, '$.name'), "
                     "coalesce(json_extract(value, '$.cat'), ''), "
                     "coalesce(json_extract(value, '$.id'), ''), json_type(value, '$.pid'), "
                     "json_extract(value, '$.pid'), coalesce(json_extract(value, '$.tid'), 0), "
                     "json_type(value, '$.ts'), coalesce(json_extract(value, '$.ts'), -1), "
                     "json_type(value, '$.dur'), coalesce(json_extract(value, '$.dur'), -1) "
                     "FROM json_each(?1, '$.traceEvents')",
                     -1, &st, nullptr);
  sqlite3_bind_text(st, 1, json.c_str(), -1, SQLITE_TRANSIENT);
  auto col = [&](int i) {
    const unsigned char* t = sqlite3_column_text(st, i);
    return t ? std::string(reinterpret_cast<const char*>(t)) : std::string();
  };
  while (sqlite3_step(st) == SQLITE_ROW) {
    Event e{col(0), col(1), col(2), col(3)};
    e.pid = sqlite3_column_int64(st, 5), e.tid = sqlite3_column_int64(st, 6);
    e.ts = sqlite3_column_int64(st, 8), e.dur = sqlite3_column_int64(st, 10);
    const std::string where = "event " + std::to_string(events.size()) + " (" + e.name + ")";
    if (e.ph != "M" && e.ph != "X" && e.ph != "b" && e.ph != "e")
      problems.push_back(where + ": unknown ph " + e.ph);
    if (col(4) != "integer") problems.push_back(where + ": pid is not an integer");
    if (e.name.empty()) problems.push_back(where + ": no name");
    if (e.ph != "M" && (col(7) != "integer" || e.ts < 0))
      problems.push_back(where + ": ts is not microseconds (an integer)");
    if (e.ph == "X" && (col(9) != "integer" || e.dur < 0))
      problems.push_back(where + ": dur is not microseconds (an integer >= 0)");
    if ((e.ph == "b" || e.ph == "e") && (e.cat.empty() || e.id.empty()))
      problems.push_back(where + ": async event without cat and id");
    events.push_back(std::move(e));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  std::map<long long, bool> named;
  for (const Event& e : events) {
    if (e.ph == "M" && e.name == "process_name") named[e.pid] = true;
  }
  for (const Event& e : events) {
    if (e.ph != "M" && !named.count(e.pid))
      problems.push_back("pid " + std::to_string(e.pid) + " has no process_name");
  }
  // Complete events: per thread, sorted by start (longest first), each inside the one open.
  std::map<std::pair<long long, long long>, std::vector<const Event*>> threads;
  for (const Event& e : events) {
    if (e.ph == "X") threads[{e.pid, e.tid}].push_back(&e);
  }
  for (auto& [key, xs] : threads) {
    std::stable_sort(xs.begin(), xs.end(), [](const Event* a, const Event* b) {
      return a->ts != b->ts ? a->ts < b->ts : a->dur > b->dur;
    });
    std::vector<long long> open;
    for (const Event* e : xs) {
      while (!open.empty() && open.back() <= e->ts) open.pop_back();
      if (!open.empty() && e->ts + e->dur > open.back())
        problems.push_back("X \"" + e->name + "\" overlaps its enclosing slice on pid " +
                           std::to_string(key.first) + " tid " + std::to_string(key.second));
      open.push_back(e->ts + e->dur);
    }
  }
  // Async events: per id, in time order, a stack of names.
  std::map<std::tuple<long long, std::string, std::string>, std::vector<const Event*>> asyncs;
  for (const Event& e : events) {
    if (e.ph == "b" || e.ph == "e") asyncs[{e.pid, e.cat, e.id}].push_back(&e);
  }
  for (auto& [key, xs] : asyncs) {
    std::stable_sort(xs.begin(), xs.end(),
                     [](const Event* a, const Event* b) { return a->ts < b->ts; });
    std::vector<std::string> stack;
    for (const Event* e : xs) {
      if (e->ph == "b") {
        stack.push_back(e->name);
      } else if (stack.empty() || stack.back() != e->name) {
        problems.push_back("async e \"" + e->name + "\" of id " + std::get<2>(key) +
                           " does not end the innermost open b");
      } else {
        stack.pop_back();
      }
    }
    if (!stack.empty()) problems.push_back("async id " + std::get<2>(key) + " left open");
  }
  return problems;
}

struct Explain {
  int status = 0;
  std::string out;
};

Explain explain(const std::string& storage, std::vector<std::string> args) {
  std::vector<std::string> argv = {proxy_binary(), "explain", "--storage", storage};
  argv.insert(argv.end(), args.begin(), args.end());
  Explain e;
  e.status = run(argv, &e.out);
  return e;
}

void drive(const ProxyProcess& proxy) {
  Conn c = connect(
      proxy.conninfo(kTestDatabase, kSuperUser, kSuperPassword, "application_name=explain_app"));
  REQUIRE_MESSAGE(ok(c), error(c));
  {
    Result r(PQexec(c.get(), "SELECT pg_sleep(0.05) /* explain slow */"));
    REQUIRE(PQresultStatus(r.get()) == PGRES_TUPLES_OK);
  }
  {
    const char* v = "7";
    Result r(PQexecParams(c.get(), "SELECT $1::int /* explain extended */", 1, nullptr, &v, nullptr,
                          nullptr, 0));
    REQUIRE(PQresultStatus(r.get()) == PGRES_TUPLES_OK);
  }
  // One pipeline, one Sync: a success, an error, and the execution the server skipped.
  REQUIRE(PQenterPipelineMode(c.get()) == 1);
  for (const char* sql : {"SELECT 1 /* p1 */", "SELECT 1/0 /* p2 */", "SELECT 2 /* p3 */"}) {
    REQUIRE(PQsendQueryParams(c.get(), sql, 0, nullptr, nullptr, nullptr, nullptr, 0) == 1);
  }
  REQUIRE(PQpipelineSync(c.get()) == 1);
  int syncs = 0;
  while (syncs == 0) {
    PGresult* r = PQgetResult(c.get());
    if (r == nullptr) continue;
    if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) ++syncs;
    PQclear(r);
  }
  REQUIRE(PQexitPipelineMode(c.get()) == 1);
  std::string out;
  REQUIRE(run({PgServer::shared().bin_dir() + "/psql", "-X", "-At", "-d", proxy.conninfo(), "-c",
               "SELECT 42 /* explain psql */"},
              &out) == 0);
}

// The output with what differs between runs and stores replaced: ids, times, durations,
// ports, the backend pid.
std::string mask(std::string s, const std::vector<std::pair<std::string, std::string>>& ids) {
  for (const auto& [id, name] : ids) {
    for (std::size_t at = s.find(id); at != std::string::npos; at = s.find(id, at)) {
      s.replace(at, id.size(), name);
    }
  }
  s = std::regex_replace(s, std::regex(R"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\+00)"), "TS");
  s = std::regex_replace(s, std::regex(R"(\d+\.\d{3} ms)"), "N ms");
  s = std::regex_replace(s, std::regex(R"(127\.0\.0\.1:\d+)"), "ADDR");
  s = std::regex_replace(s, std::regex(R"(pid \d+)"), "pid P");
  s = std::regex_replace(s, std::regex(R"(\d+ bytes)"), "B bytes");
  s = std::regex_replace(s, std::regex(R"(\d+\.\d×)"), "R×");
  return s;
}

struct Outputs {
  std::string execution, session;
};

Outputs check_store(const std::string& storage) {
  Outputs masked;
  // The slowest executions of the last hour, as JSON: where the ids come from.
  const Explain slowest =
      explain(storage, {"--slowest", "10", "--since", "1h", "--format", "json"});
  REQUIRE_MESSAGE(slowest.status == 0, slowest.out);
  CHECK(json_get(slowest.out, "$.executions[0].sql") == "SELECT pg_sleep(0.05) /* explain slow */");
  const std::string slow_id = json_get(slowest.out, "$.executions[0].id").value_or("");
  REQUIRE(!slow_id.empty());
  CHECK(std::stod(json_get(slowest.out, "$.executions[0].total_ms").value_or("0")) >= 50);
  // The error is among them; the aborted one never finished, so it has no total.
  CHECK(slowest.out.find("\"sqlstate\":\"22012\"") != std::string::npos);
  CHECK(slowest.out.find("/* p3 */") == std::string::npos);

  const Explain text = explain(storage, {"--execution", slow_id});
  REQUIRE_MESSAGE(text.status == 0, text.out);
  const Explain json = explain(storage, {"--execution", slow_id, "--format", "json"});
  REQUIRE_MESSAGE(json.status == 0, json.out);
  const std::string session_id = json_get(json.out, "$.execution.session_id").value_or("");
  const std::string statement_id = json_get(json.out, "$.execution.statement_id").value_or("");
  CHECK(json_get(json.out, "$.execution.status") == "success");
  CHECK(json_get(json.out, "$.execution.application") == "explain_app");
  CHECK(json_get(json.out, "$.execution.kind") == "simple");
  CHECK(std::stod(json_get(json.out, "$.execution.phases.total_ms").value_or("0")) >= 50);
  CHECK(json_get(json.out, "$.execution.fingerprint_stats.calls") == "1");
  // --slowest narrowed by fingerprint and application finds it again, and nothing for an
  // application that never ran.
  const std::string fingerprint = json_get(json.out, "$.execution.fingerprint").value_or("");
  REQUIRE(!fingerprint.empty());
  const Explain narrowed =
      explain(storage, {"--slowest", "3", "--since", "1h", "--fingerprint", fingerprint,
                        "--application", "explain%", "--format", "json"});
  REQUIRE_MESSAGE(narrowed.status == 0, narrowed.out);
  CHECK(json_get(narrowed.out, "$.executions[0].id") == slow_id);
  CHECK(json_get(narrowed.out, "$.executions[1].id") == std::nullopt);
  const Explain none = explain(
      storage, {"--slowest", "3", "--since", "1h", "--application", "nobody%", "--format", "json"});
  REQUIRE_MESSAGE(none.status == 0, none.out);
  CHECK(json_get(none.out, "$.executions[0].id") == std::nullopt);
  const std::vector<std::pair<std::string, std::string>> ids = {
      {slow_id, "EXEC"}, {session_id, "SESSION"}, {statement_id, "STMT"}};
  masked.execution = mask(text.out, ids);
  const std::string want_head =
      "execution EXEC · session SESSION · statement STMT\n"
      "explain_app · " +
      std::string(kSuperUser) + "@" + std::string(kTestDatabase) +
      " · simple · select · timing precise\n"
      "SELECT pg_sleep(0.05) /* explain slow */\n"
      "began TS · success · SELECT 1 · 1 row · B bytes · 1 fetch\n"
      "total N ms  (p50 of its fingerprint N ms: R×, p95 N ms, 1 call)\n"
      "├─ first row           N ms\n"
      "├─ rest of rows        N ms   1 row · B bytes\n"
      "└─ delivered to client N ms   status success\n";
  CHECK_MESSAGE(masked.execution == want_head, masked.execution);

  // The session: its connect, then its executions, the pipeline grouped.
  const Explain session = explain(storage, {"--session", session_id});
  REQUIRE_MESSAGE(session.status == 0, session.out);
  std::vector<std::pair<std::string, std::string>> sids = {{session_id, "SESSION"}};
  const Explain sjson = explain(storage, {"--session", session_id, "--format", "json"});
  REQUIRE_MESSAGE(sjson.status == 0, sjson.out);
  CHECK(json_get(sjson.out, "$.session.execution_count") == "5");
  CHECK(json_get(sjson.out, "$.session.end_reason") == "client_terminate");
  CHECK(std::stod(json_get(sjson.out, "$.session.connect.connect_ms").value_or("-1")) > 0);
  CHECK(json_get(sjson.out, "$.session.pipelines[2][1].status") == "error");
  CHECK(json_get(sjson.out, "$.session.pipelines[2][2].status") == "aborted");
  for (int g = 0; g < 3; ++g) {
    for (int i = 0; i < 3; ++i) {
      const std::string base =
          "$.session.pipelines[" + std::to_string(g) + "][" + std::to_string(i) + "]";
      if (auto id = json_get(sjson.out, base + ".id"))
        sids.push_back({*id, "X" + std::to_string(g) + std::to_string(i)});
    }
  }
  masked.session = mask(session.out, sids);
  const std::string want_session =
      "connect N ms\n"
      "├─ startup    N ms\n"
      "├─ backend    N ms\n"
      "└─ auth       N ms\n"
      "5 executions (1 error, 1 aborted)\n"
      "├─ +N ms  N ms  success  simple  SELECT pg_sleep(0.05) /* explain slow */  #X00\n"
      "├─ +N ms  N ms  success  extended  SELECT $1::int /* explain extended */  #X10\n"
      "└─ pipeline of 3\n"
      "   ├─ +N ms  N ms  success  extended  SELECT 1 /* p1 */  #X20\n"
      "   ├─ +N ms  N ms  ✗ error 22012: division by zero  extended  SELECT 1/0 /* p2 */  #X21\n"
      "   └─ +N ms  —  ⊘ aborted  extended  SELECT 2 /* p3 */  #X22\n";
  CHECK_MESSAGE(masked.session.find(want_session) != std::string::npos, masked.session);
  CHECK(masked.session.rfind("session SESSION · explain_app · ", 0) == 0);

  // The same sessions as a trace, checked as a viewer would read it.
  {
    const std::string path = std::filesystem::temp_directory_path() /
                             ("pglc-trace-" + std::to_string(::getpid()) + ".json");
    std::vector<std::string> argv = {proxy_binary(), "trace", "--storage", storage,
                                     "--since",      "1h",    "-o",        path};
    std::string log;
    REQUIRE_MESSAGE(run(argv, &log) == 0, log);
    std::ifstream in(path);
    const std::string trace((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // Kept for tests/viewer_test.sh, which loads it in a real viewer (ctest sets the path).
    if (const char* keep = std::getenv("PGLC_TRACE_OUT"); keep && storage.rfind("sqlite:", 0) == 0) {
      std::filesystem::create_directories(std::filesystem::path(keep).parent_path());
      std::filesystem::copy_file(path, keep, std::filesystem::copy_options::overwrite_existing);
    }
    std::filesystem::remove(path);
    const auto problems = validate_trace(trace);
    for (const auto& p : problems) CHECK_MESSAGE(false, p);
    CHECK(trace.find("explain_app · session " + session_id) != std::string::npos);
    CHECK(trace.find(" psql · session ") != std::string::npos);
    // The pipeline's three executions are async events, one id each; the others are slices.
    std::size_t async_roots = 0;
    for (const char* sql : {"SELECT 1 /* p1 */", "SELECT 1/0 /* p2 */", "SELECT 2 /* p3 */"}) {
      if (trace.find("{\"ph\":\"b\",\"cat\":\"pipeline\"") != std::string::npos &&
          trace.find(std::string("\"name\":\"") + sql + "\",\"ts\"") != std::string::npos)
        ++async_roots;
    }
    CHECK(async_roots == 3);
    CHECK(trace.find("\"ph\":\"X\",\"pid\":1,\"tid\":2,\"name\":\"SELECT pg_sleep(0.05) /* explain "
                     "slow */\"") != std::string::npos);
    CHECK(trace.find("\"sqlstate\":\"22012\"") != std::string::npos);
    CHECK(trace.find("\"name\":\"connect\"") != std::string::npos);
  }

  // What a user gets wrong: an unknown id, a store that is not there.
  const Explain unknown =
      explain(storage, {"--execution", storage.rfind("sqlite:", 0) == 0
                                           ? "12345"
                                           : "01900000-0000-7000-8000-000000000000"});
  CHECK(unknown.status == 1);
  CHECK(unknown.out.find("no execution") != std::string::npos);
  // Not an id of this store at all (text for a uuid store): not found, not an SQL error.
  const Explain garbage = explain(storage, {"--session", "not-an-id; DROP TABLE sessions"});
  CHECK(garbage.status == 1);
  CHECK_MESSAGE(garbage.out.find("no session") != std::string::npos, garbage.out);
  const Explain both = explain(storage, {"--execution", "1", "--session", "2"});
  CHECK(both.status == 2);
  return masked;
}

}  // namespace

TEST_CASE("explain draws an execution, a session and the slowest, alike from both stores") {
  const std::string dir = make_temp_dir("pglc-explain");
  REQUIRE(!dir.empty());
  const std::string sqlite = "sqlite:" + dir + "/store.db";
  const std::string pg = fresh_store_uri("pglc_explain");
  Outputs got[2];
  int i = 0;
  for (const std::string& storage : {sqlite, pg}) {
    CAPTURE(storage);
    {
      ProxyProcess proxy({"--storage", storage});
      drive(proxy);
      REQUIRE_MESSAGE(sessions_closed(proxy), "the proxy still has open client sessions");
      REQUIRE(proxy.terminate() == 0);
    }
    got[i++] = check_store(storage);
  }
  CHECK(got[0].execution == got[1].execution);
  CHECK(got[0].session == got[1].session);

  // A store of a newer schema, and a file that is not there.
  std::filesystem::copy_file(dir + "/store.db", dir + "/newer.db");
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open((dir + "/newer.db").c_str(), &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "INSERT INTO schema_migrations VALUES (99, 'x', 0)", nullptr, nullptr,
                       nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  const Explain newer = explain("sqlite:" + dir + "/newer.db", {"--slowest", "1"});
  CHECK(newer.status == 1);
  CHECK(newer.out.find("schema version 99, newer than this pglifecycle") != std::string::npos);
  const Explain missing = explain("sqlite:" + dir + "/missing.db", {"--slowest", "1"});
  CHECK(missing.status == 1);
  CHECK(missing.out.find("cannot open the SQLite store") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir + "/missing.db"));

  // pglifecycle reset on the same store: nothing is left to explain.
  std::string out;
  CHECK(run({proxy_binary(), "reset", "--storage", sqlite}, &out) == 2);  // --all or --before
  CHECK(run({proxy_binary(), "reset", "--storage", sqlite, "--before", "soon"}, &out) == 2);
  REQUIRE(run({proxy_binary(), "reset", "--storage", sqlite, "--all"}, &out) == 0);
  CHECK(out.find("minute rollups; the all-time totals start again now") != std::string::npos);
  const Explain after = explain(sqlite, {"--slowest", "10", "--format", "json"});
  CHECK(after.status == 0);
  CHECK(json_get(after.out, "$.executions[0]") == std::nullopt);
  if (!getenv("PGLC_KEEP_E2E")) std::filesystem::remove_all(dir);
}

TEST_CASE("the trace validator catches what a viewer would reject") {
  const std::string head =
      R"({"traceEvents":[{"ph":"M","pid":1,"tid":0,"name":"process_name","args":{"name":"p"}},)";
  CHECK(validate_trace(head + R"({"ph":"X","pid":1,"tid":2,"name":"a","ts":0,"dur":10},
                                  {"ph":"X","pid":1,"tid":2,"name":"b","ts":2,"dur":3}]})")
            .empty());
  CHECK(validate_trace(head + R"({"ph":"X","pid":1,"tid":2,"name":"a","ts":0,"dur":10},
                                  {"ph":"X","pid":1,"tid":2,"name":"b","ts":5,"dur":10}]})")
            .size() == 1);  // partial overlap on one thread
  CHECK(validate_trace(head + R"({"ph":"X","pid":1,"tid":2,"name":"a","ts":0.5,"dur":10}]})")
            .size() == 1);  // not integer microseconds
  CHECK(validate_trace(head + R"({"ph":"b","cat":"c","id":"1","pid":1,"tid":2,"name":"a","ts":0},
                                  {"ph":"b","cat":"c","id":"1","pid":1,"tid":2,"name":"x","ts":1},
                                  {"ph":"e","cat":"c","id":"1","pid":1,"tid":2,"name":"a","ts":2}]})")
            .size() == 2);  // ends the wrong one, and leaves one open
  CHECK(validate_trace(R"({"traceEvents":[{"ph":"X","pid":7,"tid":2,"name":"a","ts":0,"dur":1}]})")
            .size() == 1);  // no process name
}
