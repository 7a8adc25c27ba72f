#include "tests/metrics/prometheus_server.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "tests/support/pg_server.hpp"

using namespace std::chrono_literals;

namespace pglc::test {

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

PrometheusServer::PrometheusServer(int target_port) {
  char tmpl[] = "/tmp/pglc-prometheus-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  dir_ = tmpl;
  port_ = free_port();
  std::ofstream(dir_ + "/prometheus.yml")
      << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
      << "scrape_configs:\n  - job_name: pglifecycle\n    static_configs:\n"
      << "      - targets: ['127.0.0.1:" << target_port << "']\n";
  std::vector<std::string> args = {kPrometheusBinary, "--config.file=" + dir_ + "/prometheus.yml",
                                   "--storage.tsdb.path=" + dir_ + "/data",
                                   "--web.listen-address=127.0.0.1:" + std::to_string(port_),
                                   "--log.level=warn"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string log = dir_ + "/prometheus.log";
  const pid_t parent = getpid();
  pid_ = fork();
  REQUIRE(pid_ >= 0);
  if (pid_ == 0) {
    // Only async-signal-safe calls until exec: the parent has other threads.
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

PrometheusServer::~PrometheusServer() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
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

bool PrometheusServer::alive() const {
  return pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == 0;
}

std::string PrometheusServer::log() const {
  std::ifstream in(dir_ + "/prometheus.log");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string PrometheusServer::get(const std::string& path) const {
  return http_get(port_, path);
}

std::string PrometheusServer::query(std::string_view promql) const {
  return get("/api/v1/query?query=" + url_encode(promql));
}

bool PrometheusServer::wait_until_up(int timeout_ms) const {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline && alive()) {
    if (get("/api/v1/targets").find("\"health\":\"up\"") != std::string::npos) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

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

}  // namespace pglc::test
