// TLS on both sides of the proxy and authentication passthrough for every method the
// fixture sets up, with real libpq clients.
#include <doctest/doctest.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <thread>
#include <utility>

#include "tests/integration/pq.hpp"
#include "tests/integration/raw_client.hpp"
#include "tests/support/pg_server.hpp"

using namespace pglc::test;

namespace {

ProxyProcess& plain_proxy() {
  static ProxyProcess p;
  return p;
}

ProxyProcess& tls_proxy() {
  static ProxyProcess p({"--tls-cert", PgServer::shared().server_cert(), "--tls-key",
                         PgServer::shared().server_key()});
  return p;
}

long vm_rss_kb(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

std::string verify_full() {
  return "sslmode=verify-full sslrootcert=" + PgServer::shared().ca_cert();
}

// Whether the proxy's connection to the backend uses TLS, as the server sees it.
std::string backend_ssl(const ProxyProcess& proxy) {
  Conn c = connect(proxy.conninfo(kTestDatabase, kSuperUser, kSuperPassword, "sslmode=disable"));
  if (!ok(c)) return "connect failed: " + error(c);
  return scalar(c.get(), "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
}

long long elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               since)
      .count();
}

}  // namespace

TEST_CASE("client TLS: sslmode=require and verify-full against the fixture CA") {
  Conn req =
      connect(tls_proxy().conninfo(kTestDatabase, kSuperUser, kSuperPassword, "sslmode=require"));
  REQUIRE_MESSAGE(ok(req), error(req));
  CHECK(PQsslInUse(req.get()) == 1);
  CHECK(std::string(PQsslAttribute(req.get(), "protocol")).rfind("TLSv1.", 0) == 0);
  CHECK(scalar(req.get(), "SELECT 'over tls'") == "over tls");

  for (std::string host : {"127.0.0.1", "localhost"}) {
    CAPTURE(host);
    Conn full = connect(tls_proxy().conninfo(kTestDatabase, kSuperUser, kSuperPassword,
                                             verify_full() + " host=" + host));
    REQUIRE_MESSAGE(ok(full), error(full));
    CHECK(PQsslInUse(full.get()) == 1);
    CHECK(scalar(full.get(), "SELECT 6 * 7") == "42");
  }
  // A big result over TLS: records are split and reassembled correctly.
  Conn big =
      connect(tls_proxy().conninfo(kTestDatabase, kSuperUser, kSuperPassword, "sslmode=require"));
  REQUIRE(ok(big));
  CHECK(scalar(big.get(),
               "SELECT sum(length(s)) FROM (SELECT repeat('y', 5000) AS s FROM "
               "generate_series(1, 2000)) t") == "10000000");
  Result rows(PQexec(big.get(), "SELECT repeat('z', 3000) FROM generate_series(1, 3000)"));
  REQUIRE(PQresultStatus(rows.get()) == PGRES_TUPLES_OK);
  CHECK(PQntuples(rows.get()) == 3000);
  CHECK(std::string(PQgetvalue(rows.get(), 2999, 0)) == std::string(3000, 'z'));
}

TEST_CASE("client TLS: plaintext served without --require-tls, refused with it") {
  Conn plain =
      connect(tls_proxy().conninfo(kTestDatabase, kSuperUser, kSuperPassword, "sslmode=disable"));
  REQUIRE_MESSAGE(ok(plain), error(plain));
  CHECK(PQsslInUse(plain.get()) == 0);
  CHECK(scalar(plain.get(), "SELECT 'plain'") == "plain");

  auto& pg = PgServer::shared();
  ProxyProcess strict(
      {"--tls-cert", pg.server_cert(), "--tls-key", pg.server_key(), "--require-tls"});
  Conn refused =
      connect(strict.conninfo(kTestDatabase, kSuperUser, kSuperPassword, "sslmode=disable"));
  CHECK(PQstatus(refused.get()) == CONNECTION_BAD);
  MESSAGE("plaintext refused with: " << error(refused));
  Conn tls = connect(strict.conninfo(kTestDatabase, kSuperUser, kSuperPassword, verify_full()));
  REQUIRE_MESSAGE(ok(tls), error(tls));
  CHECK(scalar(tls.get(), "SELECT 'strict'") == "strict");
}

