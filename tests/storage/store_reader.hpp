// Reads a store back with the database's own client library (sqlite3 C API / libpq), so
// the tests check what a user querying the store would see.
#pragma once

#include <libpq-fe.h>
#include <sqlite3.h>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "storage/sqlite_id.hpp"

namespace pglc::test {

using Cell = std::optional<std::string>;
using Row = std::vector<Cell>;
using Rows = std::vector<Row>;

class StoreReader {
 public:
  virtual ~StoreReader() = default;
  virtual Rows query(const std::string& sql) = 0;
  // `col` as integer microseconds since the epoch (SQLite stores that; PostgreSQL has
  // timestamptz).
  virtual std::string us(const std::string& col) const = 0;
  virtual bool is_pg() const = 0;
  // A record's id as the store keeps it: a SQL literal for WHERE clauses, and the text a
  // query returns (SQLite: a 64-bit integer, storage/sqlite_id.hpp; PostgreSQL: uuid).
  virtual std::string id_value(const std::string& uuid) const = 0;
  std::string id(const std::string& uuid) const {
    return is_pg() ? "'" + uuid + "'" : id_value(uuid);
  }

  // The single value of a one-row, one-column query.
  Cell value(const std::string& sql) {
    Rows r = query(sql);
    if (r.size() != 1 || r[0].size() != 1) {
      throw std::runtime_error("expected one value from: " + sql);
    }
    return r[0][0];
  }
  long long count(const std::string& table_or_where) {
    return std::stoll(*value("SELECT count(*) FROM " + table_or_where));
  }
};

class SqliteReader final : public StoreReader {
 public:
  explicit SqliteReader(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
      sqlite3_close_v2(db_);
      throw std::runtime_error("cannot open " + path);
    }
    sqlite3_busy_timeout(db_, 5000);
  }
  ~SqliteReader() override { sqlite3_close_v2(db_); }
  sqlite3* db() const { return db_; }

  Rows query(const std::string& sql) override {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
      throw std::runtime_error(std::string("prepare: ") + sqlite3_errmsg(db_) + " in " + sql);
    }
    Rows rows;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      Row row;
      for (int i = 0; i < sqlite3_column_count(st); ++i) {
        if (sqlite3_column_type(st, i) == SQLITE_NULL) {
          row.emplace_back();
        } else {
          row.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, i)));
        }
      }
      rows.push_back(std::move(row));
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) throw std::runtime_error(std::string("step: ") + sqlite3_errmsg(db_));
    return rows;
  }
  std::string us(const std::string& col) const override { return col; }
  std::string id_value(const std::string& uuid) const override {
    return std::to_string(storage::sqlite_id(uuid));
  }
  bool is_pg() const override { return false; }
  void exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "?";
      sqlite3_free(err);
      throw std::runtime_error(msg + " in " + sql);
    }
  }

 private:
  sqlite3* db_ = nullptr;
};

class PgReader final : public StoreReader {
 public:
  explicit PgReader(const std::string& conninfo) : conn_(PQconnectdb(conninfo.c_str())) {
    if (PQstatus(conn_) != CONNECTION_OK) {
      std::string msg = PQerrorMessage(conn_);
      PQfinish(conn_);
      throw std::runtime_error("cannot connect: " + msg);
    }
  }
  ~PgReader() override { PQfinish(conn_); }

  Rows query(const std::string& sql) override {
    PGresult* r = PQexec(conn_, sql.c_str());
    const auto st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
      std::string msg = PQresultErrorMessage(r);
      PQclear(r);
      throw std::runtime_error(msg + " in " + sql);
    }
    Rows rows;
    for (int i = 0; i < PQntuples(r); ++i) {
      Row row;
      for (int j = 0; j < PQnfields(r); ++j) {
        if (PQgetisnull(r, i, j)) {
          row.emplace_back();
        } else {
          row.emplace_back(PQgetvalue(r, i, j));
        }
      }
      rows.push_back(std::move(row));
    }
    PQclear(r);
    return rows;
  }
  std::string us(const std::string& col) const override {
    return "(extract(epoch FROM " + col + ") * 1000000)::bigint";
  }
  bool is_pg() const override { return true; }
  std::string id_value(const std::string& uuid) const override { return uuid; }

 private:
  PGconn* conn_;
};

inline double num(const Cell& c) {
  if (!c) throw std::runtime_error("NULL where a number was expected");
  return std::strtod(c->c_str(), nullptr);
}
inline long long integer(const Cell& c) {
  if (!c) throw std::runtime_error("NULL where an integer was expected");
  return std::stoll(*c);
}
// Milliseconds compare to the microsecond.
inline bool ms_eq(const Cell& c, double expected) {
  return c && std::fabs(num(c) - expected) < 0.0005;
}

// Percentiles come from the rollups' histograms: within 1 % of the exact value.
inline bool ms_near(const Cell& c, double expected) {
  return c && std::fabs(num(c) - expected) <= expected * 0.01 + 1e-9;
}

}  // namespace pglc::test

// Readable failures: rows print as [a, NULL, c].
namespace doctest {
template <>
struct StringMaker<pglc::test::Row> {
  static String convert(const pglc::test::Row& row) {
    std::string out = "[";
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (i) out += ", ";
      out += row[i] ? "'" + *row[i] + "'" : "NULL";
    }
    return (out + "]").c_str();
  }
};
template <>
struct StringMaker<pglc::test::Rows> {
  static String convert(const pglc::test::Rows& rows) {
    std::string out = "{";
    for (const auto& r : rows)
      out += std::string("\n  ") + StringMaker<pglc::test::Row>::convert(r).c_str();
    return (out + "}").c_str();
  }
};
}  // namespace doctest
