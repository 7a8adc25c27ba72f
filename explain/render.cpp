#include "explain/render.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <vector>

#include "lifecycle/text_format.hpp"

namespace pglc::explain {
namespace {

using lifecycle::one_line;

constexpr const char* kTee = "├─ ";
constexpr const char* kElbow = "└─ ";
constexpr const char* kPipe = "│  ";
constexpr const char* kBlank = "   ";
constexpr std::size_t kSqlWidth = 100;
constexpr std::int64_t kVerdictCalls = 20;

std::string ms(std::optional<double> v) {
  if (!v) return "—";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f ms", *v);
  return buf;
}

std::string timestamp(std::int64_t us) {
  std::int64_t secs = us / 1000000, frac = us % 1000000;
  if (frac < 0) frac += 1000000, secs -= 1;
  const std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%06lld+00", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(frac));
  return buf;
}

std::string plural(std::int64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

struct Paint {
  bool on;
  std::string red(const std::string& s) const { return on ? "\x1b[31m" + s + "\x1b[0m" : s; }
  std::string dim(const std::string& s) const { return on ? "\x1b[2m" + s + "\x1b[0m" : s; }
  std::string bold(const std::string& s) const { return on ? "\x1b[1m" + s + "\x1b[0m" : s; }
};

std::string outcome(const std::string& status, const std::string& sqlstate,
                    const std::string& message, const Paint& p) {
  if (status == "error" || status == "canceled") {
    std::string s = status + " " + sqlstate;
    if (!message.empty()) s += ": " + one_line(message, 80);
    return p.red("✗ " + s);
  }
  if (status == "aborted") return p.red("⊘ aborted");
  return status;
}

// A label padded to a column, then a value.
std::string row(const std::string& label, const std::string& value, std::size_t width = 10) {
  std::string s = label;
  // Pad by characters, not bytes (labels are ASCII).
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s + " " + value;
}

class Json {
 public:
  Json& key(const char* k) {
    comma();
    quoted(k);
    out_.push_back(':');
    fresh_ = true;
    return *this;
  }
  Json& str(const std::string& v) {
    comma();
    quoted(v);
    return *this;
  }
  Json& num(std::optional<double> v) {
    comma();
    if (!v) {
      out_ += "null";
    } else {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.3f", *v);
      out_ += buf;
    }
    return *this;
  }
  Json& integer(std::optional<std::int64_t> v) {
    comma();
    out_ += v ? std::to_string(*v) : "null";
    return *this;
  }
  Json& boolean(bool v) {
    comma();
    out_ += v ? "true" : "false";
    return *this;
  }
  Json& open(char c) {
    comma();
    out_.push_back(c);
    fresh_ = true;
    return *this;
  }
  Json& close(char c) {
    out_.push_back(c);
    fresh_ = false;
    return *this;
  }
  std::string done() { return out_ + "\n"; }

 private:
  void quoted(const std::string& v) {
    out_.push_back('"');
    for (unsigned char c : v) {
      switch (c) {
        case '"':
          out_ += "\\\"";
          break;
        case '\\':
          out_ += "\\\\";
          break;
        case '\n':
          out_ += "\\n";
          break;
        case '\r':
          out_ += "\\r";
          break;
        case '\t':
          out_ += "\\t";
          break;
        default:
          if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out_ += buf;
          } else {
            out_.push_back(static_cast<char>(c));
          }
      }
    }
    out_.push_back('"');
  }
  void comma() {
    if (!fresh_ && !out_.empty()) out_.push_back(',');
    fresh_ = false;
  }
  std::string out_;
  bool fresh_ = true;
};

}  // namespace

std::vector<Span> spans(const ExecutionView& e) {
  std::vector<Span> out;
  auto span = [&](const char* name, std::int64_t from, std::optional<std::int64_t> to,
                  std::string note = {}) -> std::optional<std::int64_t> {
    if (!to || *to < from) return std::nullopt;
    out.push_back({name, static_cast<double>(*to - from) / 1000.0, std::move(note)});
    return to;
  };
  std::int64_t at = e.began_us;
  // A Parse sent with this execution's Bind (the statement's first execution): the Bind
  // waited for it. A statement parsed earlier is not this execution's time.
  if (e.parsed_us && *e.parsed_us > at) at = *span("parse", at, e.parsed_us);
  // A passive bound_at marks a packet's arrival, not the server's bind.
  if (e.timing == "precise" && e.bound_us) {
    if (auto t = span("bind", at, e.bound_us)) at = *t;
  }
  const std::string rows =
      plural(e.rows, "row", "rows") + " · " + plural(e.result_bytes, "byte", "bytes");
  if (auto t = span("first row", at, e.executed_us, e.finished_us ? "" : rows)) {
    at = *t;
    if (auto f = span("rest of rows", at, e.finished_us, rows)) at = *f;
  }
  if (e.finished_us) span("delivered to client", *e.finished_us, e.delivered_us);
  return out;
}

std::string render_text(const ExecutionView& e, bool colour) {
  const Paint p{colour};
  std::string out;
  out += p.bold("execution " + e.id) + " · session " + e.session_id + " · statement " +
         e.statement_id + "\n";
  std::string who = (e.application.empty() ? std::string("(no application)") : e.application) +
                    " · " + e.user + "@" + e.database + " · " + e.kind;
  if (!e.statement_name.empty()) who += " \"" + e.statement_name + "\"";
  if (!e.statement_type.empty()) who += " · " + e.statement_type;
  if (e.origin == "driver") who += " · " + p.dim("driver statement");
  out += who + " · timing " + e.timing + "\n";
  out += one_line(e.sql, kSqlWidth) + "\n";
  out +=
      "began " + timestamp(e.began_us) + " · " + outcome(e.status, e.sqlstate, e.error_message, p);
  if (!e.command_tag.empty()) out += " · " + e.command_tag;
  out += " · " + plural(e.rows, "row", "rows") + " · " + plural(e.result_bytes, "byte", "bytes") +
         " · " + plural(e.fetches, "fetch", "fetches") + "\n";
  std::string total = "total " + ms(e.total_ms);
  if (e.status == "aborted") total += " (never finished)";
  if (e.p50_ms && e.p95_ms) {
    char ratio[32] = "";
    if (e.total_ms && *e.p50_ms > 0)
      std::snprintf(ratio, sizeof ratio, ": %.1f×", *e.total_ms / *e.p50_ms);
    total += "  (p50 of its fingerprint " + ms(e.p50_ms) + ratio + ", p95 " + ms(e.p95_ms);
    if (e.calls) total += ", " + plural(*e.calls, "call", "calls");
    total += ")";
    // A verdict only with calls enough for a percentile, and past the histogram's 1 %.
    if (e.calls && *e.calls >= kVerdictCalls && e.total_ms && *e.total_ms > *e.p95_ms * 1.01) {
      total += " " + p.red("slower than its p95");
    }
  }
  out += total + "\n";
  const std::vector<Span> tree = spans(e);
  for (std::size_t i = 0; i < tree.size(); ++i) {
    std::string line = row(tree[i].name, ms(tree[i].ms), 19);
    if (!tree[i].note.empty()) line += "   " + tree[i].note;
    if (i + 1 == tree.size() && e.status != "aborted") {
      line += "   status " + outcome(e.status, e.sqlstate, "", p);
    }
    out += std::string(i + 1 == tree.size() ? kElbow : kTee) + line + "\n";
  }
  if (e.status == "aborted") {
    out += std::string(kElbow) + p.red("⊘ aborted") +
           ": the server skipped it after an earlier error of its pipeline, or the "
           "connection was lost\n";
  }
  if (e.kind == "extended" && e.timing != "precise") {
    out += p.dim("(bind not measured: timed passively, its time is in first row)") + "\n";
  }
  return out;
}

std::string render_json(const ExecutionView& e) {
  Json j;
  j.open('{').key("execution").open('{');
  j.key("id").str(e.id).key("session_id").str(e.session_id).key("statement_id").str(e.statement_id);
  j.key("user").str(e.user).key("database").str(e.database).key("application").str(e.application);
  j.key("kind").str(e.kind).key("statement_name").str(e.statement_name).key("sql").str(e.sql);
  j.key("fingerprint").str(e.fingerprint).key("began_at").str(timestamp(e.began_us));
  j.key("status").str(e.status).key("sqlstate").str(e.sqlstate);
  j.key("error_message").str(e.error_message).key("command_tag").str(e.command_tag);
  j.key("timing").str(e.timing).key("statement_type").str(e.statement_type);
  j.key("origin").str(e.origin);
  j.key("rows").integer(e.rows).key("result_bytes").integer(e.result_bytes);
  j.key("fetches").integer(e.fetches);
  j.key("phases").open('{');
  j.key("parse_ms").num(e.parse_ms).key("bind_ms").num(e.bind_ms);
  j.key("first_row_ms").num(e.first_row_ms).key("execute_ms").num(e.execute_ms);
  j.key("total_ms").num(e.total_ms).key("deliver_ms").num(e.deliver_ms);
  j.close('}');
  j.key("spans").open('[');
  for (const Span& sp : spans(e))
    j.open('{').key("name").str(sp.name).key("ms").num(sp.ms).close('}');
  j.close(']');
  j.key("fingerprint_stats").open('{');
  j.key("p50_ms").num(e.p50_ms).key("p95_ms").num(e.p95_ms).key("calls").integer(e.calls);
  j.close('}');
  j.close('}').close('}');
  return j.done();
}

namespace {}  // namespace

std::vector<std::vector<const SessionExecution*>> pipelines(
    const std::vector<SessionExecution>& xs) {
  std::vector<std::vector<const SessionExecution*>> groups;
  std::int64_t group_end = 0;
  for (const SessionExecution& x : xs) {
    const std::int64_t end =
        std::max(x.finished_us.value_or(x.began_us), x.delivered_us.value_or(x.began_us));
    if (!groups.empty() && x.began_us < group_end) {
      groups.back().push_back(&x);
      group_end = std::max(group_end, end);
    } else {
      groups.push_back({&x});
      group_end = end;
    }
  }
  return groups;
}

ExecutionView as_execution(const SessionExecution& x) {
  ExecutionView e;
  e.id = x.id, e.kind = x.kind, e.statement_name = x.statement_name, e.sql = x.sql;
  e.fingerprint = x.fingerprint, e.began_us = x.began_us, e.status = x.status;
  e.sqlstate = x.sqlstate, e.error_message = x.error_message, e.timing = x.timing;
  e.rows = x.rows, e.result_bytes = x.result_bytes, e.total_ms = x.total_ms;
  e.parsed_us = x.parsed_us, e.bound_us = x.bound_us, e.executed_us = x.executed_us;
  e.finished_us = x.finished_us, e.delivered_us = x.delivered_us;
  return e;
}

namespace {

std::string execution_line(const SessionExecution& x, std::int64_t session_start, const Paint& p) {
  char offset[32];
  std::snprintf(offset, sizeof offset, "+%.3f ms",
                static_cast<double>(x.began_us - session_start) / 1000.0);
  std::string s = std::string(offset) + "  " + ms(x.total_ms) + "  " +
                  outcome(x.status, x.sqlstate, x.error_message, p) + "  " + x.kind;
  if (!x.statement_name.empty()) s += " \"" + x.statement_name + "\"";
  if (x.origin == "driver") s += " " + p.dim("[driver]");
  return s + "  " + one_line(x.sql, 60) + "  " + p.dim("#" + x.id);
}

}  // namespace

std::string render_text(const SessionView& s, bool colour) {
  const Paint p{colour};
  std::string out;
  out += p.bold("session " + s.id) + " · " +
         (s.application.empty() ? std::string("(no application)") : s.application) + " · " +
         s.user + "@" + s.database + " · client " + s.client_addr + ":" +
         std::to_string(s.client_port) + (s.client_tls ? " (TLS)" : "");
  if (s.backend_pid) out += " · backend pid " + std::to_string(*s.backend_pid);
  out += s.backend_tls ? " (TLS)" : "";
  out += "\nconnected " + timestamp(s.connected_us);
  if (s.disconnected_us) out += " · lasted " + ms(s.duration_ms);
  out +=
      " · " + (s.end_reason.empty() ? std::string("still open") : "ended " + s.end_reason) + "\n";
  out += "connect " + ms(s.connect_ms) + (s.connect_ms ? "" : p.red("  (never ready)")) + "\n";
  const std::pair<const char*, std::optional<double>> phases[] = {
      {"tls", s.tls_ms}, {"startup", s.startup_ms}, {"backend", s.backend_ms}, {"auth", s.auth_ms}};
  std::vector<std::string> lines;
  for (const auto& [name, v] : phases) {
    if (v || std::string(name) != "tls") lines.push_back(row(name, ms(v)));
  }
  for (std::size_t i = 0; i < lines.size(); ++i) {
    out += std::string(i + 1 == lines.size() ? kElbow : kTee) + lines[i] + "\n";
  }
  std::int64_t errors = 0, aborted = 0, by_driver = 0;
  double driver_ms = 0;
  for (const auto& x : s.executions) {
    errors += x.status == "error" || x.status == "canceled";
    aborted += x.status == "aborted";
    if (x.origin == "driver") {
      ++by_driver;
      driver_ms += x.total_ms.value_or(0);
    }
  }
  out += plural(s.execution_count, "execution", "executions");
  if (errors || aborted) {
    out += " (" + plural(errors, "error", "errors") + ", " + std::to_string(aborted) + " aborted)";
  }
  // What the driver spent on its own (type loading, pool resets): overhead to tell apart.
  if (by_driver) out += "; " + std::to_string(by_driver) + " by the driver, " + ms(driver_ms);
  if (static_cast<std::int64_t>(s.executions.size()) < s.execution_count) {
    out += ", the first " + std::to_string(s.executions.size()) + " shown";
  }
  out += "\n";
  const auto groups = pipelines(s.executions);
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const bool last = g + 1 == groups.size();
    if (groups[g].size() == 1) {
      out += std::string(last ? kElbow : kTee) + execution_line(*groups[g][0], s.connected_us, p) +
             "\n";
      continue;
    }
    out += std::string(last ? kElbow : kTee) + "pipeline of " + std::to_string(groups[g].size()) +
           "\n";
    for (std::size_t i = 0; i < groups[g].size(); ++i) {
      out += std::string(last ? kBlank : kPipe) + (i + 1 == groups[g].size() ? kElbow : kTee) +
             execution_line(*groups[g][i], s.connected_us, p) + "\n";
    }
  }
  return out;
}

