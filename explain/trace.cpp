#include "explain/trace.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "lifecycle/text_format.hpp"

namespace pglc::explain {
namespace {

constexpr int kConnectThread = 1;
constexpr int kExecutionThread = 2;
constexpr std::size_t kNameWidth = 60;
constexpr std::size_t kSqlArgWidth = 1000;

std::int64_t us_of(double ms) {
  return static_cast<std::int64_t>(std::llround(ms * 1000.0));
}

class Events {
 public:
  explicit Events(std::string& out) : out_(out) {}

  void metadata(int pid, int tid, const char* what, const std::string& name) {
    begin();
    out_ += "{\"ph\":\"M\",\"pid\":" + std::to_string(pid) + ",\"tid\":" + std::to_string(tid) +
            ",\"name\":\"" + what + "\",\"args\":{\"name\":";
    lifecycle::append_json_string(out_, name);
    out_ += "}}";
  }
  void complete(int pid, int tid, const std::string& name, std::int64_t ts, std::int64_t dur,
                const std::string& args = "{}") {
    begin();
    out_ += "{\"ph\":\"X\",\"pid\":" + std::to_string(pid) + ",\"tid\":" + std::to_string(tid) +
            ",\"name\":";
    lifecycle::append_json_string(out_, name);
    out_ += ",\"ts\":" + std::to_string(ts) +
            ",\"dur\":" + std::to_string(std::max<std::int64_t>(dur, 0)) + ",\"args\":" + args +
            "}";
  }
  void async(char ph, int pid, const std::string& id, const std::string& name, std::int64_t ts,
             const std::string& args = "{}") {
    begin();
    out_ += std::string("{\"ph\":\"") + ph +
            "\",\"cat\":\"pipeline\",\"pid\":" + std::to_string(pid) +
            ",\"tid\":" + std::to_string(kExecutionThread) + ",\"id\":";
    lifecycle::append_json_string(out_, id);
    out_ += ",\"name\":";
    lifecycle::append_json_string(out_, name);
    out_ += ",\"ts\":" + std::to_string(ts) + ",\"args\":" + args + "}";
  }

 private:
  void begin() {
    if (!first_) out_ += ",\n";
    first_ = false;
  }
  std::string& out_;
  bool first_ = true;
};

std::string execution_args(const SessionExecution& x) {
  std::string a = "{\"id\":";
  lifecycle::append_json_string(a, x.id);
  a += ",\"sql\":";
  lifecycle::append_json_string(a, lifecycle::one_line(x.sql, kSqlArgWidth));
  a += ",\"fingerprint\":";
  lifecycle::append_json_string(a, x.fingerprint);
  a += ",\"status\":";
  lifecycle::append_json_string(a, x.status);
  a += ",\"sqlstate\":";
  lifecycle::append_json_string(a, x.sqlstate);
  a += ",\"kind\":";
  lifecycle::append_json_string(a, x.kind);
  a += ",\"timing\":";
  lifecycle::append_json_string(a, x.timing);
  a += ",\"rows\":" + std::to_string(x.rows) + ",\"bytes\":" + std::to_string(x.result_bytes) + "}";
  return a;
}

// An execution's spans laid end to end from its start (explain's tree, in µs).
struct Piece {
  std::string name;
  std::int64_t ts, dur;
};
std::vector<Piece> pieces(const SessionExecution& x) {
  std::vector<Piece> out;
  std::int64_t at = x.began_us;
  for (const Span& s : spans(as_execution(x))) {
    const std::int64_t dur = us_of(s.ms);
    // "delivered to client" starts at the finish; the others follow each other.
    if (s.name == "delivered to client" && x.finished_us) at = *x.finished_us;
    out.push_back({s.name, at, dur});
    at += dur;
  }
  return out;
}

std::int64_t end_of(const SessionExecution& x, const std::vector<Piece>& ps) {
  std::int64_t end =
      std::max(x.finished_us.value_or(x.began_us), x.delivered_us.value_or(x.began_us));
  for (const Piece& p : ps) end = std::max(end, p.ts + p.dur);
  return end;
}

void connect_events(Events& ev, int pid, const SessionView& s) {
  std::int64_t at = s.connected_us;
  std::vector<Piece> phases;
  const std::pair<const char*, std::optional<double>> steps[] = {
      {"tls", s.tls_ms}, {"startup", s.startup_ms}, {"backend", s.backend_ms}, {"auth", s.auth_ms}};
  for (const auto& [name, ms] : steps) {
    if (!ms) continue;
    phases.push_back({name, at, us_of(*ms)});
    at += us_of(*ms);
  }
  std::int64_t end = s.connect_ms ? s.connected_us + us_of(*s.connect_ms) : at;
  end = std::max(end, at);
  std::string args = "{\"connect_ms\":" + (s.connect_ms ? std::to_string(*s.connect_ms) : "null") +
                     ",\"end_reason\":";
  lifecycle::append_json_string(args, s.end_reason);
  args += "}";
  ev.complete(pid, kConnectThread, s.connect_ms ? "connect" : "connect (never ready)",
              s.connected_us, end - s.connected_us, args);
  for (const Piece& p : phases) ev.complete(pid, kConnectThread, p.name, p.ts, p.dur);
}

}  // namespace

std::string render_trace(const std::vector<SessionView>& sessions) {
  std::string out = "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n";
  Events ev(out);
  int pid = 0;
  for (const SessionView& s : sessions) {
    ++pid;
    const std::string app = s.application.empty() ? "(no application)" : s.application;
    ev.metadata(
        pid, 0, "process_name",
        s.client_addr + ":" + std::to_string(s.client_port) + " " + app + " · session " + s.id);
    ev.metadata(pid, kConnectThread, "thread_name", "connect");
    ev.metadata(pid, kExecutionThread, "thread_name", "executions");
    connect_events(ev, pid, s);
    for (const auto& group : pipelines(s.executions)) {
      for (const SessionExecution* x : group) {
        const std::vector<Piece> ps = pieces(*x);
        const std::int64_t end = end_of(*x, ps);
        const std::string name = lifecycle::one_line(x->sql, kNameWidth);
        if (group.size() == 1) {
          ev.complete(pid, kExecutionThread, name, x->began_us, end - x->began_us,
                      execution_args(*x));
          for (const Piece& p : ps) ev.complete(pid, kExecutionThread, p.name, p.ts, p.dur);
          continue;
        }
        // Overlapping siblings: each its own async track (id), spans nested under it.
        ev.async('b', pid, x->id, name, x->began_us, execution_args(*x));
        for (const Piece& p : ps) {
          ev.async('b', pid, x->id, p.name, p.ts);
          ev.async('e', pid, x->id, p.name, p.ts + p.dur);
        }
        ev.async('e', pid, x->id, name, end);
      }
    }
  }
  out += "\n]}\n";
  return out;
}

}  // namespace pglc::explain
