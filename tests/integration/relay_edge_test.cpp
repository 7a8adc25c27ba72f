// The proxy at the edges: cancel routing, malformed clients, an unreachable or restarting
// backend, and SIGTERM.
#include <doctest/doctest.h>
#include <signal.h>

#include <chrono>
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

using Clock = std::chrono::steady_clock;

long long elapsed_ms(Clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
}

// Polls (with a deadline) until the server shows `backend_pid` running a query like `like`.
bool wait_until_active(int backend_pid, const std::string& like) {
  Conn admin = connect(PgServer::shared().conninfo());
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  const std::string sql =
      "SELECT count(*) FROM pg_stat_activity WHERE pid = " + std::to_string(backend_pid) +
      " AND state = 'active' AND query LIKE '" + like + "'";
  while (Clock::now() < deadline) {
    if (scalar(admin.get(), sql) == "1") return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

struct ErrorSeen {
  bool got = false;
  std::map<char, std::string> fields;
  bool closed_after = false;
};

// Sends `bytes` (after an optional valid startup) and looks for the proxy's ErrorResponse.
ErrorSeen send_garbage(int port, const std::string& bytes, bool startup_first) {
  ErrorSeen seen;
  RawClient raw(port);
  if (!raw.connected()) return seen;
  if (startup_first) {
    raw.send(startup_message(kSuperUser, kTestDatabase));
    auto auth = raw.read_message();  // AuthenticationSASL from the backend
    if (!auth || auth->type != 'R') return seen;
  }
  raw.send(bytes);
  auto e = raw.read_until('E');
  if (!e) return seen;
  seen.got = true;
  seen.fields = error_fields(e->body);
  seen.closed_after = raw.wait_closed();
  return seen;
}

}  // namespace

TEST_CASE("PQcancel of pg_sleep(10) through the proxy returns 57014 within 1 s") {
  Conn c = connect(proxy().conninfo());
  REQUIRE_MESSAGE(ok(c), error(c));
  REQUIRE(PQsendQuery(c.get(), "SELECT pg_sleep(10)"));
  REQUIRE(wait_until_active(PQbackendPID(c.get()), "SELECT pg_sleep(10)"));

  const auto start = Clock::now();
  PGcancel* cancel = PQgetCancel(c.get());
  char errbuf[256] = {};
  CHECK(PQcancel(cancel, errbuf, sizeof errbuf) == 1);
  PQfreeCancel(cancel);
  Result r(PQgetResult(c.get()));
  const long long ms = elapsed_ms(start);
  REQUIRE(r);
  CHECK(PQresultStatus(r.get()) == PGRES_FATAL_ERROR);
  CHECK(sqlstate(r.get()) == "57014");
  CHECK(ms < 1000);
  MESSAGE("cancel took " << ms << " ms");
  while (PGresult* rest = PQgetResult(c.get())) PQclear(rest);
  CHECK(scalar(c.get(), "SELECT 'after cancel'") == "after cancel");
}

TEST_CASE("garbage from one client: 08P01 to it, other sessions unaffected") {
  Conn bystander = connect(proxy().conninfo());
  REQUIRE_MESSAGE(ok(bystander), error(bystander));
  CHECK(scalar(bystander.get(), "SELECT 'before'") == "before");

  SUBCASE("startup, then a message whose length is 2") {
    std::string bogus("Q\x00\x00\x00\x02", 5);
    auto seen = send_garbage(proxy().port(), bogus, true);
    CHECK(seen.got);
    CHECK(seen.fields['S'] == "FATAL");
    CHECK(seen.fields['C'] == "08P01");
    CHECK(seen.closed_after);
  }
  SUBCASE("startup, then a message longer than --max-message-size") {
    std::string huge("Q\x7f\xff\xff\xff", 5);
    auto seen = send_garbage(proxy().port(), huge, true);
    CHECK(seen.got);
    CHECK(seen.fields['C'] == "08P01");
    CHECK(seen.closed_after);
  }
  SUBCASE("an HTTP request as the first packet") {
    auto seen = send_garbage(proxy().port(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n", false);
    CHECK(seen.got);
    CHECK(seen.fields['C'] == "08P01");
    CHECK(seen.closed_after);
  }
  SUBCASE("a startup packet with an unknown protocol code") {
    std::string unknown("\x00\x00\x00\x08\x12\x34\x56\x78", 8);
    auto seen = send_garbage(proxy().port(), unknown, false);
    CHECK(seen.got);
    CHECK(seen.fields['C'] == "08P01");
    CHECK(seen.closed_after);
  }
  SUBCASE("a first packet whose length is 3") {
    std::string tiny("\x00\x00\x00\x03garbage", 11);
    auto seen = send_garbage(proxy().port(), tiny, false);
    CHECK(seen.got);
    CHECK(seen.fields['C'] == "08P01");
    CHECK(seen.closed_after);
  }
  CHECK(scalar(bystander.get(), "SELECT 'after'") == "after");
  Conn fresh = connect(proxy().conninfo());
  REQUIRE_MESSAGE(ok(fresh), error(fresh));
  CHECK(scalar(fresh.get(), "SELECT 'fresh'") == "fresh");
}

TEST_CASE("backend down: 08006 naming the backend address, on a raw socket and in libpq") {
  const std::string backend = "127.0.0.1:" + std::to_string(free_port());
  ProxyProcess p({"--backend", backend});

  RawClient raw(p.port());
  REQUIRE(raw.connected());
  REQUIRE(raw.send(startup_message(kSuperUser, kTestDatabase)));
  auto e = raw.read_message();
  REQUIRE(e);
  CHECK(e->type == 'E');
  auto fields = error_fields(e->body);
  CHECK(fields['C'] == "08006");
  CHECK(fields['M'].find(backend) != std::string::npos);
  MESSAGE("backend-down message: " << fields['M']);
  CHECK(raw.wait_closed());

  const auto start = Clock::now();
  Conn c = connect(p.conninfo());
  CHECK(PQstatus(c.get()) == CONNECTION_BAD);
  CHECK(error(c).find(backend) != std::string::npos);
  CHECK(elapsed_ms(start) < 10000);
  // The proxy itself survives.
  CHECK(p.running());
}

TEST_CASE("backend restart: open sessions fail cleanly, new ones work once it is back") {
  auto& pg = PgServer::shared();
  Conn c = connect(proxy().conninfo());
  REQUIRE_MESSAGE(ok(c), error(c));
  CHECK(scalar(c.get(), "SELECT 1") == "1");

  pg.stop();
  // The open session learns the backend went away (an error, not a hang).
  std::string lost = scalar(c.get(), "SELECT 2");
  CHECK(lost.rfind("ERROR: ", 0) == 0);
  // New sessions get 08006 while the server is down.
  RawClient raw(proxy().port());
  REQUIRE(raw.send(startup_message(kSuperUser, kTestDatabase)));
  auto e = raw.read_message();
  REQUIRE(e);
  CHECK(e->type == 'E');
  CHECK(error_fields(e->body)['C'] == "08006");

  pg.start();
  Conn again = connect(proxy().conninfo());
  REQUIRE_MESSAGE(ok(again), error(again));
  CHECK(scalar(again.get(), "SELECT 'back'") == "back");
  CHECK(proxy().running());
}

TEST_CASE("SIGTERM: exit 0 within the grace period with an idle session open") {
  ProxyProcess p({"--shutdown-grace", "2s"});
  Conn idle = connect(p.conninfo());
  REQUIRE_MESSAGE(ok(idle), error(idle));
  CHECK(scalar(idle.get(), "SELECT 'idle'") == "idle");

  const auto start = Clock::now();
  const int status = p.terminate(10000);
  const long long ms = elapsed_ms(start);
  CHECK_MESSAGE(status == 0, p.log());
  CHECK(ms < 2000 + 3000);  // the grace period, plus start-up slack under sanitizers
  MESSAGE("SIGTERM with an idle session: exit after " << ms << " ms");
  CHECK_FALSE(can_connect(p.port()));
  // The idle session was closed by the proxy.
  CHECK(scalar(idle.get(), "SELECT 1").rfind("ERROR: ", 0) == 0);
}

TEST_CASE("SIGTERM without sessions exits 0 promptly; SIGINT too") {
  for (int sig : {SIGTERM, SIGINT}) {
    CAPTURE(sig);
    ProxyProcess p({"--shutdown-grace", "5s"});
    const auto start = Clock::now();
    int status;
    if (sig == SIGTERM) {
      status = p.terminate(10000);
    } else {
      p.send_signal(SIGINT);
      const auto deadline = Clock::now() + std::chrono::seconds(10);
      while (p.running() && Clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      status = p.terminate(1000);  // returns the status already collected
    }
    CHECK_MESSAGE(status == 0, p.log());
    CHECK(elapsed_ms(start) < 3000);
  }
}

TEST_CASE("--max-message-size: a larger message gets 08P01, smaller ones pass") {
  ProxyProcess p({"--max-message-size", "65536"});
  Conn c = connect(p.conninfo());
  REQUIRE_MESSAGE(ok(c), error(c));
  CHECK(scalar(c.get(), "SELECT length('" + std::string(60000, 'a') + "')") == "60000");

  RawClient raw(p.port());
  REQUIRE(raw.send(startup_message(kTrustUser, kTestDatabase)));
  REQUIRE(raw.read_until('Z'));
  REQUIRE(raw.send(query_message("SELECT length('" + std::string(70000, 'b') + "')")));
  auto e = raw.read_until('E');
  REQUIRE(e);
  CHECK(error_fields(e->body)['C'] == "08P01");
  CHECK(raw.wait_closed());
  CHECK(scalar(c.get(), "SELECT 'still here'") == "still here");
}

TEST_CASE("SIGHUP does not stop the proxy or its sessions") {
  ProxyProcess p;
  Conn c = connect(p.conninfo());
  REQUIRE_MESSAGE(ok(c), error(c));
  REQUIRE(p.send_signal(SIGHUP) == 0);
  CHECK(scalar(c.get(), "SELECT 'after hup'") == "after hup");
  Conn fresh = connect(p.conninfo());
  REQUIRE_MESSAGE(ok(fresh), error(fresh));
  CHECK(p.running());
  CHECK(p.terminate(10000) == 0);
}

namespace {

int count_sessions_of(std::string_view user) {
  Conn admin = connect(PgServer::shared().conninfo());
  std::string n = scalar(admin.get(), "SELECT count(*) FROM pg_stat_activity WHERE usename = '" +
                                          std::string(user) + "'");
  return std::atoi(n.c_str());
}

bool wait_sessions_of(std::string_view user, int expected) {
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < deadline) {
    if (count_sessions_of(user) == expected) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

}  // namespace

TEST_CASE("a client vanishing mid-result ends its backend session") {
  REQUIRE(wait_sessions_of(kTrustUser, 0));
  {
    RawClient raw(proxy().port());
    REQUIRE(raw.send(startup_message(kTrustUser, kTestDatabase)));
    REQUIRE(raw.read_until('Z'));
    REQUIRE(raw.send(query_message("SELECT repeat('v', 1000) FROM generate_series(1, 1000000)")));
    auto first = raw.read_message();
    REQUIRE(first);
    CHECK(first->type == 'T');
    CHECK(count_sessions_of(kTrustUser) == 1);
  }  // closed with ~1 GB of result still to come
  CHECK(wait_sessions_of(kTrustUser, 0));
  CHECK(scalar(connect(proxy().conninfo()).get(), "SELECT 'ok'") == "ok");
}

TEST_CASE("the backend ending a session: the client gets its FATAL message, then EOF") {
  Conn c = connect(proxy().conninfo(kTestDatabase, kScramUser, kScramPassword));
  REQUIRE_MESSAGE(ok(c), error(c));
  const int pid = PQbackendPID(c.get());
  PgServer::shared().exec("SELECT pg_terminate_backend(" + std::to_string(pid) + ")");
  std::string after = scalar(c.get(), "SELECT 1");
  CHECK(after.rfind("ERROR: ", 0) == 0);
  CHECK(error(c).find("terminating connection due to administrator command") != std::string::npos);
  CHECK(PQstatus(c.get()) == CONNECTION_BAD);
}