std::string render_json(const SessionView& s) {
  Json j;
  j.open('{').key("session").open('{');
  j.key("id").str(s.id).key("proxy_instance").str(s.proxy_instance);
  j.key("user").str(s.user).key("database").str(s.database).key("application").str(s.application);
  j.key("client_addr").str(s.client_addr).key("client_port").integer(s.client_port);
  j.key("client_tls").boolean(s.client_tls).key("backend_tls").boolean(s.backend_tls);
  j.key("backend_pid").integer(s.backend_pid);
  j.key("connected_at").str(timestamp(s.connected_us));
  j.key("end_reason").str(s.end_reason).key("duration_ms").num(s.duration_ms);
  j.key("connect").open('{');
  j.key("tls_ms").num(s.tls_ms).key("startup_ms").num(s.startup_ms);
  j.key("backend_ms").num(s.backend_ms).key("auth_ms").num(s.auth_ms);
  j.key("connect_ms").num(s.connect_ms);
  j.close('}');
  j.key("execution_count").integer(s.execution_count);
  std::int64_t by_driver = 0;
  double driver_ms = 0;
  for (const auto& x : s.executions) {
    if (x.origin != "driver") continue;
    ++by_driver;
    driver_ms += x.total_ms.value_or(0);
  }
  j.key("driver_executions").integer(by_driver).key("driver_ms").num(driver_ms);
  j.key("pipelines").open('[');
  for (const auto& group : pipelines(s.executions)) {
    j.open('[');
    for (const SessionExecution* x : group) {
      j.open('{');
      j.key("id").str(x->id).key("began_at").str(timestamp(x->began_us));
      j.key("total_ms").num(x->total_ms).key("status").str(x->status);
      j.key("sqlstate").str(x->sqlstate).key("kind").str(x->kind);
      j.key("statement_name").str(x->statement_name).key("sql").str(x->sql);
      j.key("timing").str(x->timing).key("origin").str(x->origin);
      j.close('}');
    }
    j.close(']');
  }
  j.close(']');
  j.close('}').close('}');
  return j.done();
}

