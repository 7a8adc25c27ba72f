// The relay through the real proxy with real clients: psql, libpq (extended protocol,
// binary results, pipeline mode, COPY), pgbench, and a raw client that splits and
// coalesces messages. Every check compares results, not just the absence of a crash.
#include <doctest/doctest.h>
#include <netinet/tcp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <thread>

#include "tests/integration/pq.hpp"
#include "tests/integration/raw_client.hpp"
#include "tests/support/pg_server.hpp"

using namespace pglc::test;

namespace {

ProxyProcess& proxy() {
  static ProxyProcess p;
  return p;
}

struct Output {
  int status;
  std::string text;
};

Output psql(const std::string& conninfo, const std::string& sql) {
  Output o;
  o.status = run({PgServer::shared().bin_dir() + "/psql", "-X", "-At", "-v", "ON_ERROR_STOP=1",
                  "-d", conninfo, "-c", sql},
                 &o.text);
  return o;
}

std::string value(const PGresult* r, int row, int col) {
  return std::string(PQgetvalue(r, row, col), static_cast<size_t>(PQgetlength(r, row, col)));
}

long vm_rss_kb(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

std::vector<std::string> small_asan_quarantine() {
  // ASan keeps freed memory in a quarantine that would count as RSS; bound it so the
  // measure is the proxy's own retention.
  const char* asan = std::getenv("ASAN_OPTIONS");
  return {"ASAN_OPTIONS=" + std::string(asan != nullptr ? asan : "") + ":quarantine_size_mb=16"};
}

// DataRow with one column → its value.
std::string single_column(const RawMessage& m) {
  if (m.body.size() < 6) return "<short DataRow>";
  uint32_t len;
  std::memcpy(&len, m.body.data() + 2, 4);
  len = ntohl(len);
  return m.body.substr(6, len);
}

}  // namespace

TEST_CASE("psql: simple and multi-statement queries give the server's own output") {
  auto& pg = PgServer::shared();
  const std::string via = proxy().conninfo();
  const std::string direct = pg.conninfo();

  auto one = psql(via, "SELECT 1");
  CHECK(one.status == 0);
  CHECK(one.text == "1\n");

  // One Query message carrying several statements: every result comes back, in order.
  auto multi = psql(via, "SELECT 1 AS a; SELECT 'two' AS t; SELECT g FROM generate_series(1, 3) g");
  CHECK(multi.status == 0);
  CHECK(multi.text == "1\ntwo\n1\n2\n3\n");

  auto tx = psql(via,
                 "BEGIN; CREATE TEMP TABLE t(x int); INSERT INTO t SELECT generate_series(1, 10);"
                 " COMMIT; SELECT sum(x) FROM t");
  CHECK(tx.status == 0);
  CHECK(tx.text == "BEGIN\nCREATE TABLE\nINSERT 0 10\nCOMMIT\n55\n");

  // An error in the middle stops the rest of the Query, exactly as on the server.
  auto err = psql(via, "SELECT 1; SELECT 1/0; SELECT 3");
  CHECK(err.status != 0);
  CHECK(err.text.find("division by zero") != std::string::npos);
  CHECK(err.text.find("\n3\n") == std::string::npos);

  for (std::string sql : {"SELECT oid, relname, relkind FROM pg_class ORDER BY oid",
                          "SELECT 1; SELECT 'a' || 'b'; SELECT NULL; SELECT 1/0",
                          "SHOW server_version; SELECT current_user, current_database()"}) {
    CAPTURE(sql);
    auto a = psql(via, sql);
    auto b = psql(direct, sql);
    CHECK(a.status == b.status);
    CHECK(a.text == b.text);
  }
}

TEST_CASE("startup: user, database, application_name and options reach the backend") {
  Conn c = connect(proxy().conninfo(kTestDatabase, kScramUser, kScramPassword,
                                    "application_name=relay_app options='-c work_mem=7MB'"));
  REQUIRE_MESSAGE(ok(c), error(c));
  CHECK(scalar(c.get(), "SELECT current_user || '@' || current_database()") ==
        std::string(kScramUser) + "@" + std::string(kTestDatabase));
  CHECK(scalar(c.get(), "SELECT current_setting('application_name')") == "relay_app");
  CHECK(scalar(c.get(), "SHOW work_mem") == "7MB");
  // ParameterStatus from the backend reaches the client (libpq tracks it).
  CHECK(std::string(PQparameterStatus(c.get(), "application_name")) == "relay_app");
  PQclear(PQexec(c.get(), "SET application_name = 'renamed'"));
  CHECK(std::string(PQparameterStatus(c.get(), "application_name")) == "renamed");
  // BackendKeyData is the backend's own: the PID libpq saw is the server process.
  CHECK(scalar(c.get(), "SELECT pg_backend_pid()") == std::to_string(PQbackendPID(c.get())));
}

TEST_CASE("libpq: PQexecParams and PQprepare/PQexecPrepared with binary results") {
  Conn c = connect(proxy().conninfo());
  REQUIRE_MESSAGE(ok(c), error(c));

  const char* params[] = {"42", "-2", "h\xc3\xa9llo", "\\x00ff", nullptr};
  Result r(PQexecParams(c.get(), "SELECT $1::int4, $2::int8, $3::text, $4::bytea, $5::int4", 5,
                        nullptr, params, nullptr, nullptr, /*resultFormat=*/1));
  REQUIRE_MESSAGE(PQresultStatus(r.get()) == PGRES_TUPLES_OK, PQresultErrorMessage(r.get()));
  REQUIRE(PQntuples(r.get()) == 1);
  CHECK(PQftype(r.get(), 0) == 23);
  CHECK(PQftype(r.get(), 1) == 20);
  CHECK(PQftype(r.get(), 2) == 25);
  CHECK(PQftype(r.get(), 3) == 17);
  for (int col = 0; col < 4; ++col) CHECK(PQfformat(r.get(), col) == 1);
  CHECK(value(r.get(), 0, 0) == std::string("\x00\x00\x00\x2a", 4));
  CHECK(value(r.get(), 0, 1) == std::string(8, '\xff').replace(7, 1, "\xfe"));
  CHECK(value(r.get(), 0, 2) == "h\xc3\xa9llo");
  CHECK(value(r.get(), 0, 3) == std::string("\x00\xff", 2));
  CHECK(PQgetisnull(r.get(), 0, 4) == 1);

  // Binary parameters in, binary results out.
  uint32_t be7 = htonl(7);
  const char* bin_params[] = {reinterpret_cast<const char*>(&be7)};
  int lengths[] = {4};
  int formats[] = {1};
  Oid types[] = {23};
  Result r2(PQexecParams(c.get(), "SELECT $1 + 1, 1.5::float8, true", 1, types, bin_params, lengths,
                         formats, 1));
  REQUIRE_MESSAGE(PQresultStatus(r2.get()) == PGRES_TUPLES_OK, PQresultErrorMessage(r2.get()));
  CHECK(value(r2.get(), 0, 0) == std::string("\x00\x00\x00\x08", 4));
  CHECK(value(r2.get(), 0, 1) == std::string("\x3f\xf8\x00\x00\x00\x00\x00\x00", 8));
  CHECK(value(r2.get(), 0, 2) == std::string("\x01", 1));

  Result prep(PQprepare(c.get(), "twice", "SELECT $1::int4 * 2, repeat($2::text, 3)", 2, nullptr));
  REQUIRE_MESSAGE(PQresultStatus(prep.get()) == PGRES_COMMAND_OK, PQresultErrorMessage(prep.get()));
  Result desc(PQdescribePrepared(c.get(), "twice"));
  REQUIRE(PQresultStatus(desc.get()) == PGRES_COMMAND_OK);
  CHECK(PQnparams(desc.get()) == 2);
  CHECK(PQparamtype(desc.get(), 0) == 23);
  CHECK(PQparamtype(desc.get(), 1) == 25);
  CHECK(PQnfields(desc.get()) == 2);
  for (int i = 0; i < 3; ++i) {
    std::string n = std::to_string(1000 + i);
    const char* p[] = {n.c_str(), "ab"};
    Result e(PQexecPrepared(c.get(), "twice", 2, p, nullptr, nullptr, 1));
    REQUIRE_MESSAGE(PQresultStatus(e.get()) == PGRES_TUPLES_OK, PQresultErrorMessage(e.get()));
    uint32_t expected = htonl(static_cast<uint32_t>(2 * (1000 + i)));
    CHECK(value(e.get(), 0, 0) == std::string(reinterpret_cast<const char*>(&expected), 4));
    CHECK(value(e.get(), 0, 1) == "ababab");
  }
  // Text results through the same prepared statement (result format per Bind).
  const char* p[] = {"21", "x"};
  Result t(PQexecPrepared(c.get(), "twice", 2, p, nullptr, nullptr, 0));
  CHECK(value(t.get(), 0, 0) == "42");
  CHECK(value(t.get(), 0, 1) == "xxx");
  // Errors in the extended protocol come back with their SQLSTATE; the session lives on.
  Result bad(PQexecParams(c.get(), "SELECT $1::int4", 1, nullptr, params + 2, nullptr, nullptr, 0));
  CHECK(PQresultStatus(bad.get()) == PGRES_FATAL_ERROR);
  CHECK(sqlstate(bad.get()) == "22P02");
  CHECK(scalar(c.get(), "SELECT 'alive'") == "alive");
}

static void check_pipeline(const std::string& conninfo) {
  Conn c = connect(conninfo);
  REQUIRE_MESSAGE(ok(c), error(c));
  PGconn* conn = c.get();
  REQUIRE(PQenterPipelineMode(conn) == 1);

  const char* one[] = {"1"};
  const char* a[] = {"a"};
  const char* b[] = {"b"};
  REQUIRE(PQsendQueryParams(conn, "SELECT $1::int + 1", 1, nullptr, one, nullptr, nullptr, 0));
  REQUIRE(PQsendPrepare(conn, "p", "SELECT $1::text || 'x'", 1, nullptr));
  REQUIRE(PQsendQueryPrepared(conn, "p", 1, a, nullptr, nullptr, 0));
  REQUIRE(PQsendQueryParams(conn, "SELECT 1/0", 0, nullptr, nullptr, nullptr, nullptr, 0));
  REQUIRE(PQsendQueryParams(conn, "SELECT 2", 0, nullptr, nullptr, nullptr, nullptr, 0));
  REQUIRE(PQsendQueryPrepared(conn, "p", 1, b, nullptr, nullptr, 0));
  REQUIRE(PQpipelineSync(conn));

  struct Expect {
    ExecStatusType status;
    std::string value;
  };
  std::vector<Expect> expected = {{PGRES_TUPLES_OK, "2"},       {PGRES_COMMAND_OK, ""},
                                  {PGRES_TUPLES_OK, "ax"},      {PGRES_FATAL_ERROR, "22012"},
                                  {PGRES_PIPELINE_ABORTED, ""}, {PGRES_PIPELINE_ABORTED, ""}};
  for (size_t i = 0; i < expected.size(); ++i) {
    CAPTURE(i);
    Result r(PQgetResult(conn));
    REQUIRE(r);
    CHECK(PQresultStatus(r.get()) == expected[i].status);
    if (expected[i].status == PGRES_TUPLES_OK) CHECK(value(r.get(), 0, 0) == expected[i].value);
    if (expected[i].status == PGRES_FATAL_ERROR) CHECK(sqlstate(r.get()) == expected[i].value);
    CHECK(PQgetResult(conn) == nullptr);  // end of this query's results
  }
  Result sync(PQgetResult(conn));
  CHECK(PQresultStatus(sync.get()) == PGRES_PIPELINE_SYNC);

  // After Sync the pipeline works again, and the statement prepared before the error
  // still exists (prepared statements are not transactional).
  const char* c_param[] = {"c"};
  REQUIRE(PQsendQueryPrepared(conn, "p", 1, c_param, nullptr, nullptr, 0));
  for (int i = 0; i < 20; ++i) {
    std::string sql = "SELECT " + std::to_string(i);
    REQUIRE(PQsendQueryParams(conn, sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 1));
  }
  REQUIRE(PQpipelineSync(conn));
  {
    Result r(PQgetResult(conn));
    CHECK(PQresultStatus(r.get()) == PGRES_TUPLES_OK);
    CHECK(value(r.get(), 0, 0) == "cx");
    CHECK(PQgetResult(conn) == nullptr);
  }
  for (int i = 0; i < 20; ++i) {
    Result r(PQgetResult(conn));
    REQUIRE(PQresultStatus(r.get()) == PGRES_TUPLES_OK);
    uint32_t expected_value = htonl(static_cast<uint32_t>(i));
    CHECK(value(r.get(), 0, 0) == std::string(reinterpret_cast<const char*>(&expected_value), 4));
    CHECK(PQgetResult(conn) == nullptr);
  }
  Result sync2(PQgetResult(conn));
  CHECK(PQresultStatus(sync2.get()) == PGRES_PIPELINE_SYNC);
  CHECK(PQexitPipelineMode(conn) == 1);
  CHECK(scalar(conn, "SELECT 'out of pipeline'") == "out of pipeline");
}

TEST_CASE("libpq: pipeline mode, results in order, an error aborts the rest until Sync") {
  // precise phase timing injects Flush after Parse/Bind; passive adds nothing. Both must
  // give the client exactly the server's answers.
  SUBCASE("--phase-timing precise") {
    check_pipeline(proxy().conninfo());
  }
  SUBCASE("--phase-timing passive") {
    ProxyProcess passive({"--phase-timing", "passive"});
    check_pipeline(passive.conninfo());
  }
}

TEST_CASE("pgbench: simple, extended and prepared protocols with zero failed transactions") {
  auto& pg = PgServer::shared();
  pg.create_database("bench");
  std::string out;
  int status = run({pg.bin_dir() + "/pgbench", "-i", "-s", "1", "-q", pg.conninfo("bench")}, &out);
  REQUIRE_MESSAGE(status == 0, out);

  const std::regex failed(R"(number of failed transactions: (\d+))");
  const std::regex processed(R"(number of transactions actually processed: (\d+))");
  for (std::string mode : {"simple", "extended", "prepared"}) {
    CAPTURE(mode);
    status = run({pg.bin_dir() + "/pgbench", "-M", mode, "-c", "4", "-j", "2", "-T", "3",
                  proxy().conninfo("bench")},
                 &out);
    CAPTURE(out);
    CHECK(status == 0);
    std::smatch m;
    REQUIRE(std::regex_search(out, m, failed));
    CHECK(m[1] == "0");
    REQUIRE(std::regex_search(out, m, processed));
    CHECK(std::stol(m[1]) > 0);
  }
}

TEST_CASE("COPY FROM STDIN then TO STDOUT of ~10 MB round-trips byte-identical") {
  Conn c = connect(proxy().conninfo());
  REQUIRE_MESSAGE(ok(c), error(c));
  PGconn* conn = c.get();
  PQclear(PQexec(conn, "DROP TABLE IF EXISTS copy_rt"));
  Result created(PQexec(conn, "CREATE TABLE copy_rt(id int PRIMARY KEY, payload text)"));
  REQUIRE(PQresultStatus(created.get()) == PGRES_COMMAND_OK);

  std::string data;
  uint64_t x = 88172645463325252ull;  // xorshift: varied, reproducible payloads
  const std::string alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 é€";
  for (int id = 1; data.size() < 10'000'000; ++id) {
    data += std::to_string(id);
    data += '\t';
    for (int i = 0; i < 100; ++i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      char ch = alphabet[x % 63];  // ASCII part only, single bytes
      data += ch;
    }
    data += (id % 7 == 0) ? " é€\n" : "\n";
  }
  const int rows = static_cast<int>(std::count(data.begin(), data.end(), '\n'));

  Result in(PQexec(conn, "COPY copy_rt FROM STDIN"));
  REQUIRE(PQresultStatus(in.get()) == PGRES_COPY_IN);
  for (size_t pos = 0; pos < data.size(); pos += 65536) {
    size_t n = std::min<size_t>(65536, data.size() - pos);
    REQUIRE(PQputCopyData(conn, data.data() + pos, static_cast<int>(n)) == 1);
  }
  REQUIRE(PQputCopyEnd(conn, nullptr) == 1);
  Result done(PQgetResult(conn));
  REQUIRE_MESSAGE(PQresultStatus(done.get()) == PGRES_COMMAND_OK, PQresultErrorMessage(done.get()));
  CHECK(std::string(PQcmdTuples(done.get())) == std::to_string(rows));
  CHECK(PQgetResult(conn) == nullptr);

  Result out(PQexec(conn, "COPY (SELECT * FROM copy_rt ORDER BY id) TO STDOUT"));
  REQUIRE(PQresultStatus(out.get()) == PGRES_COPY_OUT);
  std::string back;
  back.reserve(data.size());
  for (;;) {
    char* buf = nullptr;
    int n = PQgetCopyData(conn, &buf, 0);
    if (n < 0) break;
    back.append(buf, static_cast<size_t>(n));
    PQfreemem(buf);
  }
  Result end(PQgetResult(conn));
  CHECK(PQresultStatus(end.get()) == PGRES_COMMAND_OK);
  CHECK(back.size() == data.size());
  CHECK(back == data);

  // COPY FROM with bad data fails cleanly and the session continues.
  Result in2(PQexec(conn, "COPY copy_rt FROM STDIN"));
  REQUIRE(PQresultStatus(in2.get()) == PGRES_COPY_IN);
  std::string bad = "not-a-number\tx\n";
  PQputCopyData(conn, bad.data(), static_cast<int>(bad.size()));
  PQputCopyEnd(conn, nullptr);
  Result failed(PQgetResult(conn));
  CHECK(PQresultStatus(failed.get()) == PGRES_FATAL_ERROR);
  CHECK(sqlstate(failed.get()) == "22P02");
  CHECK(PQgetResult(conn) == nullptr);
  CHECK(scalar(conn, "SELECT count(*) FROM copy_rt") == std::to_string(rows));
}

TEST_CASE("a ~100 MB result streams through while the proxy's RSS stays bounded") {
  ProxyProcess streaming({}, small_asan_quarantine());
  Conn c = connect(streaming.conninfo());
  REQUIRE_MESSAGE(ok(c), error(c));
  PGconn* conn = c.get();
  CHECK(scalar(conn, "SELECT repeat('x', 1000) FROM generate_series(1, 100)").size() == 1000);
  const long baseline = vm_rss_kb(streaming.pid());
  REQUIRE(baseline > 0);

  Conn other = connect(streaming.conninfo());
  REQUIRE_MESSAGE(ok(other), error(other));

  REQUIRE(PQsendQuery(conn, "SELECT repeat('x', 1000) FROM generate_series(1, 100000)"));
  REQUIRE(PQsetSingleRowMode(conn) == 1);
  long rows = 0, bytes = 0, max_rss = baseline;
  bool all_x = true;
  long long other_ms = -1;
  for (;;) {
    Result r(PQgetResult(conn));
    if (!r) break;
    ExecStatusType st = PQresultStatus(r.get());
    if (st == PGRES_SINGLE_TUPLE) {
      ++rows;
      int len = PQgetlength(r.get(), 0, 0);
      bytes += len;
      const char* v = PQgetvalue(r.get(), 0, 0);
      all_x = all_x && len == 1000 && v[0] == 'x' && v[999] == 'x';
      if (rows % 2000 == 0) max_rss = std::max(max_rss, vm_rss_kb(streaming.pid()));
      if (rows == 1000) {
        // A slow client: stop reading for a while. The backend could send the rest of the
        // 100 MB in that time; a proxy without backpressure would hold it in memory.
        for (int i = 0; i < 15; ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
          max_rss = std::max(max_rss, vm_rss_kb(streaming.pid()));
        }
        // Backpressure is per session: another session through the proxy is unaffected.
        auto t0 = std::chrono::steady_clock::now();
        bool other_ok = scalar(other.get(), "SELECT 'other'") == "other";
        other_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - t0)
                       .count();
        CHECK(other_ok);
      }
    } else {
      CHECK_MESSAGE(st == PGRES_TUPLES_OK, PQresultErrorMessage(r.get()));
    }
  }
  max_rss = std::max(max_rss, vm_rss_kb(streaming.pid()));
  CHECK(rows == 100000);
  CHECK(bytes == 100'000'000);
  CHECK(all_x);
  MESSAGE("proxy RSS baseline " << baseline / 1024 << " MB, max " << max_rss / 1024 << " MB");
  CHECK((max_rss - baseline) < 40 * 1024);
  MESSAGE("other session answered in " << other_ms << " ms while the stream was stalled");
  CHECK(other_ms >= 0);
  CHECK(other_ms < 1000);
}