TEST_CASE("client TLS: a proxy without a certificate answers SSLRequest with N") {
  Conn c =
      connect(plain_proxy().conninfo(kTestDatabase, kSuperUser, kSuperPassword, "sslmode=require"));
  CHECK(PQstatus(c.get()) == CONNECTION_BAD);
  CHECK(error(c).find("server does not support SSL") != std::string::npos);

  // sslmode=prefer falls back to plaintext.
  Conn prefer =
      connect(plain_proxy().conninfo(kTestDatabase, kSuperUser, kSuperPassword, "sslmode=prefer"));
  REQUIRE_MESSAGE(ok(prefer), error(prefer));
  CHECK(PQsslInUse(prefer.get()) == 0);

  // The same on a raw socket: 'N', then the startup goes on in plaintext.
  RawClient raw(plain_proxy().port());
  REQUIRE(raw.send(request_code_message(kSslRequestCode)));
  CHECK(raw.read_exact(1) == "N");
  REQUIRE(raw.send(startup_message(kTrustUser, kTestDatabase)));
  auto auth = raw.read_message();
  REQUIRE(auth);
  CHECK(auth->type == 'R');
  CHECK(raw.read_until('Z'));
}

TEST_CASE(
    "client TLS: sslmode=require against a proxy without a certificate is logged and counted") {
  ProxyProcess proxy;
  REQUIRE(proxy.metrics_port() > 0);
  const std::string counted = "pglifecycle_client_connections_total{result=\"tls_unavailable\"} 1";
  auto metrics_say = [&](const std::string& line) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
      if (http_get(proxy.metrics_port(), "/metrics").find(line) != std::string::npos) return true;
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling an event, bounded
    }
  };
  Conn c = connect(proxy.conninfo(kTestDatabase, kSuperUser, kSuperPassword, "sslmode=require"));
  CHECK(PQstatus(c.get()) == CONNECTION_BAD);
  c.reset();  // libpq keeps a failed connection's socket until PQfinish
  CHECK_MESSAGE(metrics_say(counted), proxy.log());
  CHECK(proxy.log().find("closed after asking for TLS, which this proxy does not offer") !=
        std::string::npos);
  // sslmode=prefer goes on in plaintext on the same connection: an ordinary session.
  Conn prefer =
      connect(proxy.conninfo(kTestDatabase, kSuperUser, kSuperPassword, "sslmode=prefer"));
  REQUIRE_MESSAGE(ok(prefer), error(prefer));
  prefer.reset();
  CHECK(metrics_say("pglifecycle_client_connections_total{result=\"ok\"} 1"));
  CHECK(http_get(proxy.metrics_port(), "/metrics").find(counted) != std::string::npos);
  // Hostile: after the 'N', half a startup header and a close. Still that connection's
  // end only, counted the same way.
  {
    RawClient raw(proxy.port());
    REQUIRE(raw.send(request_code_message(kSslRequestCode)));
    CHECK(raw.read_exact(1) == "N");
    REQUIRE(raw.send(std::string("\0\0", 2)));
  }
  CHECK(metrics_say("pglifecycle_client_connections_total{result=\"tls_unavailable\"} 2"));
  CHECK(proxy.running());
}

