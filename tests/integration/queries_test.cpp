// The README's queries, shipped as files per store (docs/queries/<store>/*.sql), run as
// written against a store filled by real traffic through the real proxy, in both stores.
#include <doctest/doctest.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/pq.hpp"
#include "tests/support/pg_server.hpp"

using namespace pglc::test;

namespace {

using Rows = std::vector<std::vector<std::optional<std::string>>>;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The file as a user runs it, with the application pattern its comment says to edit.
std::string query_file(const std::string& store, const std::string& name) {
  std::string sql = read_file(std::string(PGLC_SOURCE_DIR) + "/docs/queries/" + store + "/" + name);
  for (std::size_t at = sql.find("'PowerBI%'"); at != std::string::npos;
       at = sql.find("'PowerBI%'", at)) {
    sql.replace(at, 10, "'queries_app'");
  }
  return sql;
}

Rows sqlite_query(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  const char* tail = nullptr;
  const int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &st, &tail);
  const std::string why = sqlite3_errmsg(db);
  REQUIRE_MESSAGE(rc == SQLITE_OK, why << ": " << sql);
  CHECK(std::string(tail).find_first_not_of(" \n\t") == std::string::npos);  // one statement
  Rows out;
  while (sqlite3_step(st) == SQLITE_ROW) {
    out.emplace_back();
    for (int c = 0; c < sqlite3_column_count(st); ++c) {
      const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(st, c));
      out.back().push_back(t ? std::optional<std::string>(t) : std::nullopt);
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

Rows pg_query(const std::string& conninfo, const std::string& sql) {
  PGconn* c = PQconnectdb(conninfo.c_str());
  REQUIRE_MESSAGE(PQstatus(c) == CONNECTION_OK, PQerrorMessage(c));
  PGresult* r = PQexec(c, sql.c_str());
  const std::string why = PQresultErrorMessage(r);
  Rows out;
  if (PQresultStatus(r) == PGRES_TUPLES_OK) {
    for (int i = 0; i < PQntuples(r); ++i) {
      out.emplace_back();
      for (int j = 0; j < PQnfields(r); ++j) {
        out.back().push_back(PQgetisnull(r, i, j) ? std::nullopt
                                                  : std::optional<std::string>(PQgetvalue(r, i, j)));
      }
    }
  }
  const bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
  PQclear(r);
  PQfinish(c);
  REQUIRE_MESSAGE(ok, why << ": " << sql);
  return out;
}

void drive(const ProxyProcess& proxy) {
  Conn c = connect(proxy.conninfo(kTestDatabase, kSuperUser, kSuperPassword,
                                  "application_name=queries_app"));
  REQUIRE_MESSAGE(ok(c), error(c));
  for (int i = 0; i < 12; ++i) {
    const std::string v = std::to_string(i);
    const char* values[] = {v.c_str()};
    Result r(PQexecParams(c.get(), "SELECT $1::int /* queries */", 1, nullptr, values, nullptr,
                          nullptr, 0));
    REQUIRE(PQresultStatus(r.get()) == PGRES_TUPLES_OK);
  }
  Result slow(PQexec(c.get(), "SELECT pg_sleep(0.03) /* queries slow */"));
  REQUIRE(PQresultStatus(slow.get()) == PGRES_TUPLES_OK);
  Result err(PQexec(c.get(), "SELECT 1/0 /* queries error */"));
  REQUIRE(PQresultStatus(err.get()) == PGRES_FATAL_ERROR);
}

double num(const std::optional<std::string>& v) {
  REQUIRE(v.has_value());
  return std::stod(*v);
}

}  // namespace

TEST_CASE("the README's queries run as written on both stores, with sane results") {
  const std::string tmpl = make_temp_dir("pglc-queries");
  REQUIRE(!tmpl.empty());
  const std::string sqlite_path = tmpl + "/store.db";
  const std::string pg = fresh_store_uri("pglc_queries");
  for (const std::string store : {"sqlite", "postgresql"}) {
    CAPTURE(store);
    const std::string spec = store == "sqlite" ? "sqlite:" + sqlite_path : pg;
    {
      ProxyProcess proxy({"--storage", spec});
      drive(proxy);
      REQUIRE_MESSAGE(sessions_closed(proxy), "the proxy still has open client sessions");
      REQUIRE(proxy.terminate() == 0);
    }
    auto q = [&](const std::string& file) {
      const std::string sql = query_file(store, file);
      return store == "sqlite" ? sqlite_query(sqlite_path, sql) : pg_query(pg, sql);
    };
    const Rows slowest = q("1_slowest_fingerprints.sql");
    REQUIRE(slowest.size() >= 1);
    CHECK(slowest[0][0].value_or("").find("/* queries */") != std::string::npos);
    CHECK(num(slowest[0][1]) == 12);  // calls
    CHECK(num(slowest[0][4]) >= num(slowest[0][3]));  // p95 >= p50
    CHECK(slowest[0][7].has_value());  // last seen, readable

    const Rows one = q("2_slowest_execution.sql");
    REQUIRE(one.size() == 1);
    CHECK(one[0][13].value_or("").find("pg_sleep(0.03)") != std::string::npos);
    CHECK(num(one[0][11]) >= 30);  // total_ms
    CHECK(one[0][6].value_or("").rfind("20", 0) == 0);  // began, as a date

    const Rows errors = q("3_errors.sql");
    REQUIRE(errors.size() == 1);
    CHECK(errors[0][0] == "22012");
    CHECK(num(errors[0][1]) == 1);
    CHECK(errors[0][3].value_or("").find("division by zero") != std::string::npos);

    const Rows timeline = q("4_session_timeline.sql");
    REQUIRE(timeline.size() == 15);  // the connect and 14 executions
    CHECK(timeline[0][0] == "connect");
    CHECK(num(timeline[0][4]) > 0);
    CHECK(timeline[14][2] == "error");

    const Rows apps = q("5_per_application.sql");
    std::map<std::string, double> executions;
    for (const auto& r : apps) executions[r[0].value_or("")] = num(r[1]);
    CHECK(executions["queries_app"] == 14);
  }
  if (!getenv("PGLC_KEEP_E2E")) std::filesystem::remove_all(tmpl);
}