TEST_CASE("one 64 MB value in one DataRow arrives intact, not held whole by the proxy") {
  ProxyProcess p({}, small_asan_quarantine());
  Conn c = connect(p.conninfo());
  REQUIRE_MESSAGE(ok(c), error(c));
  const long baseline = vm_rss_kb(p.pid());
  std::atomic<bool> done{false};
  std::atomic<long> peak{baseline};
  std::thread sampler([&] {
    while (!done) {
      peak = std::max(peak.load(), vm_rss_kb(p.pid()));
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  Result r(PQexecParams(c.get(), "SELECT repeat('0123456789abcdef', 4194304)::bytea", 0, nullptr,
                        nullptr, nullptr, nullptr, 1));
  done = true;
  sampler.join();
  REQUIRE_MESSAGE(PQresultStatus(r.get()) == PGRES_TUPLES_OK, PQresultErrorMessage(r.get()));
  REQUIRE(PQgetlength(r.get(), 0, 0) == 64 * 1024 * 1024);
  const char* v = PQgetvalue(r.get(), 0, 0);
  bool intact = true;
  for (int i = 0; i < 64 * 1024 * 1024; i += 16) {
    intact = intact && std::memcmp(v + i, "0123456789abcdef", 16) == 0;
  }
  CHECK(intact);
  MESSAGE("proxy RSS while relaying a 64 MB DataRow: " << baseline / 1024 << " MB, peak "
                                                       << peak / 1024 << " MB");
  CHECK(peak - baseline < 40 * 1024);
}

TEST_CASE("large frontend messages: a multi-megabyte query text and parameter") {
  Conn c = connect(proxy().conninfo());
  REQUIRE_MESSAGE(ok(c), error(c));
  std::string sql = "SELECT length('" + std::string(8'000'000, 'q') + "')";
  CHECK(scalar(c.get(), sql) == "8000000");
  std::string big(16'000'000, 'p');
  const char* params[] = {big.c_str()};
  Result r(PQexecParams(c.get(),
                        "SELECT length($1::text), md5($1::text) = md5(repeat('p', 16000000))", 1,
                        nullptr, params, nullptr, nullptr, 0));
  REQUIRE_MESSAGE(PQresultStatus(r.get()) == PGRES_TUPLES_OK, PQresultErrorMessage(r.get()));
  CHECK(value(r.get(), 0, 0) == "16000000");
  CHECK(value(r.get(), 0, 1) == "t");
}

TEST_CASE("raw client: messages split byte by byte, and many coalesced in one write") {
  RawClient raw(proxy().port());
  REQUIRE(raw.connected());
  int one = 1;
  setsockopt(raw.fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const std::string startup = startup_message(kTrustUser, kTestDatabase);
  for (char ch : startup) REQUIRE(raw.send(std::string(1, ch)));
  auto auth = raw.read_message();
  REQUIRE(auth);
  CHECK(auth->type == 'R');
  CHECK(auth->body == std::string(4, '\0'));  // AuthenticationOk
  std::vector<RawMessage> skipped;
  auto ready = raw.read_until('Z', &skipped);
  REQUIRE(ready);
  CHECK(std::any_of(skipped.begin(), skipped.end(), [](auto& m) { return m.type == 'K'; }));

  const std::string q = query_message("SELECT 'split'");
  for (char ch : q) REQUIRE(raw.send(std::string(1, ch)));
  skipped.clear();
  REQUIRE(raw.read_until('Z', &skipped));
  REQUIRE(skipped.size() == 3);  // RowDescription, DataRow, CommandComplete
  CHECK(skipped[0].type == 'T');
  CHECK(skipped[1].type == 'D');
  CHECK(single_column(skipped[1]) == "split");
  CHECK(skipped[2].type == 'C');

  std::string batch;
  for (int i = 0; i < 200; ++i) batch += query_message("SELECT " + std::to_string(i));
  REQUIRE(raw.send(batch));
  for (int i = 0; i < 200; ++i) {
    CAPTURE(i);
    skipped.clear();
    REQUIRE(raw.read_until('Z', &skipped));
    REQUIRE(skipped.size() == 3);
    CHECK(single_column(skipped[1]) == std::to_string(i));
  }
  // Terminate: the proxy closes the connection.
  REQUIRE(raw.send(message('X', "")));
  CHECK(raw.wait_closed());
}

TEST_CASE("concurrent sessions stay independent") {
  constexpr int kSessions = 16;
  std::vector<std::thread> threads;
  std::vector<std::string> results(kSessions);
  for (int s = 0; s < kSessions; ++s) {
    threads.emplace_back([&, s] {
      Conn c = connect(proxy().conninfo(kTestDatabase, kScramUser, kScramPassword));
      if (!ok(c)) {
        results[s] = error(c);
        return;
      }
      long sum = 0;
      for (int i = 0; i < 50; ++i) {
        std::string v = scalar(c.get(), "SELECT " + std::to_string(s * 1000 + i));
        sum += std::atol(v.c_str());
      }
      results[s] = std::to_string(sum);
    });
  }
  for (auto& t : threads) t.join();
  for (int s = 0; s < kSessions; ++s) {
    CAPTURE(s);
    CHECK(results[s] == std::to_string(s * 1000 * 50 + 49 * 50 / 2));
  }
}

// Startup with protocol 3.1 and a _pq_ option on a raw socket; returns the first message.
static std::optional<RawMessage> negotiate(int port, std::string* query_result) {
  RawClient raw(port);
  if (!raw.connected()) return std::nullopt;
  std::string body;
  put_u32(body, (3u << 16) | 1u);  // 3.1: newer than PostgreSQL 15 speaks
  for (std::string_view kv : {"user", kTrustUser.data(), "database", kTestDatabase.data(),
                              "_pq_.pglc_test_option", "on"}) {
    body += kv;
    body += '\0';
  }
  body += '\0';
  std::string packet;
  put_u32(packet, static_cast<uint32_t>(body.size() + 4));
  if (!raw.send(packet + body)) return std::nullopt;
  auto first = raw.read_message();
  if (!first || !raw.read_until('Z')) return first;
  raw.send(query_message("SELECT 'negotiated'"));
  std::vector<RawMessage> skipped;
  if (raw.read_until('Z', &skipped) && skipped.size() == 3) {
    *query_result = single_column(skipped[1]);
  }
  return first;
}

TEST_CASE("startup: protocol 3.1 and _pq_ options get the backend's NegotiateProtocolVersion") {
  std::string via_result, direct_result;
  auto via = negotiate(proxy().port(), &via_result);
  auto direct = negotiate(PgServer::shared().port(), &direct_result);
  REQUIRE(via);
  REQUIRE(direct);
  CHECK(direct->type == 'v');
  CHECK(via->type == direct->type);
  CHECK(via->body == direct->body);
  CHECK(via->body.find("_pq_.pglc_test_option") != std::string::npos);
  CHECK(direct_result == "negotiated");
  CHECK(via_result == "negotiated");
}

namespace {

std::string cstr(std::string_view s) {
  return std::string(s) + '\0';
}
std::string u16(uint16_t v) {
  v = htons(v);
  return std::string(reinterpret_cast<const char*>(&v), 2);
}
std::string u32(uint32_t v) {
  std::string out;
  put_u32(out, v);
  return out;
}

// Logs in as trust_user, sends `batch` in one write and returns every byte the server
// answered until `ready_count` ReadyForQuery messages (BackendKeyData left out: it
// differs per connection by design).
std::string exchange(int port, const std::string& batch, int ready_count) {
  RawClient raw(port);
  if (!raw.connected() || !raw.send(startup_message(kTrustUser, kTestDatabase))) return "no";
  if (!raw.read_until('Z')) return "no ReadyForQuery after startup";
  raw.send(batch);
  std::string out;
  for (int ready = 0; ready < ready_count;) {
    auto m = raw.read_message();
    if (!m) return out + "<stream ended>";
    if (m->type == 'Z') ++ready;
    out += m->type;
    out += u32(static_cast<uint32_t>(m->body.size() + 4));
    out += m->body;
  }
  return out;
}

}  // namespace

TEST_CASE("byte-exact: the client receives exactly the bytes the server sends") {
  // Extended protocol with binary formats, a suspended portal, an error mid-pipeline,
  // a multi-statement Query and a notice: the responses through the proxy (with its
  // Flush injection for precise phase timing) must equal the direct ones byte for byte.
  std::string b;
  b += message('P', cstr("s1") +
                        cstr("SELECT g, g::text, repeat('r', g) FROM "
                             "generate_series(1, $1::int) g") +
                        u16(0));
  b += message('D', "S" + cstr("s1"));
  b += message('B', cstr("") + cstr("s1") + u16(1) + u16(0) + u16(1) + u32(2) + "10" + u16(3) +
                        u16(1) + u16(0) + u16(1));
  b += message('E', cstr("") + u32(4));  // 4 rows, then PortalSuspended
  b += message('E', cstr("") + u32(0));  // the rest
  b += message('S', "");
  b += message('P', cstr("") + cstr("SELECT 1/0") + u16(0));
  b += message('B', cstr("") + cstr("") + u16(0) + u16(0) + u16(0));
  b += message('E', cstr("") + u32(0));
  b += message('P', cstr("skipped") + cstr("SELECT 2") + u16(0));
  b += message('S', "");
  b += query_message("SELECT 1; DO $$BEGIN RAISE NOTICE 'hello'; END$$; SELECT 'x' || 2");
  b += message('C', "S" + cstr("s1"));
  b += message('S', "");
  b += query_message("");
  const int readies = 4;

  const std::string direct = exchange(PgServer::shared().port(), b, readies);
  const std::string via_precise = exchange(proxy().port(), b, readies);
  ProxyProcess passive({"--phase-timing", "passive"});
  const std::string via_passive = exchange(passive.port(), b, readies);
  REQUIRE(direct.size() > 200);
  CHECK(direct.find("division by zero") != std::string::npos);
  CHECK(direct.find("hello") != std::string::npos);
  CHECK(direct.find(std::string("s\0\0\0\4", 5)) != std::string::npos);  // PortalSuspended
  CHECK(direct.find(std::string(10, 'r')) != std::string::npos);         // the last row
  CHECK(direct.find("bind message") == std::string::npos);
  CHECK(via_precise.size() == direct.size());
  CHECK(via_precise == direct);
  CHECK(via_passive == direct);
}
