// A real Prometheus server (Debian package `prometheus`) for the tests: started on a free
// loopback port with a generated config that scrapes one target every second, stopped by
// PID when the object goes away (and killed by the kernel should the test process die).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

namespace pglc::test {

inline constexpr const char* kPrometheusBinary = "/usr/bin/prometheus";
inline constexpr const char* kPromtoolBinary = "/usr/bin/promtool";

class PrometheusServer {
 public:
  explicit PrometheusServer(int target_port);
  ~PrometheusServer();
  PrometheusServer(const PrometheusServer&) = delete;
  PrometheusServer& operator=(const PrometheusServer&) = delete;

  int port() const { return port_; }
  bool alive() const;
  std::string log() const;
  std::string get(const std::string& path) const;
  std::string query(std::string_view promql) const;  // /api/v1/query, the JSON answer
  // Polls /api/v1/targets until the target reports "up"; false at the deadline.
  bool wait_until_up(int timeout_ms) const;

 private:
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

std::string url_encode(std::string_view text);

// The number of the first sample of an instant-vector answer; nullopt when there is none
// or it is NaN.
std::optional<double> first_value(const std::string& body);

}  // namespace pglc::test
