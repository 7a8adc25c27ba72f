// Reading a real SQLite store back in the integration tests: every row of a query as
// text ("NULL" for SQL NULL), the file opened read-only.
#pragma once

#include <doctest/doctest.h>
#include <sqlite3.h>

#include <string>
#include <vector>

namespace pglc::test {

using Rows = std::vector<std::vector<std::string>>;

inline Rows sqlite_rows(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  Rows out;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    FAIL("cannot open " << path);
    return out;
  }
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
    std::string why = sqlite3_errmsg(db);
    sqlite3_close(db);
    FAIL("bad query: " << why << ": " << sql);
    return out;
  }
  while (sqlite3_step(st) == SQLITE_ROW) {
    std::vector<std::string> row;
    for (int i = 0; i < sqlite3_column_count(st); ++i) {
      const unsigned char* v = sqlite3_column_text(st, i);
      row.emplace_back(v != nullptr ? reinterpret_cast<const char*>(v) : "NULL");
    }
    out.push_back(std::move(row));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

}  // namespace pglc::test
