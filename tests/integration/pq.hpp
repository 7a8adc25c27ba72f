// Small RAII helpers over libpq for the integration tests.
#pragma once

#include <libpq-fe.h>

#include <memory>
#include <string>

namespace pglc::test {

struct PGconnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct PGresultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Conn = std::unique_ptr<PGconn, PGconnDeleter>;
using Result = std::unique_ptr<PGresult, PGresultDeleter>;

inline Conn connect(const std::string& conninfo) {
  Conn c(PQconnectdb(conninfo.c_str()));
  if (PQstatus(c.get()) == CONNECTION_OK) {
    PQsetNoticeProcessor(
        c.get(), [](void*, const char*) {}, nullptr);
  }
  return c;
}

inline bool ok(const Conn& c) {
  return c && PQstatus(c.get()) == CONNECTION_OK;
}
inline std::string error(const Conn& c) {
  return c ? PQerrorMessage(c.get()) : "no connection";
}

// First column of the first row of a query, or "ERROR: ..." so that CHECK_EQ shows why.
inline std::string scalar(PGconn* c, const std::string& sql) {
  Result r(PQexec(c, sql.c_str()));
  if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) {
    return std::string("ERROR: ") + PQresultErrorMessage(r.get());
  }
  if (PQntuples(r.get()) < 1) return "NO ROWS";
  return PQgetvalue(r.get(), 0, 0);
}

inline std::string sqlstate(const PGresult* r) {
  const char* s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  return s != nullptr ? s : "";
}

}  // namespace pglc::test
