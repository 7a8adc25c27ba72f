// Every setting of the proxy, with its default. Parsed by options.cpp.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/log_level.hpp"

namespace pglc::config {

enum class PhaseTiming { precise, passive, sampled };
enum class BackendSslMode { disable, prefer, require, verify_full };

struct Options {
  std::string listen = "127.0.0.1:6432";
  std::string backend = "127.0.0.1:5432";
  std::string storage = "sqlite:pglifecycle.db";  // "sqlite:PATH", "postgresql://...", "none"
  std::string metrics_listen = "127.0.0.1:9464";  // "" turns the exposer off

  std::string tls_cert;
  std::string tls_key;
  bool require_tls = false;
  BackendSslMode backend_sslmode = BackendSslMode::prefer;
  std::string backend_sslrootcert;
  // SCRAM termination (off unless auth_query_user is set): the proxy authenticates SCRAM
  // clients itself with the role's verifier, looked up through auth_query as this user,
  // and logs in to the server with the key the client's proof reveals.
  std::string auth_query_user;
  std::string auth_query_password;  // or PGLIFECYCLE_AUTH_QUERY_PASSWORD; never logged
  std::string auth_query = "SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname = $1";
  std::string auth_dbname;  // database the lookup connects to; "" = the client's

  unsigned workers = 0;  // 0 = hardware threads
  std::uint64_t max_message_size = 1ull << 30;
  std::size_t buffer_size = 1u << 20;  // per direction per session
  std::chrono::milliseconds shutdown_grace{30000};
  // Client sessions served at once; past it a client gets 53300. 0 = derived from the
  // descriptor limit (two per session), at most kDefaultMaxClientConnections.
  std::size_t max_client_connections = 0;
  static constexpr std::size_t kDefaultMaxClientConnections = 10000;
  // A client must complete its startup packet (and TLS handshake) within this.
  std::chrono::milliseconds startup_timeout{60000};
  // What the tracker may hold per session for requests the server has not answered yet;
  // past it the proxy stops reading from that client until answers arrive.
  std::size_t max_pipeline_bytes = 512u << 10;

  bool record_parameters = false;
  std::size_t max_sql_length = 65536;
  std::size_t max_error_length = 8192;  // error messages are stored cut at this many bytes
  std::optional<std::chrono::seconds> retention;  // unset = keep forever
  // Minute rollups are kept longer than raw rows; all-time totals are never deleted.
  std::optional<std::chrono::seconds> rollup_retention = std::chrono::hours(24 * 90);
  double sample_rate = 1.0;
  std::chrono::microseconds min_duration{0};
  std::size_t recorder_queue = 100000;
  std::size_t recorder_queue_bytes = 8u << 20;  // queued records plus the retry backlog
  PhaseTiming phase_timing = PhaseTiming::sampled;
  double precise_sample_rate = 0.01;  // with sampled: other Parse/Bind timed precisely
  std::string instance_name;  // default host:port of --listen, filled by parse
  LogLevel log_level = LogLevel::info;
  // --log-min-duration: executions at least this long are logged, whatever the level.
  std::optional<std::chrono::microseconds> log_min_duration;
  bool log_json = false;  // --log-format json
  std::string log_file;   // --log-file; empty: stderr

  std::vector<std::string> metric_labels;  // subset of database,user,application
  std::size_t metric_label_limit = 100;

  std::string config_file;
};

struct ParseResult {
  std::optional<Options> options;  // empty: exit with `exit_code` after printing `message`
  int exit_code = 0;
  std::string message;  // --help text, or the error
};

ParseResult parse(int argc, const char* const argv[]);

// "7d", "12h", "30m", "45s", "250ms", "100us" → duration; nullopt if malformed.
// Components may be chained ("1h30m"); a bare "0" is zero.
std::optional<std::chrono::microseconds> parse_duration(const std::string& text);

// "1MiB", "64KiB", "1GiB", "512" (bytes) → bytes; K/M/G/T with or without "B"/"iB" are
// binary multiples (as in postgresql.conf). nullopt if malformed or overflowing.
std::optional<std::uint64_t> parse_size(const std::string& text);

// "host:port", "[v6addr]:port", ":port" (host "") → {host, port}; nullopt if malformed.
struct HostPort {
  std::string host;
  std::uint16_t port = 0;
};
std::optional<HostPort> split_host_port(std::string_view text);

std::string_view to_string(BackendSslMode);
std::string_view to_string(PhaseTiming);
std::string_view to_string(LogLevel);

}  // namespace pglc::config
