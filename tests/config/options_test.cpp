#include "config/options.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

using namespace pglc::config;
using namespace std::chrono_literals;

namespace {

ParseResult parse_args(std::vector<std::string> args) {
  args.insert(args.begin(), "pglifecycle");
  std::vector<const char*> argv;
  for (auto& a : args) argv.push_back(a.c_str());
  return parse(static_cast<int>(argv.size()), argv.data());
}

// A config file in a private temp dir, removed with its dir.
struct TempFile {
  std::string dir, path;
  explicit TempFile(const std::string& text) {
    char tmpl[] = "/tmp/pglc-config-test.XXXXXX";
    dir = mkdtemp(tmpl);
    path = dir + "/pglifecycle.conf";
    std::ofstream(path) << text;
  }
  ~TempFile() {
    std::remove(path.c_str());
    rmdir(dir.c_str());
  }
};

}  // namespace

TEST_CASE("defaults match DESIGN §5") {
  auto r = parse_args({});
  REQUIRE(r.options);
  const Options& o = *r.options;
  CHECK(o.listen == "127.0.0.1:6432");
  CHECK(o.backend == "127.0.0.1:5432");
  CHECK(o.storage == "sqlite:pglifecycle.db");
  CHECK(o.metrics_listen == "127.0.0.1:9464");
  CHECK(o.backend_sslmode == BackendSslMode::prefer);
  CHECK(o.phase_timing == PhaseTiming::sampled);
  CHECK(o.precise_sample_rate == 0.01);
  CHECK_FALSE(o.log_min_duration.has_value());
  CHECK_FALSE(o.log_json);
  CHECK(o.log_file.empty());
  CHECK(parse_args({"--log-min-duration", "500ms"}).options->log_min_duration ==
        std::chrono::milliseconds(500));
  CHECK(parse_args({"--log-format", "JSON"}).options->log_json);
  CHECK(o.buffer_size == 1u << 20);
  CHECK(o.max_message_size == 1ull << 30);
  CHECK(o.shutdown_grace == 30s);
  CHECK_FALSE(o.retention.has_value());
  CHECK(o.sample_rate == 1.0);
  CHECK(o.log_level == LogLevel::info);
  CHECK(o.metric_labels.empty());
  // instance name: <hostname>:<listen port>
  CHECK(o.instance_name.size() > 5);
  CHECK(o.instance_name.substr(o.instance_name.size() - 5) == ":6432");
}

TEST_CASE("every option parses from the command line") {
  auto r = parse_args({"--listen",
                       "0.0.0.0:7000",
                       "--backend",
                       "db.example:5433",
                       "--storage",
                       "postgresql://u@h/db",
                       "--metrics-listen",
                       "",
                       "--tls-cert",
                       "c.pem",
                       "--tls-key",
                       "k.pem",
                       "--require-tls",
                       "--backend-sslmode",
                       "verify-full",
                       "--backend-sslrootcert",
                       "ca.pem",
                       "--workers",
                       "3",
                       "--max-message-size",
                       "64MiB",
                       "--buffer-size",
                       "256KiB",
                       "--shutdown-grace",
                       "1500ms",
                       "--record-parameters",
                       "--max-sql-length",
                       "1000",
                       "--retention",
                       "7d",
                       "--sample-rate",
                       "0.25",
                       "--min-duration",
                       "10ms",
                       "--recorder-queue",
                       "500",
                       "--phase-timing",
                       "passive",
                       "--precise-sample-rate",
                       "0.5",
                       "--instance-name",
                       "p1",
                       "--log-level",
                       "debug",
                       "--metric-labels",
                       "user, database",
                       "--metric-label-limit",
                       "7"});
  INFO(r.message);
  REQUIRE(r.options);
  const Options& o = *r.options;
  CHECK(o.listen == "0.0.0.0:7000");
  CHECK(o.backend == "db.example:5433");
  CHECK(o.storage == "postgresql://u@h/db");
  CHECK(parse_args({"--storage", "host=127.0.0.1 dbname=store user=rec"}).options->storage ==
        "host=127.0.0.1 dbname=store user=rec");
  CHECK(o.metrics_listen.empty());
  CHECK(o.tls_cert == "c.pem");
  CHECK(o.tls_key == "k.pem");
  CHECK(o.require_tls);
  CHECK(o.backend_sslmode == BackendSslMode::verify_full);
  CHECK(o.backend_sslrootcert == "ca.pem");
  CHECK(o.workers == 3);
  CHECK(o.max_message_size == 64ull << 20);
  CHECK(o.buffer_size == 256u << 10);
  CHECK(o.shutdown_grace == 1500ms);
  CHECK(o.record_parameters);
  CHECK(o.max_sql_length == 1000);
  REQUIRE(o.retention);
  CHECK(*o.retention == std::chrono::hours(24 * 7));
  CHECK(o.sample_rate == 0.25);
  CHECK(o.min_duration == 10ms);
  CHECK(o.recorder_queue == 500);
  CHECK(o.phase_timing == PhaseTiming::passive);
  CHECK(o.precise_sample_rate == 0.5);
  CHECK(parse_args({"--phase-timing", "Precise"}).options->phase_timing == PhaseTiming::precise);
  CHECK(parse_args({"--phase-timing", "sampled"}).options->phase_timing == PhaseTiming::sampled);
  CHECK(o.instance_name == "p1");
  CHECK(o.log_level == LogLevel::debug);
  CHECK(o.metric_labels == std::vector<std::string>{"user", "database"});
  CHECK(o.metric_label_limit == 7);
}

