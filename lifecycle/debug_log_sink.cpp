#include "lifecycle/debug_log_sink.hpp"

#include <cstdio>

#include "lifecycle/sql_analyzer.hpp"

namespace pglc::lifecycle {
namespace {

void append_ms(std::string& out, std::string_view name, const std::optional<double>& s) {
  out += ' ';
  out += name;
  out += '=';
  if (!s) {
    out += '-';
    return;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", *s * 1000.0);
  out += buf;
}

}  // namespace

std::string DebugLogSink::format(const ExecutionRecord& r) {
  std::string out = "execution kind=";
  out += to_string(r.kind);
  out += " status=";
  out += to_string(r.status);
  out += " sqlstate=";
  out += r.sqlstate;
  out += " rows=";
  out += std::to_string(r.rows);
  out += " fetches=";
  out += std::to_string(r.fetches);
  out += " fingerprint=";
  if (r.sql && r.sql->fingerprint) {
    out += *r.sql->fingerprint;
  } else if (r.sql && r.sql->analysis_deferred) {
    // Debug only: pays for the parse the tracker skipped.
    if (auto a = analyze_sql(r.sql->sql, r.sql->sql.size()); a.fingerprint) out += *a.fingerprint;
  }
  append_ms(out, "bind_ms", r.bind_seconds);
  append_ms(out, "first_row_ms", r.first_row_seconds);
  append_ms(out, "total_ms", r.total_seconds);
  append_ms(out, "deliver_ms", r.deliver_seconds);
  out += " app=";
  out += r.application_name;
  out += " sql=";
  if (r.sql) {
    for (char c : cut_utf8(r.sql->sql, 200)) out += (c == '\n' || c == '\r') ? ' ' : c;
  }
  return out;
}

}  // namespace pglc::lifecycle
