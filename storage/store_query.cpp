#include "storage/store_query.hpp"

#include <libpq-fe.h>
#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "config/storage_spec.hpp"
#include "storage/pg_id.hpp"
#include "storage/schema.hpp"
#include "storage/sqlite_id.hpp"

namespace pglc::storage {
namespace {

class SqliteQuery final : public StoreQuery {
 public:
  explicit SqliteQuery(const std::string& path) : path_(path) {
    // Read-only and never created: a mistyped path is an error, not a new empty file.
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      const std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      db_ = nullptr;
      throw std::runtime_error("cannot open the SQLite store " + path + ": " + why);
    }
    sqlite3_busy_timeout(db_, 5000);  // the proxy may be writing
  }
  ~SqliteQuery() override { sqlite3_close(db_); }

  QueryRows query(const std::string& sql, const std::vector<std::string>& params) override {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
      throw std::runtime_error(describe() + ": " + sqlite3_errmsg(db_));
    }
    for (std::size_t i = 0; i < params.size(); ++i) {
      sqlite3_bind_text(st, static_cast<int>(i + 1), params[i].c_str(),
                        static_cast<int>(params[i].size()), SQLITE_TRANSIENT);
    }
    QueryRows rows;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      QueryRow row;
      for (int c = 0; c < sqlite3_column_count(st); ++c) {
        if (sqlite3_column_type(st, c) == SQLITE_NULL) {
          row.emplace_back();
        } else {
          row.emplace_back(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, c)),
                                       static_cast<std::size_t>(sqlite3_column_bytes(st, c))));
        }
      }
      rows.push_back(std::move(row));
    }
    const std::string why = rc == SQLITE_DONE ? "" : sqlite3_errmsg(db_);
    sqlite3_finalize(st);
    if (!why.empty()) throw std::runtime_error(describe() + ": " + why);
    return rows;
  }
  bool postgres() const override { return false; }
  std::string describe() const override { return "SQLite store " + path_; }

 private:
  std::string path_;
  sqlite3* db_ = nullptr;
};

class PgQuery final : public StoreQuery {
 public:
  explicit PgQuery(const std::string& conninfo) : conn_(PQconnectdb(conninfo.c_str())) {
    if (PQstatus(conn_) != CONNECTION_OK) {
      std::string why = PQerrorMessage(conn_);
      while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
      PQfinish(conn_);
      conn_ = nullptr;
      throw std::runtime_error("cannot connect to the PostgreSQL store: " + why);
    }
    where_ = std::string(PQhost(conn_)) + ":" + PQport(conn_) + "/" + PQdb(conn_);
  }
  ~PgQuery() override { PQfinish(conn_); }

  QueryRows query(const std::string& sql, const std::vector<std::string>& params) override {
    std::string text;  // ?N -> $N
    for (std::size_t i = 0; i < sql.size(); ++i) text.push_back(sql[i] == '?' ? '$' : sql[i]);
    std::vector<const char*> values;
    for (const auto& p : params) values.push_back(p.c_str());
    PGresult* r = PQexecParams(conn_, text.c_str(), static_cast<int>(values.size()), nullptr,
                               values.data(), nullptr, nullptr, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
      std::string why = PQresultErrorMessage(r);
      while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
      PQclear(r);
      throw std::runtime_error(describe() + ": " + why);
    }
    QueryRows rows;
    for (int i = 0; i < PQntuples(r); ++i) {
      QueryRow row;
      for (int c = 0; c < PQnfields(r); ++c) {
        if (PQgetisnull(r, i, c)) {
          row.emplace_back();
        } else {
          row.emplace_back(
              std::string(PQgetvalue(r, i, c), static_cast<std::size_t>(PQgetlength(r, i, c))));
        }
      }
      rows.push_back(std::move(row));
    }
    PQclear(r);
    return rows;
  }
  bool postgres() const override { return true; }
  std::string describe() const override { return "PostgreSQL store " + where_; }