std::string render_text(const SlowestView& v, bool colour) {
  const Paint p{colour};
  std::string out = p.bold("the " + std::to_string(v.limit) + " slowest executions since " +
                           timestamp(v.since_us)) +
                    "\n";
  if (v.rows.empty()) return out + "(none)\n";
  for (std::size_t i = 0; i < v.rows.size(); ++i) {
    const SlowRow& r = v.rows[i];
    out += std::string(i + 1 == v.rows.size() ? kElbow : kTee) + ms(r.total_ms) + "  " +
           timestamp(r.began_us) + "  " + outcome(r.status, r.sqlstate, "", p) + "  " +
           (r.application.empty() ? "-" : r.application) + "  " + one_line(r.sql, 60) + "  " +
           p.dim("#" + r.id) + "\n";
  }
  return out + p.dim("pglifecycle explain --execution ID draws one of them") + "\n";
}

std::string render_json(const SlowestView& v) {
  Json j;
  j.open('{').key("since").str(timestamp(v.since_us)).key("executions").open('[');
  for (const SlowRow& r : v.rows) {
    j.open('{');
    j.key("id").str(r.id).key("began_at").str(timestamp(r.began_us));
    j.key("total_ms").num(r.total_ms).key("status").str(r.status).key("sqlstate").str(r.sqlstate);
    j.key("application").str(r.application).key("sql").str(r.sql);
    j.close('}');
  }
  j.close(']').close('}');
  return j.done();
}

}  // namespace pglc::explain