TEST_CASE("client TLS: what is not a TLS handshake after 'S' ends that connection only") {
  // Before login, through the proxy's own TLS stream: plain bytes, a record header that
  // claims the largest length and then junk, a ClientHello cut short and then a close.
  const std::string junk(65536, 'x');
  const std::string huge_record = std::string("\x16\x03\x01\xff\xff", 5) + junk;
  const std::string cut_hello = std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc", 9);
  for (const std::string* bytes : {&junk, &huge_record, &cut_hello}) {
    RawClient raw(tls_proxy().port());
    REQUIRE(raw.send(request_code_message(kSslRequestCode)));
    REQUIRE(raw.read_exact(1) == "S");
    (void)raw.send(*bytes);
    if (bytes == &cut_hello) ::shutdown(raw.fd(), SHUT_WR);
    CHECK(raw.wait_closed());
  }
  // The proxy serves the next client as before.
  Conn c =
      connect(tls_proxy().conninfo(kTestDatabase, kSuperUser, kSuperPassword, "sslmode=require"));
  REQUIRE_MESSAGE(ok(c), error(c));
  CHECK(PQsslInUse(c.get()) == 1);
}

TEST_CASE("client TLS: GSSENCRequest is answered with N, then SSLRequest with S") {
  RawClient raw(tls_proxy().port());
  REQUIRE(raw.send(request_code_message(kGssEncRequestCode)));
  CHECK(raw.read_exact(1) == "N");
  REQUIRE(raw.send(request_code_message(kSslRequestCode)));
  CHECK(raw.read_exact(1) == "S");

  RawClient raw_plain(plain_proxy().port());
  REQUIRE(raw_plain.send(request_code_message(kGssEncRequestCode)));
  CHECK(raw_plain.read_exact(1) == "N");
  REQUIRE(raw_plain.send(startup_message(kTrustUser, kTestDatabase)));
  auto auth = raw_plain.read_message();
  REQUIRE(auth);
  CHECK(auth->type == 'R');
}

TEST_CASE("backend TLS follows --backend-sslmode") {
  auto& pg = PgServer::shared();
  CHECK(backend_ssl(plain_proxy()) == "t");  // default: prefer, and the server has TLS
  ProxyProcess disable({"--backend-sslmode", "disable"});
  CHECK(backend_ssl(disable) == "f");
  ProxyProcess require({"--backend-sslmode", "require"});
  CHECK(backend_ssl(require) == "t");
  ProxyProcess full({"--backend-sslmode", "verify-full", "--backend-sslrootcert", pg.ca_cert()});
  CHECK(backend_ssl(full) == "t");
  // verify-full authenticates the server: a root that did not sign its certificate (here
  // the server's own leaf certificate, which is no CA) fails the handshake.
  ProxyProcess wrong_root(
      {"--backend-sslmode", "verify-full", "--backend-sslrootcert", pg.server_cert()});
  const std::string refused = backend_ssl(wrong_root);
  CHECK(refused.find("connect failed") == 0);
  CHECK(refused.find("TLS handshake failed") != std::string::npos);
  // The certificate names 127.0.0.1 and localhost: both verify.
  ProxyProcess by_name({"--backend", "localhost:" + std::to_string(pg.port()), "--backend-sslmode",
                        "verify-full", "--backend-sslrootcert", pg.ca_cert()});
  CHECK(backend_ssl(by_name) == "t");
}

TEST_CASE("authentication passes through: every method, plaintext and TLS") {
  struct User {
    std::string_view name, password, method;
  };
  for (User u :
       {User{kSuperUser, kSuperPassword, "scram-sha-256"},
        User{kScramUser, kScramPassword, "scram-sha-256"}, User{kMd5User, kMd5Password, "md5"},
        User{kPasswordUser, kPasswordPassword, "password"}, User{kTrustUser, "", "trust"}}) {
    for (bool tls : {false, true}) {
      CAPTURE(u.name);
      CAPTURE(tls);
      Conn c = connect(tls_proxy().conninfo(kTestDatabase, u.name, u.password,
                                            tls ? verify_full() : "sslmode=disable"));
      REQUIRE_MESSAGE(ok(c), error(c));
      CHECK(PQsslInUse(c.get()) == (tls ? 1 : 0));
      CHECK(scalar(c.get(), "SELECT current_user") == u.name);
      if (u.method != "trust") {
        Conn bad = connect(tls_proxy().conninfo(kTestDatabase, u.name, "wrong-password",
                                                tls ? verify_full() : "sslmode=disable"));
        CHECK(PQstatus(bad.get()) == CONNECTION_BAD);
        CHECK(error(bad).find("password authentication failed for user \"" + std::string(u.name) +
                              "\"") != std::string::npos);
      }
    }
  }
}