TEST_CASE("config file is read and the command line wins") {
  TempFile f(
      "# comment\n"
      "listen = 127.0.0.1:7777\n"
      "backend=10.0.0.1:5432\n"
      "buffer_size = 64KiB\n"  // snake_case accepted too
      "record-parameters = true\n"
      "log-level = warning\n"
      "metric-labels = application\n"
      "shutdown-grace = 2s\n");
  auto r = parse_args({"--config", f.path, "--backend", "10.0.0.2:5432"});
  INFO(r.message);
  REQUIRE(r.options);
  CHECK(r.options->listen == "127.0.0.1:7777");
  CHECK(r.options->backend == "10.0.0.2:5432");
  CHECK(r.options->buffer_size == 64u << 10);
  CHECK(r.options->record_parameters);
  CHECK(r.options->log_level == LogLevel::warning);
  CHECK(r.options->metric_labels == std::vector<std::string>{"application"});
  CHECK(r.options->shutdown_grace == 2s);
  CHECK(r.options->config_file == f.path);
  CHECK(r.options->instance_name.substr(r.options->instance_name.size() - 5) == ":7777");
}

TEST_CASE("the example config file parses and documents every option") {
  std::string path = std::string(PGLC_SOURCE_DIR) + "/config/pglifecycle.conf.example";
  auto r = parse_args({"--config", path});
  INFO(r.message);
  REQUIRE(r.options);
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const char* key : {"listen",
                          "backend",
                          "storage",
                          "metrics-listen",
                          "tls-cert",
                          "tls-key",
                          "require-tls",
                          "backend-sslmode",
                          "backend-sslrootcert",
                          "workers",
                          "max-message-size",
                          "buffer-size",
                          "shutdown-grace",
                          "record-parameters",
                          "max-sql-length",
                          "retention",
                          "sample-rate",
                          "min-duration",
                          "recorder-queue",
                          "phase-timing",
                          "instance-name",
                          "log-level",
                          "metric-labels",
                          "metric-label-limit",
                          "precise-sample-rate", "log-min-duration",  "log-format",
                          "log-file"}) {
    INFO(key);
    CHECK(text.find(std::string("\n# ") + key + " =") != std::string::npos);
  }
}

TEST_CASE("--help lists every option with defaults, exit 0") {
  auto r = parse_args({"--help"});
  CHECK_FALSE(r.options);
  CHECK(r.exit_code == 0);
  for (const char* opt : {"--listen",
                          "--backend",
                          "--storage",
                          "--metrics-listen",
                          "--tls-cert",
                          "--tls-key",
                          "--require-tls",
                          "--backend-sslmode",
                          "--backend-sslrootcert",
                          "--workers",
                          "--max-message-size",
                          "--buffer-size",
                          "--shutdown-grace",
                          "--record-parameters",
                          "--max-sql-length",
                          "--retention",
                          "--sample-rate",
                          "--min-duration",
                          "--recorder-queue",
                          "--phase-timing",
                          "--instance-name",
                          "--log-level",
                          "--metric-labels",
                          "--metric-label-limit",
                          "--config",
                          "--precise-sample-rate"}) {
    INFO(opt);
    CHECK(r.message.find(opt) != std::string::npos);
  }
  CHECK(r.message.find("127.0.0.1:6432") != std::string::npos);
  CHECK(r.message.find("1MiB") != std::string::npos);
}

