// The proxy probed as an attacker and as an unlucky operator would (issue "Safe in front of
// production"): each finding is a test against the real proxy and a real PostgreSQL.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/pq.hpp"
#include "tests/integration/raw_client.hpp"
#include "tests/storage/store_reader.hpp"
#include "tests/support/pg_server.hpp"

extern char** environ;

using namespace pglc::test;
using Clock = std::chrono::steady_clock;

namespace {

std::string temp_dir() {
  std::string tmpl = "/tmp/pglc-hardening-XXXXXX";
  REQUIRE(mkdtemp(tmpl.data()) != nullptr);
  return tmpl;
}

std::string repeat(std::string_view s, int n) {
  std::string out;
  out.reserve(s.size() * static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

// Resident set of a process, in KiB.
long rss_kib(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// Waits (polling /proc, with a deadline) until `pred(rss)` holds; returns the last value.
template <class Pred>
long wait_rss(int pid, Pred pred, std::chrono::seconds limit = std::chrono::seconds(10)) {
  const auto deadline = Clock::now() + limit;
  long r = rss_kib(pid);
  while (!pred(r) && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    r = rss_kib(pid);
  }
  return r;
}

// A raw client logged in as trust_user (no password round trip), at ReadyForQuery.
bool login_trust(RawClient& c) {
  if (!c.connected() || !c.send(startup_message(kTrustUser, kTestDatabase))) return false;
  return c.read_until('Z').has_value();
}

std::string parse_message(std::string_view name, std::string_view sql) {
  std::string body(name);
  body += '\0';
  body += sql;
  body += '\0';
  body += std::string("\0\0", 2);
  return message('P', body);
}

std::string bind_message(std::string_view stmt, std::string_view value) {
  std::string body;
  body += '\0';  // unnamed portal
  body += stmt;
  body += '\0';
  body += std::string("\0\0", 2);    // parameter formats: all text
  body += std::string("\0\x01", 2);  // one parameter
  put_u32(body, static_cast<uint32_t>(value.size()));
  body += value;
  body += std::string("\0\0", 2);  // result formats: all text
  return message('B', body);
}

std::string execute_message() {
  std::string body(1, '\0');
  put_u32(body, 0);
  return message('E', body);
}

std::string sync_message() {
  return message('S', "");
}

// Sends `chunk` again and again without reading, until the proxy stops taking bytes for
// `stall` (its backpressure) or `limit` passes. Returns the bytes sent.
std::size_t pipeline_without_reading(RawClient& c, const std::string& chunk,
                                     std::chrono::milliseconds stall,
                                     std::chrono::seconds limit) {
  std::size_t sent = 0, offset = 0;
  const auto deadline = Clock::now() + limit;
  auto last_progress = Clock::now();
  while (Clock::now() < deadline && Clock::now() - last_progress < stall) {
    pollfd p{c.fd(), POLLOUT, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    const ssize_t n =
        ::send(c.fd(), chunk.data() + offset, chunk.size() - offset, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n <= 0) continue;
    sent += static_cast<std::size_t>(n);
    offset = (offset + static_cast<std::size_t>(n)) % chunk.size();
    last_progress = Clock::now();
  }
  return sent;
}

// Metric value of the line `name{labels} value` on /metrics, or -1.
double metric(int port, const std::string& series) {
  const std::string body = http_get(port, "/metrics");
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

// Polls /metrics until `series` has `want` (the proxy records an execution just after the
// client has its answer), or a deadline passes; returns the last value.
double wait_metric(int port, const std::string& series, double want) {
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  double v = metric(port, series);
  while (v != want && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    v = metric(port, series);
  }
  return v;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Every byte the SQLite store left on disk (database, WAL, shared memory).
std::string store_bytes(const std::string& db) {
  return read_all(db) + read_all(db + "-wal") + read_all(db + "-shm");
}

constexpr const char* kLeanAsan =
    "ASAN_OPTIONS=quarantine_size_mb=0:thread_local_quarantine_size_kb=0:"
    "allocator_release_to_os_interval_ms=10:detect_leaks=0";

}  // namespace

TEST_CASE("a 30,000-term expression crashes nothing, before or after login") {
  const std::string dir = temp_dir();
  const std::string db = dir + "/store.db";
  ProxyProcess proxy({"--storage", "sqlite:" + db});
  const std::string deep = "SELECT 1" + repeat("+1", 30000);
  const std::string parens = "SELECT " + repeat("(", 20000) + "1" + repeat(")", 20000);
  {
    // Before login: the server answers the non-password message with a FATAL error.
    RawClient raw(proxy.port());
    REQUIRE(raw.send(startup_message(kScramUser, kTestDatabase)));
    auto auth = raw.read_message();
    REQUIRE(auth);
    CHECK(auth->type == 'R');
    raw.send(query_message(deep));
    auto e = raw.read_until('E');
    REQUIRE(e);
    CHECK(error_fields(e->body)['S'] == "FATAL");
  }
  Conn c = connect(proxy.conninfo());
  REQUIRE_MESSAGE(ok(c), error(c));
  for (const std::string& sql : {deep, parens, "SELECT 1" + repeat(" UNION SELECT 1", 5000)}) {
    Result r(PQexec(c.get(), sql.c_str()));
    // PostgreSQL itself may refuse (54001 stack depth, 54000 too many...) or answer.
    CHECK(PQresultStatus(r.get()) != PGRES_BAD_RESPONSE);
    CHECK(proxy.running());
  }
  // The prepared path analyses the text too.
  Result prep(PQprepare(c.get(), "deep", deep.c_str(), 0, nullptr));
  CHECK(proxy.running());
  CHECK(scalar(c.get(), "SELECT 'alive'") == "alive");
  c.reset();
  CHECK(proxy.terminate() == 0);

  SqliteReader store(db);
  CHECK(store.count("sql_texts WHERE sql LIKE 'SELECT 1+1+1+%' AND fingerprint IS NULL") >= 1);
  CHECK(store.count("sql_texts WHERE sql LIKE 'SELECT 1+1+1+%' AND fingerprint IS NOT NULL") == 0);
  CHECK(store.count("sql_texts WHERE sql = 'SELECT ''alive''' AND fingerprint IS NOT NULL") == 1);
  std::filesystem::remove_all(dir);
}

TEST_CASE("before AuthenticationOk nothing a client sends is analysed, recorded or counted") {
  const std::string dir = temp_dir();
  const std::string db = dir + "/store.db";
  ProxyProcess proxy({"--storage", "sqlite:" + db});
  for (int k = 0; k < 3; ++k) {
    RawClient raw(proxy.port());
    REQUIRE(raw.send(startup_message(kScramUser, kTestDatabase)));
    REQUIRE(raw.read_message());  // AuthenticationSASL: never answered
    std::string burst;
    for (int i = 0; i < 2000; ++i) {
      burst += query_message("SELECT " + std::to_string(k * 10000 + i) + "; SELECT 2");
      burst += message('P', std::string("s") + std::to_string(i) + '\0' + "SELECT 3" + '\0' +
                                std::string("\0\0", 2));
    }
    raw.send(burst);  // the server ends the connection at the first of them
    raw.wait_closed(5000);
  }
  {
    Conn c = connect(proxy.conninfo());
    REQUIRE_MESSAGE(ok(c), error(c));
    CHECK(scalar(c.get(), "SELECT 'bystander'") == "bystander");
  }
  CHECK(wait_metric(proxy.metrics_port(),
                    "pglifecycle_executions_total{kind=\"simple\",status=\"success\"}", 1) == 1);
  CHECK(metric(proxy.metrics_port(), "pglifecycle_message_duration_seconds_count{message=\"parse\"}") <= 0);
  CHECK(proxy.terminate() == 0);
  SqliteReader store(db);
  CHECK(store.count("statements") == 1);
  CHECK(store.count("executions") == 1);
  CHECK(store.count("sql_texts WHERE sql LIKE 'SELECT 3%'") == 0);
  std::filesystem::remove_all(dir);
}

TEST_CASE("a message larger than PostgreSQL's bound before login: 08P01, nothing assembled") {
  ProxyProcess proxy;
  RawClient raw(proxy.port());
  REQUIRE(raw.send(startup_message(kScramUser, kTestDatabase)));
  REQUIRE(raw.read_message());
  raw.send(std::string("p\x00\x10\x00\x00", 5));  // a 1 MiB "password"
  auto e = raw.read_until('E');
  REQUIRE(e);
  auto fields = error_fields(e->body);
  CHECK(fields['C'] == "08P01");
  CHECK(fields['M'].find("during authentication") != std::string::npos);
  CHECK(raw.wait_closed());
}

TEST_CASE("a client that pipelines and never reads: bounded memory, given back at the end") {
  // Small relay buffers make the bound easy to see: per-session memory must stay within
  // --max-pipeline-bytes (512 KiB) + the relay buffers + allocator slack.
  // Under AddressSanitizer freed memory waits in a quarantine and RSS says little about
  // what the proxy holds; the proxy of this test runs without it.
  ProxyProcess proxy({"--buffer-size", "256KiB", "--workers", "1"}, {kLeanAsan});
  Conn bystander = connect(proxy.conninfo());
  REQUIRE_MESSAGE(ok(bystander), error(bystander));
  const long at_start = rss_kib(proxy.pid());
  for (std::string shape : {"bind-execute-sync", "sync"}) {
    CAPTURE(shape);
    RawClient raw(proxy.port());
    REQUIRE(login_trust(raw));
    // Warm up the session (buffers, statement) before the baseline.
    raw.send(parse_message("s", "SELECT $1::int") + sync_message());
    REQUIRE(raw.read_until('Z'));
    raw.send(bind_message("s", "1") + execute_message() + sync_message());
    REQUIRE(raw.read_until('Z'));
    const long before = rss_kib(proxy.pid());
    std::string chunk;
    for (int i = 0; i < 512; ++i) {
      chunk += shape == "sync"
                   ? sync_message()
                   : bind_message("s", "1") + execute_message() + sync_message();
    }
    const std::size_t sent = pipeline_without_reading(raw, chunk, std::chrono::milliseconds(1500),
                                                      std::chrono::seconds(8));
    const long during = rss_kib(proxy.pid());
    MESSAGE(shape << ": sent " << sent / 1024 << " KiB without reading; RSS " << before << " -> "
                  << during << " KiB");
    CHECK(sent > 1u << 20);  // the kernel buffers and the bound took a lot before the stall
    CHECK(during - before <= 512 + 2 * 256 + 1536);
    // Other sessions are served meanwhile.
    CHECK(scalar(bystander.get(), "SELECT 'served'") == "served");
  }
  // The sessions are gone (RawClient closed them): memory goes back.
  // (Sanitizer builds keep a few MiB in their allocator's caches; the bound is for that.)
  const long after = wait_rss(proxy.pid(), [&](long r) { return r > 0 && r <= at_start + 3072; });
  MESSAGE("RSS " << at_start << " KiB at start, " << after << " KiB after the sessions ended");
  CHECK(after <= at_start + 3072);
}

TEST_CASE("after a burst, a session that stays open gives its buffers back") {
  // Passive timing injects no Flush after Bind: when the burst takes the session over
  // --max-pipeline-bytes, the relay must make the server send what it holds before it
  // waits for those answers (FlushPlanner::flush_before_pause), or both sides wait.
  for (const std::string timing : {"sampled", "passive"}) {
    CAPTURE(timing);
    ProxyProcess proxy({"--workers", "1", "--phase-timing", timing}, {kLeanAsan});
    RawClient raw(proxy.port());
    REQUIRE(login_trust(raw));
    raw.send(parse_message("s", "SELECT $1::int") + sync_message());
    REQUIRE(raw.read_until('Z'));
    // The text caches take a text the second time it comes, and allocate their sets then:
    // the warm-up runs the burst's closing query twice, so that no burst pays for that.
    for (int i = 0; i < 2; ++i) {
      raw.send(query_message("SELECT 2"));
      REQUIRE(raw.read_until('Z'));
    }
    const long before = rss_kib(proxy.pid());
    // 80,000 Bind/Execute pairs (about 3 MB) in one go, answered and read.
    std::string burst;
    for (int i = 0; i < 80000; ++i) burst += bind_message("s", "1") + execute_message();
    burst += sync_message();
    auto run_burst = [&] {
      bool answered = false;
      std::thread reader([&] { answered = raw.read_until('Z', nullptr, 60000).has_value(); });
      raw.send(burst);
      reader.join();
      REQUIRE(answered);
      const long peak = rss_kib(proxy.pid());
      // A small exchange afterwards: the relay sees the burst is over.
      raw.send(query_message("SELECT 2"));
      REQUIRE(raw.read_until('Z'));
      return peak;
    };
    const long peak = run_burst();
    // The relay buffers (1 MiB each at the peak, mmap'ed) go back. What the allocator keeps
    // of the burst's small objects for reuse stays, so a second burst must not add to it.
    const long after = wait_rss(proxy.pid(), [&](long r) { return r <= before + 2048; });
    run_burst();
    const long again = wait_rss(proxy.pid(), [&](long r) { return r <= after + 512; });
    MESSAGE("RSS " << before << " KiB idle, " << peak << " KiB after the burst, " << after
                   << " KiB once idle again, " << again << " KiB after a second burst");
    CHECK(after <= before + 2048);
    CHECK(peak - after >= 1024);
    CHECK(again <= after + 512);
  }
}

TEST_CASE("records are bounded: an error echoing a 1 MB value is stored cut") {
  const std::string dir = temp_dir();
  const std::string db = dir + "/store.db";
  ProxyProcess proxy({"--storage", "sqlite:" + db});
  Conn c = connect(proxy.conninfo());
  REQUIRE_MESSAGE(ok(c), error(c));
  const std::string sql = "SELECT '" + std::string(1 << 20, 'x') + "'::int";
  Result r(PQexec(c.get(), sql.c_str()));
  CHECK(sqlstate(r.get()) == "22P02");
  c.reset();
  CHECK(proxy.terminate() == 0);
  SqliteReader store(db);
  CHECK(store.count("executions WHERE sqlstate = '22P02'") == 1);
  const auto len = store.value("SELECT length(error_message) FROM executions WHERE sqlstate = '22P02'");
  REQUIRE(len);
  CHECK(std::stoll(*len) <= 8192);
  CHECK(std::stoll(*len) > 1000);
  std::filesystem::remove_all(dir);
}

TEST_CASE("secrets never reach the store: role passwords, connection strings, bound values") {
  const std::string dir = temp_dir();
  const std::string db = dir + "/store.db";
  ProxyProcess proxy({"--storage", "sqlite:" + db});
  Conn c = connect(proxy.conninfo());
  REQUIRE_MESSAGE(ok(c), error(c));
  auto exec = [&](const std::string& sql) { Result r(PQexec(c.get(), sql.c_str())); };
  exec("DROP ROLE IF EXISTS secret_role");
  exec("CREATE ROLE secret_role LOGIN PASSWORD 'app-secret-pw'");
  exec("ALTER ROLE secret_role PASSWORD 'app-secret-pw2'");
  exec("SELECT 1; ALTER ROLE secret_role PASSWORD 'app-secret-pw3'");
  exec("DROP ROLE secret_role");
  exec("DO $$ BEGIN PERFORM 'password=app-secret-pw4'; END $$");
  const char* values[] = {"bind-secret-2"};
  Result bad(PQexecParams(c.get(), "SELECT $1::int", 1, nullptr, values, nullptr, nullptr, 0));
  CHECK(sqlstate(bad.get()) == "22P02");
  CHECK(std::string(PQresultErrorMessage(bad.get())).find("bind-secret-2") != std::string::npos);
  c.reset();
  CHECK(proxy.terminate() == 0);

  const std::string bytes = store_bytes(db);
  CHECK(bytes.find("app-secret-pw") == std::string::npos);
  CHECK(bytes.find("bind-secret-2") == std::string::npos);
  SqliteReader store(db);
  CHECK(store.count("sql_texts WHERE sql = 'ALTER ROLE secret_role PASSWORD $1'") == 1);
  CHECK(store.count("sql_texts WHERE sql = 'CREATE ROLE secret_role LOGIN PASSWORD $1'") == 1);
  CHECK(store.count("executions WHERE sqlstate = '22P02' AND error_message LIKE '%\"***\"%'") == 1);
  std::filesystem::remove_all(dir);
}

TEST_CASE("client values are escaped in log lines") {
  ProxyProcess proxy;
  RawClient raw(proxy.port());
  REQUIRE(raw.send(startup_message("evil\nFORGED 1970-01-01 error fake line", kTestDatabase)));
  raw.read_until('E');  // no such role
  raw.wait_closed();
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (proxy.log().find("evil\\x0aFORGED") == std::string::npos && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const std::string log = proxy.log();
  CHECK(log.find("evil\\x0aFORGED") != std::string::npos);
  CHECK(log.find("\nFORGED") == std::string::npos);
}

TEST_CASE("more clients than --max-client-connections: 53300, like PostgreSQL") {
  ProxyProcess proxy({"--max-client-connections", "2"});
  Conn a = connect(proxy.conninfo());
  Conn b = connect(proxy.conninfo());
  REQUIRE_MESSAGE(ok(a), error(a));
  REQUIRE_MESSAGE(ok(b), error(b));
  Conn c = connect(proxy.conninfo());
  CHECK_FALSE(ok(c));
  CHECK_MESSAGE(error(c).find("sorry, too many clients already") != std::string::npos, error(c));
  {
    RawClient raw(proxy.port());
    raw.send(startup_message(kTrustUser, kTestDatabase));
    auto e = raw.read_message();
    REQUIRE(e);
    CHECK(e->type == 'E');
    CHECK(error_fields(e->body)['C'] == "53300");
  }
  a.reset();
  // The slot frees once the proxy has ended that session.
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  Conn d;
  do {
    d = connect(proxy.conninfo());
  } while (!ok(d) && Clock::now() < deadline);
  CHECK(ok(d));
}

TEST_CASE("--startup-timeout closes a connection that says nothing") {
  ProxyProcess proxy({"--startup-timeout", "300ms"});
  RawClient raw(proxy.port());
  REQUIRE(raw.connected());
  const auto start = Clock::now();
  CHECK(raw.wait_closed(10000));
  CHECK(Clock::now() - start < std::chrono::seconds(5));
}

TEST_CASE("a write to a closed stderr does not kill the proxy (SIGPIPE ignored)") {
  int pipefd[2];
  REQUIRE(::pipe(pipefd) == 0);
  const int port = free_port();
  const std::string listen = "127.0.0.1:" + std::to_string(port);
  const std::string backend = PgServer::shared().address();
  std::vector<std::string> args = {PGLC_PROXY_BINARY, "--listen",         listen,
                                   "--backend",       backend,          "--storage",
                                   "none",            "--metrics-listen", ""};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
  posix_spawn_file_actions_addclose(&fa, pipefd[0]);
  pid_t pid = 0;
  REQUIRE(posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ) == 0);
  posix_spawn_file_actions_destroy(&fa);
  ::close(pipefd[1]);
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  while (!can_connect(port) && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::close(pipefd[0]);  // every later log line meets a closed pipe
  for (int i = 0; i < 3; ++i) {
    Conn c = connect("host=127.0.0.1 port=" + std::to_string(port) + " dbname=" +
                     std::string(kTestDatabase) + " user=" + std::string(kTrustUser));
    CHECK_MESSAGE(ok(c), error(c));
  }
  int status = 0;
  CHECK(::waitpid(pid, &status, WNOHANG) == 0);  // still running
  ::kill(pid, SIGTERM);
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("a PostgreSQL store that is down at start: the proxy serves and counts drops") {
  const std::string unreachable =
      "postgresql://postgres:pw@127.0.0.1:" + std::to_string(free_port()) + "/db?connect_timeout=1";
  ProxyProcess proxy({"--storage", unreachable});
  Conn c = connect(proxy.conninfo());
  REQUIRE_MESSAGE(ok(c), error(c));
  CHECK(scalar(c.get(), "SELECT 'served'") == "served");
  c.reset();
  const std::string log = proxy.log();
  const std::string printed = log.substr(log.find('\n'));  // after the fixture's command line
  CHECK(printed.find("cannot connect to the PostgreSQL store") != std::string::npos);
  CHECK(printed.find(":pw@") == std::string::npos);
  CHECK(proxy.terminate() == 0);
}

TEST_CASE("pg_sleep behind Parse/Bind/Describe/Execute/Sync: Execute gets the time") {
  for (const char* mode : {"precise", "passive"}) {
    CAPTURE(mode);
    ProxyProcess proxy({"--phase-timing", mode});
    Conn c = connect(proxy.conninfo());
    REQUIRE_MESSAGE(ok(c), error(c));
    // libpq's PQexecParams sends exactly Parse, Bind, Describe (portal), Execute, Sync.
    Result r(PQexecParams(c.get(), "SELECT pg_sleep(0.3)", 0, nullptr, nullptr, nullptr, nullptr, 0));
    REQUIRE(PQresultStatus(r.get()) == PGRES_TUPLES_OK);
    const int port = proxy.metrics_port();
    auto sum = [&](const char* m) {
      return metric(port, std::string("pglifecycle_message_duration_seconds_sum{message=\"") + m +
                              "\"}");
    };
    CHECK(sum("execute") >= 0.25);  // the sleep, less what overlapped the earlier answers
    CHECK(sum("describe") < 0.1);
    CHECK(sum("parse") < 0.1);
    CHECK(sum("bind") < 0.1);
    CHECK(sum("sync") < 0.1);
  }
}
