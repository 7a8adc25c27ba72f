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

// Client-controlled text on one log line: control characters cannot break or forge lines.
void append_escaped(std::string& out, std::string_view v) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n' || c == '\r' || c == '\t') {
      out += ' ';
    } else if (u < 0x20 || u == 0x7f || c == '\\') {
      out += "\\x";
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xf]);
    } else {
      out.push_back(c);
    }
  }
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
  append_escaped(out, r.application_name);
  out += " sql=";
  if (r.sql) append_escaped(out, cut_utf8(r.sql->sql, 200));
  return out;
}

}  // namespace pglc::lifecycle