 private:
  PGconn* conn_ = nullptr;
  std::string where_;
};

void check_schema(StoreQuery& q) {
  QueryRows v;
  try {
    v = q.query("SELECT max(version) FROM schema_migrations", {});
  } catch (const std::runtime_error&) {
    throw std::runtime_error(q.describe() + " holds no pglifecycle schema (no schema_migrations)");
  }
  const int version = v.empty() || !v[0][0] ? 0 : std::stoi(*v[0][0]);
  if (version > kSchemaVersion) {
    throw std::runtime_error(q.describe() + " has schema version " + std::to_string(version) +
                             ", newer than this pglifecycle knows (" +
                             std::to_string(kSchemaVersion) + "); upgrade pglifecycle");
  }
  if (version < kSchemaVersion) {
    throw std::runtime_error(q.describe() + " has schema version " + std::to_string(version) +
                             "; run this pglifecycle's proxy on it once to migrate it to " +
                             std::to_string(kSchemaVersion));
  }
}

}  // namespace

std::string StoreQuery::micros(const std::string& column) const {
  return postgres() ? "(extract(epoch FROM " + column + ") * 1000000)::bigint" : column;
}

std::string StoreQuery::id_equals(const std::string& column, const std::string& param) const {
  // PostgreSQL: compared as uuid, so that the primary key's index finds the row (a cast of
  // the column to text reads every row); text that is no uuid matches nothing. The pattern
  // writes {0,1} for an optional dash: a question mark would be read as a parameter (?N).
  return postgres() ? column + " = (CASE WHEN " + param +
                          " ~ '^[0-9a-fA-F]{8}(-{0,1}[0-9a-fA-F]{4}){3}-{0,1}[0-9a-fA-F]{12}$' "
                          "THEN CAST(" +
                          param + " AS uuid) END)"
                    : column + " = CAST(" + param + " AS INTEGER)";
}

std::string StoreQuery::id_bound(const std::string& column, const char* op,
                                 lifecycle::WallMicros t) const {
  // Appended, not `+`-chained: GCC 12 warns falsely (-Wrestrict, bug 105329) on the chain.
  std::string out = column;
  out.append(" ").append(op).append(" ");
  if (postgres()) {
    out.append("'").append(uuid_floor(t)).append("'::uuid");
  } else {
    out.append(std::to_string(sqlite_id_floor(t)));
  }
  return out;
}

std::string StoreQuery::id_since(const std::string& column, lifecycle::WallMicros since) const {
  return id_bound(column, ">=", since);
}

std::string StoreQuery::id_before(const std::string& column, lifecycle::WallMicros until) const {
  return id_bound(column, "<", until);
}

std::string StoreQuery::id_literal(const std::string& id) const {
  auto all = [&](auto ok) { return !id.empty() && std::all_of(id.begin(), id.end(), ok); };
  if (postgres()) {
    const bool uuid = id.size() == 36 && all([](char c) {
                        return c == '-' || std::isxdigit(static_cast<unsigned char>(c));
                      });
    if (uuid) return "'" + id + "'::uuid";
  } else if (id.size() <= 19 && all([](char c) { return c >= '0' && c <= '9'; })) {
    return id;
  }
  throw std::runtime_error("not an id of " + describe() + ": " + id);
}

std::unique_ptr<StoreQuery> open_store_query(const std::string& spec_text) {
  const config::StorageSpec spec = config::parse_storage_spec(spec_text);
  std::unique_ptr<StoreQuery> q;
  switch (spec.kind) {
    case config::StorageSpec::Kind::none:
      throw std::runtime_error("--storage none has nothing to read");
    case config::StorageSpec::Kind::sqlite:
      q = std::make_unique<SqliteQuery>(spec.target);
      break;
    case config::StorageSpec::Kind::postgresql:
      q = std::make_unique<PgQuery>(spec.target);
      break;
  }
  check_schema(*q);
  return q;
}

}  // namespace pglc::storage
