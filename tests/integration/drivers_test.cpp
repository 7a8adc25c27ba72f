// Real drivers through the proxy: a pgjdbc session (Debian's libpostgresql-jdbc-java, run
// as a single-file Java program) and what the store says about the statements it sent on
// its own (origin 'driver') and those the application asked for.
#include <doctest/doctest.h>
#include <sqlite3.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/integration/sqlite_rows.hpp"
#include "tests/support/pg_server.hpp"
#include "tests/support/process.hpp"

using namespace pglc::test;

namespace {

constexpr const char* kJdbcJar = "/usr/share/java/postgresql.jar";

}  // namespace

TEST_CASE(
    "pgjdbc: its type lookups are classified as driver statements, the application's are not") {
  const std::string dir = make_temp_dir("pglc-drivers");
  REQUIRE(!dir.empty());
  const std::string db = dir + "/store.db";
  std::string out;
  {
    ProxyProcess proxy({"--storage", "sqlite:" + db});
    const std::string url = "jdbc:postgresql://127.0.0.1:" + std::to_string(proxy.port()) + "/" +
                            std::string(kTestDatabase) +
                            "?ApplicationName=jdbc_test&sslmode=disable";
    const int status =
        run({"java", "-cp", kJdbcJar,
             std::string(PGLC_SOURCE_DIR) + "/tests/integration/drivers/JdbcSession.java", url,
             std::string(kSuperUser), std::string(kSuperPassword)},
            &out);
    REQUIRE_MESSAGE(status == 0, out << "\nproxy log:\n" << proxy.log());
    CHECK(out.find("mood slow jdbc_mood") != std::string::npos);
    CHECK(out.find("cardinality 2") != std::string::npos);
    REQUIRE(sessions_closed(proxy));
    REQUIRE(proxy.terminate() == 0);
  }
  const Rows rows = sqlite_rows(db,
                                "SELECT origin, statement_type, sql FROM statement_summary "
                                "WHERE application_name = 'jdbc_test' ORDER BY received_at");
  std::string all;
  for (const auto& r : rows) all += r[0] + " | " + r[1] + " | " + r[2] + "\n";
  INFO("statements pgjdbc sent:\n" << all);
  auto origin_of = [&](const std::string& needle) {
    for (const auto& r : rows)
      if (r[2].find(needle) != std::string::npos) return r[0];
    return std::string("(not sent)");
  };
  // The application's own statements.
  CHECK(origin_of("SELECT $1::int + 1 AS n") == "application");
  CHECK(origin_of("'slow'::jdbc_mood") == "application");
  CHECK(origin_of("CREATE TYPE jdbc_mood") == "application");
  CHECK(origin_of("SELECT 42") == "application");
  // pgjdbc's session setup, sent as statements after the login.
  CHECK(origin_of("SET extra_float_digits") == "driver");
  CHECK(origin_of("SET application_name") == "driver");
  // pgjdbc's own: at least one catalogue lookup for jdbc_mood, and every pg_type query it
  // sent is classified as the driver's.
  int lookups = 0;
  for (const auto& r : rows) {
    if (r[2].find("pg_type") == std::string::npos) continue;
    ++lookups;
    CHECK_MESSAGE(r[0] == "driver", r[2]);
    CHECK(r[1] == "select");
  }
  CHECK(lookups >= 1);
  detail::remove_tree(dir);
}