// Channel binding (tls-server-end-point) hashes the certificate the client sees; the
// server checks it against its own. Through a TLS-terminating proxy it can only match
// when the proxy presents the backend's certificate.
TEST_CASE("channel binding: proxy presenting the backend's own certificate") {
  auto& pg = PgServer::shared();
  // Straight to the server over TLS channel binding works: the server offers -PLUS.
  Conn direct = connect(pg.conninfo(kTestDatabase, kScramUser, kScramPassword,
                                    verify_full() + " channel_binding=require"));
  REQUIRE_MESSAGE(ok(direct), error(direct));

  for (std::string mode : {"prefer", "require"}) {
    CAPTURE(mode);
    Conn c = connect(tls_proxy().conninfo(kTestDatabase, kScramUser, kScramPassword,
                                          verify_full() + " channel_binding=" + mode));
    REQUIRE_MESSAGE(ok(c), error(c));
    CHECK(scalar(c.get(), "SELECT current_user") == kScramUser);
  }
}

TEST_CASE("channel binding: proxy with its own certificate withholds SCRAM-SHA-256-PLUS") {
  auto& pg = PgServer::shared();
  // Backend link in plaintext: the server cannot bind either, so prefer falls back to
  // plain SCRAM and require fails with libpq's own clear error, fast.
  ProxyProcess own(
      {"--tls-cert", pg.proxy_cert(), "--tls-key", pg.proxy_key(), "--backend-sslmode", "disable"});
  Conn prefer = connect(own.conninfo(kTestDatabase, kScramUser, kScramPassword,
                                     verify_full() + " channel_binding=prefer"));
  REQUIRE_MESSAGE(ok(prefer), error(prefer));
  CHECK(scalar(prefer.get(), "SELECT current_user") == kScramUser);

  auto start = std::chrono::steady_clock::now();
  Conn require = connect(own.conninfo(kTestDatabase, kScramUser, kScramPassword,
                                      verify_full() + " channel_binding=require"));
  CHECK(PQstatus(require.get()) == CONNECTION_BAD);
  CHECK(error(require).find("channel binding") != std::string::npos);
  CHECK(elapsed_ms(start) < 5000);
  MESSAGE("channel_binding=require error: " << error(require));

  // md5 has no channel binding: unaffected.
  Conn md5 = connect(own.conninfo(kTestDatabase, kMd5User, kMd5Password,
                                  verify_full() + " channel_binding=prefer"));
  REQUIRE_MESSAGE(ok(md5), error(md5));

  // Without client TLS there is nothing to bind to: libpq refuses, also fast.
  start = std::chrono::steady_clock::now();
  Conn plain_require = connect(plain_proxy().conninfo(kTestDatabase, kScramUser, kScramPassword,
                                                      "sslmode=disable channel_binding=require"));
  CHECK(PQstatus(plain_require.get()) == CONNECTION_BAD);
  CHECK(error(plain_require).find("channel binding") != std::string::npos);
  CHECK(elapsed_ms(start) < 5000);
  // And a plaintext client of a TLS backend (which offers -PLUS) still logs in.
  Conn plain_prefer = connect(plain_proxy().conninfo(kTestDatabase, kScramUser, kScramPassword,
                                                     "sslmode=disable channel_binding=prefer"));
  REQUIRE_MESSAGE(ok(plain_prefer), error(plain_prefer));
}