TEST_CASE("invalid values exit 2 with a message naming the option") {
  struct Case {
    std::vector<std::string> args;
    std::string needle;
  };
  std::vector<Case> cases = {
      {{"--buffer-size", "lots"}, "--buffer-size"},
      {{"--max-message-size", "2GiB"}, "--max-message-size"},
      {{"--shutdown-grace", "30"}, "--shutdown-grace"},
      {{"--backend-sslmode", "sometimes"}, "--backend-sslmode"},
      {{"--phase-timing", "exact"}, "--phase-timing"},
      {{"--sample-rate", "1.5"}, "--sample-rate"},
      {{"--sample-rate", "abc"}, "--sample-rate"},
      {{"--precise-sample-rate", "-0.1"}, "--precise-sample-rate"},
      {{"--log-min-duration", "slow"}, "--log-min-duration"},
      {{"--log-format", "xml"}, "--log-format"},
      {{"--workers", "-1"}, "--workers"},
      {{"--log-level", "loud"}, "--log-level"},
      {{"--metric-labels", "user,host"}, "--metric-labels"},
      {{"--listen", "6432"}, "--listen"},
      {{"--backend", ":5432"}, "--backend"},
      {{"--storage", "mysql://x"}, "--storage"},
      {{"--storage", "mysql://user:secret@h/db"}, "libpq connection string"},
      {{"--tls-cert", "c.pem"}, "--tls-key"},
      {{"--require-tls"}, "--require-tls"},
      {{"--no-such-option"}, "no-such-option"},
      {{"--config", "/nonexistent/pglifecycle.conf"}, "/nonexistent/pglifecycle.conf"},
  };
  for (const auto& c : cases) {
    INFO(c.args[0]);
    auto r = parse_args(c.args);
    CHECK_FALSE(r.options);
    CHECK(r.exit_code == 2);
    CHECK(r.message.find(c.needle) != std::string::npos);
  }
  // A storage URI may carry a password: the error must not repeat it.
  CHECK(parse_args({"--storage", "mysql://user:secret@h/db"}).message.find("secret") ==
        std::string::npos);
}

TEST_CASE("unknown keys in the config file are errors") {
  TempFile f("listen = 127.0.0.1:1\nlisten-port = 5\n");
  auto r = parse_args({"--config", f.path});
  CHECK_FALSE(r.options);
  CHECK(r.exit_code == 2);
  CHECK(r.message.find("listen-port") != std::string::npos);
}

TEST_CASE("parse_duration") {
  CHECK(parse_duration("7d") == std::chrono::microseconds(7LL * 86400 * 1000000));
  CHECK(parse_duration("12h") == std::chrono::microseconds(12LL * 3600 * 1000000));
  CHECK(parse_duration("30m") == std::chrono::microseconds(30LL * 60 * 1000000));
  CHECK(parse_duration("45s") == std::chrono::microseconds(45LL * 1000000));
  CHECK(parse_duration("250ms") == std::chrono::microseconds(250000));
  CHECK(parse_duration("100us") == std::chrono::microseconds(100));
  CHECK(parse_duration("1h30m") == std::chrono::microseconds(90LL * 60 * 1000000));
  CHECK(parse_duration("0") == std::chrono::microseconds(0));
  CHECK_FALSE(parse_duration(""));
  CHECK_FALSE(parse_duration("5"));
  CHECK_FALSE(parse_duration("ms"));
  CHECK_FALSE(parse_duration("5 parsecs"));
  CHECK_FALSE(parse_duration("-5s"));
  CHECK_FALSE(parse_duration("99999999999999999999d"));
}

TEST_CASE("parse_size") {
  CHECK(parse_size("512") == 512u);
  CHECK(parse_size("1MiB") == 1u << 20);
  CHECK(parse_size("1GiB") == 1u << 30);
  CHECK(parse_size("64kB") == 64u << 10);
  CHECK(parse_size("8M") == 8u << 20);
  CHECK_FALSE(parse_size(""));
  CHECK_FALSE(parse_size("MiB"));
  CHECK_FALSE(parse_size("1.5MiB"));
  CHECK_FALSE(parse_size("1XiB"));
  CHECK_FALSE(parse_size("99999999999999999TiB"));
}

TEST_CASE("split_host_port") {
  auto a = split_host_port("127.0.0.1:6432");
  REQUIRE(a);
  CHECK(a->host == "127.0.0.1");
  CHECK(a->port == 6432);
  auto b = split_host_port("[::1]:5432");
  REQUIRE(b);
  CHECK(b->host == "::1");
  CHECK(b->port == 5432);
  auto c = split_host_port(":9464");
  REQUIRE(c);
  CHECK(c->host.empty());
  CHECK_FALSE(split_host_port("localhost"));
  CHECK_FALSE(split_host_port("::1:5432"));
  CHECK_FALSE(split_host_port("h:70000"));
  CHECK_FALSE(split_host_port("h:"));
}
