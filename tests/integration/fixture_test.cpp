// The fixture itself: a real server reachable with every user, over TLS and plaintext,
// and able to stop and start again on the same port.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "tests/integration/pq.hpp"
#include "tests/support/pg_server.hpp"

using namespace pglc::test;

TEST_CASE("fixture: every user connects over TLS (verify-full) and plaintext") {
  auto& pg = PgServer::shared();
  struct User {
    std::string_view name, password;
  };
  for (User u : {User{kSuperUser, kSuperPassword}, User{kScramUser, kScramPassword},
                 User{kMd5User, kMd5Password}, User{kTrustUser, ""},
                 User{kPasswordUser, kPasswordPassword}}) {
    CAPTURE(u.name);
    Conn tls = connect(pg.conninfo(kTestDatabase, u.name, u.password,
                                   "sslmode=verify-full sslrootcert=" + pg.ca_cert()));
    REQUIRE_MESSAGE(ok(tls), error(tls));
    CHECK(PQsslInUse(tls.get()) == 1);
    CHECK(scalar(tls.get(), "SELECT current_user") == u.name);
    CHECK(scalar(tls.get(), "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") == "t");

    Conn plain = connect(pg.conninfo(kTestDatabase, u.name, u.password, "sslmode=disable"));
    REQUIRE_MESSAGE(ok(plain), error(plain));
    CHECK(PQsslInUse(plain.get()) == 0);
    CHECK(scalar(plain.get(), "SELECT current_database()") == kTestDatabase);
  }
}

TEST_CASE("fixture: md5_user has an md5 verifier, scram_user a SCRAM one") {
  auto& pg = PgServer::shared();
  Conn c = connect(pg.conninfo());
  REQUIRE_MESSAGE(ok(c), error(c));
  CHECK(scalar(c.get(), "SELECT left(rolpassword, 3) FROM pg_authid WHERE rolname = 'md5_user'") ==
        "md5");
  CHECK(
      scalar(c.get(), "SELECT left(rolpassword, 14) FROM pg_authid WHERE rolname = 'scram_user'") ==
      "SCRAM-SHA-256$");
  // A wrong password is refused: authentication is really on.
  Conn bad = connect(pg.conninfo(kTestDatabase, kScramUser, "wrong", "sslmode=disable"));
  CHECK(PQstatus(bad.get()) == CONNECTION_BAD);
  CHECK(error(bad).find("password authentication failed") != std::string::npos);
}

TEST_CASE("fixture: scram_user can create tables in the test database") {
  auto& pg = PgServer::shared();
  Conn c = connect(pg.conninfo(kTestDatabase, kScramUser, kScramPassword));
  REQUIRE_MESSAGE(ok(c), error(c));
  CHECK(scalar(c.get(), "CREATE TEMP TABLE t AS SELECT 1 AS x; SELECT count(*) FROM t") == "1");
  CHECK(scalar(c.get(), "CREATE TABLE fixture_owned(x int); SELECT 'ok'") == "ok");
}

TEST_CASE("fixture: stop and start on the same port") {
  auto& pg = PgServer::shared();
  const int port = pg.port();
  REQUIRE(pg.running());
  pg.stop();
  CHECK_FALSE(pg.running());
  CHECK_FALSE(can_connect(port));
  Conn down = connect(pg.conninfo());
  CHECK(PQstatus(down.get()) == CONNECTION_BAD);
  pg.start();
  CHECK(pg.running());
  CHECK(pg.port() == port);
  Conn up = connect(pg.conninfo());
  REQUIRE_MESSAGE(ok(up), error(up));
  CHECK(scalar(up.get(), "SELECT 40 + 2") == "42");
}

TEST_CASE("fixture: create_database is idempotent and run() captures output") {
  auto& pg = PgServer::shared();
  pg.create_database("fixture_extra");
  pg.create_database("fixture_extra");
  std::string out;
  int status = run({pg.bin_dir() + "/psql", "-X", "-At", "-c",
                    "SELECT datname FROM pg_database "
                    "WHERE datname = 'fixture_extra'",
                    pg.conninfo("postgres")},
                   &out);
  CHECK(status == 0);
  CHECK(out == "fixture_extra\n");
  CHECK(run({"false"}) == 1);
  CHECK(run({"/nonexistent/binary"}) == 127);
  CHECK(run({"sleep", "10"}, nullptr, {}, 200) == -1);
}

TEST_CASE("fixture: http_get reads status and (chunked) body") {
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  REQUIRE(::listen(listener, 1) == 0);
  std::string request;
  std::thread server([&] {
    int fd = ::accept(listener, nullptr, nullptr);
    char buf[1024];
    while (request.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      request.append(buf, static_cast<size_t>(n));
    }
    std::string reply =
        "HTTP/1.1 203 Fine\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n "
        "world\r\n0\r\n\r\n";
    ::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
    ::close(fd);
  });
  int status = 0;
  std::string body = http_get(ntohs(addr.sin_port), "/metrics", &status);
  server.join();
  ::close(listener);
  CHECK(request.rfind("GET /metrics HTTP/1.0\r\n", 0) == 0);
  CHECK(status == 203);
  CHECK(body == "hello world");

  // Nothing listening: "" and status 0.
  CHECK(http_get(free_port(), "/metrics", &status).empty());
  CHECK(status == 0);
}

TEST_CASE("fixture: ProxyProcess fills in defaults, reports its log and exit status") {
  auto& pg = PgServer::shared();
  ProxyProcess p;
  CHECK(p.port() > 0);
  CHECK(p.metrics_port() > 0);
  CHECK(p.port() != p.metrics_port());
  CHECK(can_connect(p.port()));
  CHECK(p.running());
  const std::string log = p.log();
  CHECK(log.find("--storage none") != std::string::npos);
  CHECK(log.find("--backend " + pg.address()) != std::string::npos);
  CHECK(p.terminate(20000) == 0);
  CHECK_FALSE(p.running());
  CHECK(p.terminate() == 0);  // the same status again

  ProxyProcess no_metrics({"--metrics-listen", ""});
  CHECK(no_metrics.metrics_port() == 0);
  CHECK(can_connect(no_metrics.port()));

  // A proxy that cannot start: the exception carries its log.
  int busy = free_port();
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(busy));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(fd, 1) == 0);
  std::string what;
  try {
    ProxyProcess clash({"--listen", "127.0.0.1:" + std::to_string(busy)});
  } catch (const std::exception& e) {
    what = e.what();
  }
  ::close(fd);
  CHECK(what.find("proxy exited") != std::string::npos);
  CHECK(what.find(std::to_string(busy)) != std::string::npos);
}
