// A real Prometheus server (Debian package `prometheus`) scrapes the exposer and answers
// the dashboard's questions: the target goes up, histogram_quantile returns a number, and
// every expression of config/grafana-dashboard.json is valid PromQL.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "metrics/metrics.hpp"
#include "tests/metrics/dashboard_exprs.hpp"
#include "tests/support/pg_server.hpp"

using namespace std::chrono_literals;
using pglc::lifecycle::ExecutionRecord;
using pglc::lifecycle::ExecutionStatus;
using pglc::lifecycle::MessageKind;
using pglc::lifecycle::StatementKind;

namespace {

constexpr const char* kPrometheus = "/usr/bin/prometheus";
constexpr const char* kPromtool = "/usr/bin/promtool";

std::string url_encode(std::string_view text) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

// Prometheus as a child process in a temp dir; killed by PID when this goes away, and
// by the kernel (PDEATHSIG) should the test process die first.
class PrometheusServer {
 public:
  PrometheusServer(int target_port) {
    char tmpl[] = "/tmp/pglc-prometheus-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    port_ = pglc::test::free_port();
    std::ofstream(dir_ + "/prometheus.yml")
        << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        << "scrape_configs:\n  - job_name: pglifecycle\n    static_configs:\n"
        << "      - targets: ['127.0.0.1:" << target_port << "']\n";
    std::vector<std::string> args = {kPrometheus, "--config.file=" + dir_ + "/prometheus.yml",
                                     "--storage.tsdb.path=" + dir_ + "/data",
                                     "--web.listen-address=127.0.0.1:" + std::to_string(port_),
                                     "--log.level=warn"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::string log = dir_ + "/prometheus.log";
    const pid_t parent = getpid();
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      execv(argv[0], argv.data());
      _exit(127);
    }
  }

  ~PrometheusServer() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      auto deadline = std::chrono::steady_clock::now() + 10s;
      int status = 0;
      while (waitpid(pid_, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
          kill(pid_, SIGKILL);
          waitpid(pid_, &status, 0);
          break;
        }
        std::this_thread::sleep_for(20ms);
      }
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  int port() const { return port_; }
  bool alive() const { return pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == 0; }
  std::string log() const {
    std::ifstream in(dir_ + "/prometheus.log");
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  std::string get(const std::string& path) const { return pglc::test::http_get(port_, path); }
  std::string query(std::string_view promql) const {
    return get("/api/v1/query?query=" + url_encode(promql));
  }

 private:
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// The number of the first sample of an instant-vector answer, if any:
// {"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1.7e9,"0.24"]}]}}
std::optional<double> first_value(const std::string& body) {
  auto at = body.find("\"value\":[");
  if (at == std::string::npos) return std::nullopt;
  auto open = body.find('"', body.find(',', at));
  if (open == std::string::npos) return std::nullopt;
  auto close = body.find('"', open + 1);
  std::string text = body.substr(open + 1, close - open - 1);
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || std::isnan(v)) return std::nullopt;
  return v;
}

void feed(pglc::metrics::Metrics& m) {
  ExecutionRecord r;
  r.kind = StatementKind::extended;
  r.status = ExecutionStatus::success;
  r.total_seconds = 0.2;
  r.first_row_seconds = 0.15;
  for (int i = 0; i < 10; ++i) {
    m.execution(r);
    m.message_timed(MessageKind::execute, 200ms);
    m.message_timed(MessageKind::parse, 80us);
    m.proxy_latency(pglc::metrics::Direction::to_client, 20us);
  }
}

}  // namespace

TEST_CASE("a real Prometheus scrapes /metrics, computes p95 and accepts the dashboard") {
  if (access(kPrometheus, X_OK) != 0) {
    MESSAGE("skipped: " << kPrometheus << " is not installed (scripts/deps --test installs it)");
    return;
  }
  pglc::storage::RecorderStats recorder;
  pglc::config::Options options;
  options.metrics_listen = "127.0.0.1:" + std::to_string(pglc::test::free_port());
  auto metrics = pglc::metrics::Metrics::create(options, &recorder);
  feed(*metrics);

  if (access(kPromtool, X_OK) == 0) {
    char path[] = "/tmp/pglc-metrics-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    std::ofstream(path) << pglc::test::http_get(metrics->port(), "/metrics");
    std::string out;
    int status = pglc::test::run(
        {"/bin/sh", "-c", std::string(kPromtool) + " check metrics < " + path}, &out);
    unlink(path);
    INFO("promtool check metrics: " << out);
    CHECK(status == 0);
  }

  PrometheusServer prometheus(metrics->port());
  INFO("prometheus log:\n" << prometheus.log());

  auto deadline = std::chrono::steady_clock::now() + 30s;
  bool up = false;
  while (!up && std::chrono::steady_clock::now() < deadline && prometheus.alive()) {
    up = prometheus.get("/api/v1/targets").find("\"health\":\"up\"") != std::string::npos;
    if (!up) std::this_thread::sleep_for(100ms);
  }
  REQUIRE_MESSAGE(up, "the scrape target never went up; log:\n" << prometheus.log());

  // rate() needs two scrapes that saw different counts, so keep observing while polling.
  const std::string p95 =
      "histogram_quantile(0.95, sum by (le) "
      "(rate(pglifecycle_execution_duration_seconds_bucket[1m])))";
  std::optional<double> value;
  deadline = std::chrono::steady_clock::now() + 30s;
  while (!value && std::chrono::steady_clock::now() < deadline) {
    feed(*metrics);
    value = first_value(prometheus.query(p95));
    if (!value) std::this_thread::sleep_for(200ms);
  }
  REQUIRE_MESSAGE(value.has_value(),
                  "no number from " << p95 << "; last answer: " << prometheus.query(p95));
  // Every observation was 0.2 s: the quantile interpolates inside (0.1, 0.25].
  CHECK(*value > 0.1);
  CHECK(*value <= 0.25);

  auto per_message = first_value(prometheus.query(
      "histogram_quantile(0.95, sum by (le) "
      "(rate(pglifecycle_message_duration_seconds_bucket{message=\"parse\"}[1m])))"));
  REQUIRE(per_message.has_value());
  CHECK(*per_message > 50e-6);
  CHECK(*per_message <= 100e-6);

  // The dashboard's expressions, with Grafana's variables filled in, are valid PromQL.
  for (auto expr :
       pglc::test::dashboard_expressions(PGLC_SOURCE_DIR "/config/grafana-dashboard.json")) {
    for (auto [var, replacement] :
         {std::pair<std::string, std::string>{"$__rate_interval", "1m"}, {"$instance", ".*"}}) {
      for (auto at = expr.find(var); at != std::string::npos; at = expr.find(var))
        expr.replace(at, var.size(), replacement);
    }
    auto answer = prometheus.query(expr);
    INFO(expr << " → " << answer);
    CHECK(answer.find("\"status\":\"success\"") != std::string::npos);
  }
}