namespace {

// Whether the server's connection `pid` (a backend pid, which the proxy passes through
// unchanged in BackendKeyData) uses TLS, as the server sees it.
std::string backend_ssl_of(int pid) {
  Conn c = connect(
      PgServer::shared().conninfo(kTestDatabase, kSuperUser, kSuperPassword, "sslmode=disable"));
  if (!ok(c)) return "connect failed: " + error(c);
  return scalar(c.get(), "SELECT ssl FROM pg_stat_ssl WHERE pid = " + std::to_string(pid));
}

// Polls the proxy's log for `what` (lines are written asynchronously to the client).
bool log_shows(const ProxyProcess& p, std::string_view what) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  do {
    if (p.log().find(what) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (std::chrono::steady_clock::now() < deadline);
  return false;
}

}  // namespace

// The production case (PowerBI/Npgsql, libpq): client TLS ends at the proxy with its own
// certificate, the backend link is TLS by default, and the clients' channel_binding=prefer
// would be rejected by the server as a downgrade. Under --backend-sslmode prefer the proxy
// moves a SCRAM session's backend link to plaintext before the client sees anything.
TEST_CASE("channel binding: own certificate, backend-sslmode prefer - SCRAM link drops TLS") {
  auto& pg = PgServer::shared();
  ProxyProcess own({"--tls-cert", pg.proxy_cert(), "--tls-key", pg.proxy_key()});
  for (std::string extra : {" channel_binding=prefer", ""}) {  // "": libpq's default, prefer
    CAPTURE(extra);
    Conn c =
        connect(own.conninfo(kTestDatabase, kScramUser, kScramPassword, "sslmode=require" + extra));
    REQUIRE_MESSAGE(ok(c), error(c));
    CHECK(PQsslInUse(c.get()) == 1);
    CHECK(scalar(c.get(), "SELECT current_user") == kScramUser);
    CHECK(scalar(c.get(), "SELECT count(*) FROM generate_series(1, 1000)") == "1000");
    CHECK(backend_ssl_of(PQbackendPID(c.get())) == "f");
  }
  CHECK(log_shows(own, "backend link downgraded to plaintext for SCRAM channel binding"));
  CHECK(log_shows(own, "backend_tls=off (downgraded for channel binding)"));

  // Binding itself still cannot work through a different certificate: require fails at
  // once on the client (the plaintext-linked server offers no -PLUS).
  auto start = std::chrono::steady_clock::now();
  Conn require = connect(own.conninfo(kTestDatabase, kScramUser, kScramPassword,
                                      verify_full() + " channel_binding=require"));
  CHECK(PQstatus(require.get()) == CONNECTION_BAD);
  CHECK(error(require).find("channel binding") != std::string::npos);
  CHECK(elapsed_ms(start) < 5000);
  // disable works too, and a wrong password still gets the server's own error.
  Conn disable = connect(own.conninfo(kTestDatabase, kScramUser, kScramPassword,
                                      verify_full() + " channel_binding=disable"));
  REQUIRE_MESSAGE(ok(disable), error(disable));
  Conn bad = connect(own.conninfo(kTestDatabase, kScramUser, "wrong-password", "sslmode=require"));
  CHECK(PQstatus(bad.get()) == CONNECTION_BAD);
  CHECK(error(bad).find("password authentication failed") != std::string::npos);

  // Methods without channel binding keep TLS to the backend.
  struct User {
    std::string_view name, password;
  };
  for (User u : {User{kMd5User, kMd5Password}, User{kPasswordUser, kPasswordPassword},
                 User{kTrustUser, ""}}) {
    CAPTURE(u.name);
    Conn c = connect(own.conninfo(kTestDatabase, u.name, u.password, "sslmode=require"));
    REQUIRE_MESSAGE(ok(c), error(c));
    CHECK(scalar(c.get(), "SELECT current_user") == u.name);
    CHECK(backend_ssl_of(PQbackendPID(c.get())) == "t");
  }
  // A plaintext client has nothing to bind to: its SCRAM link keeps TLS (-PLUS withheld).
  Conn plain = connect(own.conninfo(kTestDatabase, kScramUser, kScramPassword, "sslmode=disable"));
  REQUIRE_MESSAGE(ok(plain), error(plain));
  CHECK(backend_ssl_of(PQbackendPID(plain.get())) == "t");
}

// A server that only takes TLS (hostssl) for a SCRAM user: the plaintext link is refused,
// so the session stays on TLS with -PLUS withheld, as under require.
TEST_CASE("channel binding: own certificate, prefer, server refusing plaintext - stays on TLS") {
  auto& pg = PgServer::shared();
  constexpr std::string_view kUser = "scram_ssl_only";
  constexpr std::string_view kPassword = "ssl_only_pw";
  pg.exec(
      "DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'scram_ssl_only') "
      "THEN CREATE ROLE scram_ssl_only LOGIN; END IF; END$$");
  pg.exec("SET password_encryption = 'scram-sha-256'; ALTER ROLE scram_ssl_only PASSWORD '" +
          std::string(kPassword) + "'");
  {
    // Rules are matched first to last: prepend, keep the owner (the server user).
    const std::string hba = pg.data_dir() + "/pg_hba.conf";
    std::string old;
    {
      std::ifstream in(hba);
      old.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    if (old.find("scram_ssl_only") == std::string::npos) {
      std::ofstream out(hba, std::ios::trunc);
      out << "hostnossl all scram_ssl_only 127.0.0.1/32 reject\n"
          << "hostssl all scram_ssl_only 127.0.0.1/32 scram-sha-256\n"
          << old;
    }
  }
  pg.exec("SELECT pg_reload_conf()");
  // The reload is asynchronous: wait until a direct plaintext login is refused.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool refused = false;
  while (!refused && std::chrono::steady_clock::now() < deadline) {
    Conn probe = connect(pg.conninfo(kTestDatabase, kUser, kPassword, "sslmode=disable"));
    refused = !ok(probe) && error(probe).find("pg_hba.conf") != std::string::npos;
    if (!refused) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(refused);

  ProxyProcess own({"--tls-cert", pg.proxy_cert(), "--tls-key", pg.proxy_key()});
  Conn disable = connect(
      own.conninfo(kTestDatabase, kUser, kPassword, "sslmode=require channel_binding=disable"));
  REQUIRE_MESSAGE(ok(disable), error(disable));
  CHECK(scalar(disable.get(), "SELECT current_user") == kUser);
  CHECK(backend_ssl_of(PQbackendPID(disable.get())) == "t");
  CHECK(log_shows(own, "the backend refused a plaintext link for SCRAM channel binding"));
  auto start = std::chrono::steady_clock::now();
  Conn prefer = connect(
      own.conninfo(kTestDatabase, kUser, kPassword, "sslmode=require channel_binding=prefer"));
  CHECK(PQstatus(prefer.get()) == CONNECTION_BAD);
  CHECK(error(prefer).find("channel binding") != std::string::npos);
  CHECK(elapsed_ms(start) < 5000);
}

// require and verify-full never downgrade: binding-capable clients must set
// channel_binding=disable (or the proxy must present the backend's certificate).
TEST_CASE("channel binding: own certificate, backend-sslmode require - prefer fails fast") {
  auto& pg = PgServer::shared();
  ProxyProcess own(
      {"--tls-cert", pg.proxy_cert(), "--tls-key", pg.proxy_key(), "--backend-sslmode", "require"});
  auto start = std::chrono::steady_clock::now();
  Conn require = connect(own.conninfo(kTestDatabase, kScramUser, kScramPassword,
                                      verify_full() + " channel_binding=require"));
  CHECK(PQstatus(require.get()) == CONNECTION_BAD);
  CHECK(error(require).find("channel binding") != std::string::npos);
  CHECK(elapsed_ms(start) < 5000);

  // prefer: libpq, seeing no -PLUS on a TLS connection, tells the server "y" (I could
  // bind but you did not offer it); the server, whose own link is TLS, takes that as a
  // downgrade attack and refuses. SCRAM's proof covers that flag, so no proxy can rewrite it.
  start = std::chrono::steady_clock::now();
  Conn prefer = connect(own.conninfo(kTestDatabase, kScramUser, kScramPassword,
                                     verify_full() + " channel_binding=prefer"));
  CHECK(PQstatus(prefer.get()) == CONNECTION_BAD);
  // The proxy's own error, naming the ways out, instead of the server's riddle.
  CHECK(error(prefer).find("SCRAM channel binding cannot work through this proxy") !=
        std::string::npos);
  CHECK(error(prefer).find("channel_binding=disable") != std::string::npos);
  CHECK(error(prefer).find("negotiation error") == std::string::npos);
  CHECK(elapsed_ms(start) < 5000);
  MESSAGE("backend-sslmode require, channel_binding=prefer: " << error(prefer));

  Conn disable = connect(own.conninfo(kTestDatabase, kScramUser, kScramPassword,
                                      verify_full() + " channel_binding=disable"));
  REQUIRE_MESSAGE(ok(disable), error(disable));
  CHECK(scalar(disable.get(), "SELECT current_user") == kScramUser);
  CHECK(backend_ssl_of(PQbackendPID(disable.get())) == "t");
  CHECK(own.log().find("downgraded") == std::string::npos);
}

// SCRAM termination: the proxy authenticates the client with the role's verifier (looked up
// through --auth-query) and logs in to the server with the client's key, so channel
// binding works against the proxy's own certificate on a TLS backend link.
TEST_CASE("SCRAM termination: channel binding through the proxy's own certificate") {
  auto& pg = PgServer::shared();
  ProxyProcess own({"--tls-cert", pg.proxy_cert(), "--tls-key", pg.proxy_key(), "--backend-sslmode",
                    "require", "--auth-query-user", std::string(kSuperUser)},
                   {"PGLIFECYCLE_AUTH_QUERY_PASSWORD=" + std::string(kSuperPassword)});
  for (std::string mode : {"require", "prefer"}) {
    CAPTURE(mode);
    Conn c = connect(own.conninfo(kTestDatabase, kScramUser, kScramPassword,
                                  verify_full() + " channel_binding=" + mode));
    REQUIRE_MESSAGE(ok(c), error(c));
    CHECK(scalar(c.get(), "SELECT current_user") == kScramUser);
    CHECK(backend_ssl_of(PQbackendPID(c.get())) == "t");
  }
  // A plaintext client: plain SCRAM, no binding offered.
  ProxyProcess plain({"--backend-sslmode", "require", "--auth-query-user", std::string(kSuperUser)},
                     {"PGLIFECYCLE_AUTH_QUERY_PASSWORD=" + std::string(kSuperPassword)});
  Conn p = connect(plain.conninfo(kTestDatabase, kScramUser, kScramPassword, "sslmode=disable"));
  REQUIRE_MESSAGE(ok(p), error(p));
  CHECK(scalar(p.get(), "SELECT current_user") == kScramUser);

  // A wrong password is refused by the proxy, as the server would.
  Conn wrong = connect(own.conninfo(kTestDatabase, kScramUser, "not-the-password",
                                    verify_full() + " channel_binding=require"));
  CHECK_FALSE(ok(wrong));
  CHECK(error(wrong).find("password authentication failed for user \"scram_user\"") !=
        std::string::npos);
  // A role without a SCRAM verifier (md5) is passed through untouched.
  Conn md5 = connect(own.conninfo(kTestDatabase, kMd5User, kMd5Password,
                                  verify_full() + " channel_binding=disable"));
  REQUIRE_MESSAGE(ok(md5), error(md5));
  CHECK(scalar(md5.get(), "SELECT current_user") == kMd5User);
  // The cancel key still works: the server's BackendKeyData reached the client.
  Conn sleeper = connect(own.conninfo(kTestDatabase, kScramUser, kScramPassword,
                                      verify_full() + " channel_binding=require"));
  REQUIRE_MESSAGE(ok(sleeper), error(sleeper));
  REQUIRE(PQsendQuery(sleeper.get(), "SELECT pg_sleep(10)"));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  PGcancel* cancel = PQgetCancel(sleeper.get());
  char errbuf[256] = {};
  CHECK(PQcancel(cancel, errbuf, sizeof errbuf) == 1);
  PQfreeCancel(cancel);
  Result r(PQgetResult(sleeper.get()));
  CHECK(sqlstate(r.get()) == "57014");
  while (PGresult* rest = PQgetResult(sleeper.get())) PQclear(rest);
  // Nothing secret in the log.
  const std::string log = own.log();
  CHECK(log.find("SCRAM-SHA-256$") == std::string::npos);
  CHECK(log.find("SCRAM terminated") != std::string::npos);
}

TEST_CASE("logs: one line per session open and close, never a password") {
  ProxyProcess p({"--tls-cert", PgServer::shared().server_cert(), "--tls-key",
                  PgServer::shared().server_key()});
  for (auto [user, password] :
       {std::pair{kScramUser, kScramPassword}, std::pair{kMd5User, kMd5Password},
        std::pair{kPasswordUser, kPasswordPassword}}) {
    for (const char* mode : {"sslmode=disable", "sslmode=require"}) {
      Conn c = connect(p.conninfo(kTestDatabase, user, password, mode));
      REQUIRE_MESSAGE(ok(c), error(c));
      CHECK(scalar(c.get(), "SELECT 1") == "1");
    }
  }
  // Close lines are written when the proxy notices the disconnect: poll for them.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::string log;
  auto count = [&](std::string_view what) {
    size_t n = 0;
    for (size_t pos = log.find(what); pos != std::string::npos; pos = log.find(what, pos + 1)) ++n;
    return n;
  };
  do {
    log = p.log();
    if (count("session close") >= 6) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (std::chrono::steady_clock::now() < deadline);
  CAPTURE(log);
  CHECK(count("session open") >= 6);
  CHECK(count("session close") >= 6);
  CHECK(log.find(std::string(kMd5User)) != std::string::npos);
  CHECK(log.find(std::string(kTestDatabase)) != std::string::npos);
  for (auto secret : {kScramPassword, kMd5Password, kPasswordPassword}) {
    CHECK(log.find(std::string(secret)) == std::string::npos);
  }
}

TEST_CASE("client TLS: a stalled 50 MB stream keeps the proxy's memory bounded") {
  const char* asan = std::getenv("ASAN_OPTIONS");
  ProxyProcess p(
      {"--tls-cert", PgServer::shared().server_cert(), "--tls-key",
       PgServer::shared().server_key()},
      {"ASAN_OPTIONS=" + std::string(asan != nullptr ? asan : "") + ":quarantine_size_mb=16"});
  Conn c = connect(p.conninfo(kTestDatabase, kSuperUser, kSuperPassword, "sslmode=require"));
  REQUIRE_MESSAGE(ok(c), error(c));
  REQUIRE(PQsslInUse(c.get()) == 1);
  const long baseline = vm_rss_kb(p.pid());
  REQUIRE(PQsendQuery(c.get(), "SELECT repeat('t', 1000) FROM generate_series(1, 50000)"));
  REQUIRE(PQsetSingleRowMode(c.get()) == 1);
  long rows = 0, peak = baseline;
  while (PGresult* raw = PQgetResult(c.get())) {
    Result r(raw);
    if (PQresultStatus(r.get()) != PGRES_SINGLE_TUPLE) continue;
    if (PQgetlength(r.get(), 0, 0) == 1000) ++rows;
    if (rows == 500) {  // stop reading for a second: the proxy must stop reading too
      for (int i = 0; i < 10; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        peak = std::max(peak, vm_rss_kb(p.pid()));
      }
    }
    if (rows % 2000 == 0) peak = std::max(peak, vm_rss_kb(p.pid()));
  }
  CHECK(rows == 50000);
  MESSAGE("TLS stream: proxy RSS " << baseline / 1024 << " MB, peak " << peak / 1024 << " MB");
  CHECK(peak - baseline < 40 * 1024);
}
