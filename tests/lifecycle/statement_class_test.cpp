// Statement classes (DESIGN §2): statement_type from libpg_query's parse tree, and the
// table of driver statements, each entry matched by the text its driver sends.
#include "lifecycle/statement_class.hpp"

#include <doctest/doctest.h>

#include <string>

#include "lifecycle/sql_analyzer.hpp"

using namespace pglc::lifecycle;

TEST_CASE("statement_type from the parse tree") {
  const std::pair<const char*, const char*> cases[] = {
      {"SELECT 1", "select"},
      {"WITH x AS (SELECT 1) SELECT * FROM x", "select"},
      {"WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", "insert"},
      {"(SELECT 1) UNION SELECT 2", "select"},
      {"VALUES (1)", "select"},
      {"TABLE t", "select"},
      {"INSERT INTO t VALUES (1) RETURNING *", "insert"},
      {"UPDATE t SET a = 1", "update"},
      {"DELETE FROM t", "delete"},
      {"MERGE INTO t USING s ON t.a = s.a WHEN MATCHED THEN DELETE", "merge"},
      {"COPY t FROM STDIN", "copy"},
      {"CREATE TABLE t (a int)", "ddl"},
      {"CREATE TABLE t2 AS SELECT 1", "ddl"},
      {"ALTER TABLE t ADD COLUMN b int", "ddl"},
      {"DROP TABLE t", "ddl"},
      {"CREATE INDEX ON t (a)", "ddl"},
      {"TRUNCATE t", "ddl"},
      {"GRANT SELECT ON t TO r", "ddl"},
      {"COMMENT ON TABLE t IS 'x'", "ddl"},
      {"BEGIN", "transaction"},
      {"COMMIT", "transaction"},
      {"SAVEPOINT a", "transaction"},
      {"SET extra_float_digits = 3", "set"},
      {"RESET ALL", "set"},
      {"SHOW work_mem", "show"},
      {"DISCARD ALL", "discard"},
      {"PREPARE p AS SELECT 1", "prepare"},
      {"EXECUTE p", "execute"},
      {"DEALLOCATE p", "deallocate"},
      {"CALL p()", "call"},
      {"EXPLAIN SELECT 1", "explain"},
      {"LISTEN c", "other"},
      {"VACUUM t", "ddl"},
      {"SELEC oops", ""},
  };
  for (const auto& [sql, want] : cases) {
    CAPTURE(sql);
    CHECK(statement_type(sql) == want);
    // What the analyzer records: only with a fingerprint.
    CHECK(analyze_sql(sql, 1000).statement_type == want);
  }
  CHECK(statement_type_of_tree(R"({"version":150001,"stmts":[{"stmt":{"SelectStmt":{}}}]})") ==
        "select");
  CHECK(statement_type_of_tree("{}").empty());
}

TEST_CASE("driver statements: each table entry as its driver sends it; the user's are not") {
  // The text each entry stands for, as a driver sends it (normalized as the store keeps it).
  const char* sent[] = {
      "DISCARD ALL",
      "SELECT ns.nspname, t.oid, t.typname, t.typtype, t.typnotnull, t.elemtypoid\n"
      "FROM (SELECT typ.oid FROM pg_type AS typ) AS t JOIN pg_namespace AS ns ON (ns.oid = 1)",
      "SELECT ns.nspname, a.typname, a.oid, a.typrelid, a.typbasetype,\n"
      "CASE WHEN pg_proc.proname='array_recv' THEN 'a' ELSE a.typtype END AS type FROM pg_type a",
      "\n-- Load field definitions for (free-standing) composite types\n"
      "SELECT typ.oid, att.attname, att.atttypid FROM pg_type AS typ",
      "\n-- Load enum fields\nSELECT pg_type.oid, enumlabel FROM pg_enum",
      "SET extra_float_digits = 3",
      "SET application_name = 'PostgreSQL JDBC Driver'",
      "select oid, typbasetype from pg_type where typname = 'int4'",
      // pgjdbc 42.5's TypeInfoCache, as drivers_test.cpp saw them.
      "SELECT n.nspname = ANY(current_schemas(true)), n.nspname, t.typname FROM "
      "pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON t.typnamespace = n.oid WHERE "
      "t.oid = $1",
      "SELECT typinput='pg_catalog.array_in'::regproc as is_array, typtype, typname, "
      "pg_type.oid   FROM pg_catalog.pg_type   LEFT JOIN (select ns.oid as nspoid, ns.nspname, "
      "r.r from pg_namespace as ns) as sp ON sp.nspoid = typnamespace WHERE pg_type.oid = $1",
      "SELECT t.typarray, arr.typname   FROM pg_catalog.pg_type t  JOIN pg_catalog.pg_namespace "
      "n ON t.typnamespace = n.oid  JOIN pg_catalog.pg_type arr ON arr.oid = t.typarray WHERE "
      "t.typname = $1",
      "SELECT e.typdelim FROM pg_catalog.pg_type t, pg_catalog.pg_type e WHERE t.oid = $1 and "
      "t.typelem = e.oid",
      "SELECT e.oid, n.nspname = ANY(current_schemas(true)), n.nspname, e.typname FROM "
      "pg_catalog.pg_type t JOIN pg_catalog.pg_type e ON t.typelem = e.oid WHERE t.oid = $1",
  };
  REQUIRE(std::size(sent) == driver_statements().size());
  for (std::size_t i = 0; i < std::size(sent); ++i) {
    CAPTURE(sent[i]);
    const auto a = analyze_sql(sent[i], 1 << 20);
    REQUIRE(a.normalized_sql.has_value());
    CHECK(origin_of(*a.normalized_sql) == "driver");
    CHECK_FALSE(driver_statements()[i].driver.empty());
    CHECK_FALSE(driver_statements()[i].why.empty());
  }
  // psql's \d and an application's own statements are the user's.
  for (const char* user :
       {"SELECT c.oid, n.nspname, c.relname FROM pg_catalog.pg_class c LEFT JOIN "
        "pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relname "
        "OPERATOR(pg_catalog.~) "
        "'^(t)$' COLLATE pg_catalog.default",
        "SELECT * FROM orders WHERE id = 1", "SET work_mem = '64MB'", "BEGIN"}) {
    CAPTURE(user);
    const auto a = analyze_sql(user, 1 << 20);
    CHECK(origin_of(a.normalized_sql.value_or("")) == "application");
  }
  CHECK(origin_of("") == "application");
  // Whitespace folds; an exact driver text with more after it is not the driver's, a
  // prefix one is however long its tail (only the head is compared).
  CHECK(origin_of("  DISCARD \n\t ALL  ") == "driver");
  CHECK(origin_of("DISCARD ALL;") == "application");
  CHECK(origin_of("DISCARD AL") == "application");
  for (const DriverStatement& d : driver_statements()) {
    if (!d.prefix) continue;
    const std::string tail(4000, 'x');
    CHECK(origin_of(std::string(d.normalized) + "\n  " + tail) == "driver");
    CHECK(origin_of(std::string(d.normalized.substr(0, d.normalized.size() - 1))) ==
          "application");
  }
}
