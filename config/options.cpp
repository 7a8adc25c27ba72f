#include "config/options.hpp"

#include "config/storage_spec.hpp"

#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace po = boost::program_options;

namespace pglc::config {

namespace {

struct Invalid : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

[[noreturn]] void invalid(std::string_view option, const std::string& value,
                          std::string_view expected) {
  throw Invalid("invalid value '" + value + "' for --" + std::string(option) + ": expected " +
                std::string(expected));
}

std::uint64_t to_unsigned(std::string_view option, const std::string& value, std::uint64_t max) {
  std::uint64_t v = 0;
  if (value.empty()) invalid(option, value, "a non-negative integer");
  for (char c : value) {
    if (c < '0' || c > '9') invalid(option, value, "a non-negative integer");
    if (v > (max - static_cast<unsigned>(c - '0')) / 10)
      invalid(option, value, "an integer up to " + std::to_string(max));
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  return v;
}

double to_fraction(std::string_view option, const std::string& value) {
  std::size_t used = 0;
  double v = -1;
  try {
    v = std::stod(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != value.size() || !(v >= 0.0 && v <= 1.0))
    invalid(option, value, "a number between 0 and 1");
  return v;
}

std::uint64_t to_size(std::string_view option, const std::string& value) {
  auto v = parse_size(value);
  if (!v) invalid(option, value, "a size such as 1MiB, 64KiB, 1GiB or a number of bytes");
  return *v;
}

std::chrono::microseconds to_duration(std::string_view option, const std::string& value) {
  auto v = parse_duration(value);
  if (!v) invalid(option, value, "a duration such as 30s, 250ms, 5m, 12h or 7d");
  return *v;
}

void check_address(std::string_view option, const std::string& value, bool host_required) {
  auto hp = split_host_port(value);
  if (!hp || (host_required && hp->host.empty()))
    invalid(option, value, host_required ? "HOST:PORT" : "HOST:PORT or :PORT");
}

// Program_options wants "key=value" lines with option names; users also write
// snake_case keys, so both spellings are accepted.
std::string normalize_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Invalid("cannot read config file '" + path + "'");
  std::ostringstream out;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    std::string t = trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    if (t[0] == '[') continue;  // section headers carry no meaning here
    auto eq = t.find('=');
    if (eq == std::string::npos)
      throw Invalid(path + ":" + std::to_string(lineno) + ": expected 'key = value'");
    std::string key = trim(std::string_view(t).substr(0, eq));
    std::string value = trim(std::string_view(t).substr(eq + 1));
    std::replace(key.begin(), key.end(), '_', '-');
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
      value = value.substr(1, value.size() - 2);
    out << key << '=' << value << '\n';
  }
  return out.str();
}

std::string hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == 0) return "localhost";
  return buf;
}

template <class T>
std::string str(const T& v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

}  // namespace

std::optional<std::chrono::microseconds> parse_duration(const std::string& text) {
  std::string s = lower(trim(text));
  if (s == "0") return std::chrono::microseconds{0};
  if (s.empty()) return std::nullopt;
  std::uint64_t total = 0;
  std::size_t pos = 0;
  constexpr std::uint64_t kMax = std::numeric_limits<std::int64_t>::max();
  while (pos < s.size()) {
    std::uint64_t n = 0;
    std::size_t digits = 0;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
      if (n > (kMax - 9) / 10) return std::nullopt;
      n = n * 10 + static_cast<unsigned>(s[pos++] - '0');
      ++digits;
    }
    if (digits == 0) return std::nullopt;
    std::size_t unit_start = pos;
    while (pos < s.size() && std::isalpha(static_cast<unsigned char>(s[pos]))) ++pos;
    std::string unit = s.substr(unit_start, pos - unit_start);
    std::uint64_t mult = 0;
    if (unit == "us")
      mult = 1;
    else if (unit == "ms")
      mult = 1000;
    else if (unit == "s" || unit == "sec")
      mult = 1000000;
    else if (unit == "m" || unit == "min")
      mult = 60ull * 1000000;
    else if (unit == "h")
      mult = 3600ull * 1000000;
    else if (unit == "d")
      mult = 86400ull * 1000000;
    else if (unit == "w")
      mult = 7ull * 86400 * 1000000;
    else
      return std::nullopt;
    if (n != 0 && mult > kMax / n) return std::nullopt;
    if (total > kMax - n * mult) return std::nullopt;
    total += n * mult;
  }
  return std::chrono::microseconds{static_cast<std::int64_t>(total)};
}

std::optional<std::uint64_t> parse_size(const std::string& text) {
  std::string s = lower(trim(text));
  std::size_t pos = 0;
  std::uint64_t n = 0;
  while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
    if (n > (std::numeric_limits<std::uint64_t>::max() - 9) / 10) return std::nullopt;
    n = n * 10 + static_cast<unsigned>(s[pos++] - '0');
  }
  if (pos == 0) return std::nullopt;
  std::string unit = trim(std::string_view(s).substr(pos));
  unsigned shift = 0;
  if (unit.empty() || unit == "b")
    shift = 0;
  else if (unit == "k" || unit == "kb" || unit == "kib")
    shift = 10;
  else if (unit == "m" || unit == "mb" || unit == "mib")
    shift = 20;
  else if (unit == "g" || unit == "gb" || unit == "gib")
    shift = 30;
  else if (unit == "t" || unit == "tb" || unit == "tib")
    shift = 40;
  else
    return std::nullopt;
  if (shift != 0 && n > (std::numeric_limits<std::uint64_t>::max() >> shift)) return std::nullopt;
  return n << shift;
}

std::optional<HostPort> split_host_port(std::string_view text) {
  HostPort out;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return std::nullopt;
    out.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    out.host = std::string(text.substr(0, colon));
    if (out.host.find(':') != std::string::npos) return std::nullopt;  // v6 needs brackets
    port = text.substr(colon + 1);
  }
  if (port.empty() || port.size() > 5) return std::nullopt;
  unsigned p = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return std::nullopt;
    p = p * 10 + static_cast<unsigned>(c - '0');
  }
  if (p > 65535) return std::nullopt;
  out.port = static_cast<std::uint16_t>(p);
  return out;
}

std::string_view to_string(BackendSslMode m) {
  switch (m) {
    case BackendSslMode::disable:
      return "disable";
    case BackendSslMode::prefer:
      return "prefer";
    case BackendSslMode::require:
      return "require";
    case BackendSslMode::verify_full:
      return "verify-full";
  }
  return "?";
}

std::string_view to_string(PhaseTiming p) {
  switch (p) {
    case PhaseTiming::precise:
      return "precise";
    case PhaseTiming::passive:
      return "passive";
    case PhaseTiming::sampled:
      return "sampled";
  }
  return "?";
}

std::string_view to_string(LogLevel l) {
  switch (l) {
    case LogLevel::debug:
      return "debug";
    case LogLevel::info:
      return "info";
    case LogLevel::warning:
      return "warning";
    case LogLevel::error:
      return "error";
  }
  return "?";
}

ParseResult parse(int argc, const char* const argv[]) {
  const Options d;
  ParseResult result;

  po::options_description net("Network");
  net.add_options()("listen", po::value<std::string>()->default_value(d.listen),
                    "address the proxy accepts clients on (HOST:PORT, [V6]:PORT or :PORT for all)")(
      "backend", po::value<std::string>()->default_value(d.backend),
      "PostgreSQL server to forward to (HOST:PORT)")(
      "storage", po::value<std::string>()->default_value(d.storage),
      "where lifecycle records go: sqlite:PATH, postgresql://..., or none")(
      "metrics-listen", po::value<std::string>()->default_value(d.metrics_listen),
      "address of the Prometheus /metrics endpoint; empty turns it off");

  po::options_description tls("TLS");
  tls.add_options()("tls-cert", po::value<std::string>()->default_value(d.tls_cert),
                    "PEM certificate chain for client TLS (leaf first, then intermediates)")(
      "tls-key", po::value<std::string>()->default_value(d.tls_key),
      "PEM private key for --tls-cert")("require-tls",
                                        po::bool_switch()->default_value(d.require_tls),
                                        "refuse clients that do not ask for TLS")(
      "backend-sslmode", po::value<std::string>()->default_value("prefer"),
      "TLS to the backend: disable | prefer | require | verify-full")(
      "backend-sslrootcert", po::value<std::string>()->default_value(d.backend_sslrootcert),
      "CA bundle for --backend-sslmode verify-full (default: system store)")(
      "auth-query-user", po::value<std::string>()->default_value(""),
      "turns SCRAM termination on: the proxy authenticates SCRAM clients itself with the "
      "role's verifier, looked up through --auth-query logged in as this user")(
      "auth-query-password", po::value<std::string>()->default_value(""),
      "password of --auth-query-user (better: the config file or "
      "PGLIFECYCLE_AUTH_QUERY_PASSWORD)")(
      "auth-query", po::value<std::string>()->default_value(d.auth_query),
      "query returning the role's pg_authid.rolpassword for $1 (the role name)")(
      "auth-dbname", po::value<std::string>()->default_value(""),
      "database the --auth-query lookup connects to (default: the client's)");

  po::options_description relay("Relay");
  relay.add_options()("workers", po::value<std::string>()->default_value("0"),
                      "io threads; 0 = hardware threads")(
      "max-message-size", po::value<std::string>()->default_value("1GiB"),
      "largest protocol message accepted (bytes or 64MiB, 1GiB, ...)")(
      "buffer-size", po::value<std::string>()->default_value("1MiB"),
      "read buffer per direction per session")(
      "shutdown-grace", po::value<std::string>()->default_value("30s"),
      "on SIGTERM/SIGINT, how long open sessions may finish before they are closed")(
      "max-client-connections", po::value<std::string>()->default_value("0"),
      "client sessions served at once (others get SQLSTATE 53300); 0 = from the "
      "descriptor limit, at most 10000")(
      "startup-timeout", po::value<std::string>()->default_value("60s"),
      "a client must send its startup packet (and finish TLS) within this")(
      "max-pipeline-bytes", po::value<std::string>()->default_value("512KiB"),
      "tracker memory per session for unanswered requests; past it the proxy stops "
      "reading from that client until the server answers")(
      "phase-timing", po::value<std::string>()->default_value("sampled"),
      "precise: append Flush after Parse/Bind to time server phases; passive: add nothing; "
      "sampled: precise for a text new to the session, its first execution and "
      "--precise-sample-rate of the rest")(
      "precise-sample-rate", po::value<std::string>()->default_value("0.01"),
      "with --phase-timing sampled: the fraction of other Parse/Bind messages timed precisely");

  po::options_description rec("Recording");
  rec.add_options()("record-parameters", po::bool_switch()->default_value(d.record_parameters),
                    "store Bind parameter values (they may hold secrets)")(
      "max-sql-length", po::value<std::string>()->default_value(str(d.max_sql_length)),
      "SQL texts are stored cut at this many bytes")(
      "max-error-length", po::value<std::string>()->default_value(str(d.max_error_length)),
      "error messages are stored cut at this many bytes")(
      "retention", po::value<std::string>()->default_value("0"),
      "delete recorded rows older than this (7d, 12h, ...); 0 keeps everything")(
      "rollup-retention", po::value<std::string>()->default_value("90d"),
      "delete minute rollups older than this; 0 keeps them all (totals are kept)")(
      "sample-rate", po::value<std::string>()->default_value("1.0"),
      "fraction of executions recorded (0..1); metrics see all")(
      "min-duration", po::value<std::string>()->default_value("0ms"),
      "record only executions at least this long")(
      "recorder-queue", po::value<std::string>()->default_value(str(d.recorder_queue)),
      "records queued for the writer before new ones are dropped")(
      "recorder-queue-bytes", po::value<std::string>()->default_value("8MiB"),
      "memory for queued records and the writer's retry backlog; past it new records are "
      "dropped and counted")(
      "instance-name", po::value<std::string>()->default_value("", "<hostname>:<listen port>"),
      "name of this proxy in the sessions table");

  po::options_description misc("Metrics and logging");
  misc.add_options()("log-level", po::value<std::string>()->default_value("info"),
                     "debug | info | warning | error")(
      "log-min-duration", po::value<std::string>()->default_value("-1"),
      "log each execution whose total time is at least this (500ms, 2s) with its phases, "
      "whatever --log-level; -1: off")(
      "log-format", po::value<std::string>()->default_value("text"),
      "text, or json: one object per line with ts, level and msg")(
      "log-file", po::value<std::string>()->default_value(""),
      "append log lines to this file instead of stderr")(
      "metric-labels", po::value<std::string>()->default_value(""),
      "extra metric labels, comma list of database,user,application")(
      "metric-label-limit", po::value<std::string>()->default_value(str(d.metric_label_limit)),
      "distinct values per extra label before they collapse into \"other\"")(
      "config", po::value<std::string>()->default_value(""),
      "INI file with any of these options as 'key = value'; the command line wins")(
      "help,h", "show this help")("version", "show the version");

  po::options_description all(
      "pglifecycle — PostgreSQL wire-protocol proxy that records the "
      "lifecycle of every query\n\nUsage: pglifecycle [options]");
  all.add(net).add(tls).add(relay).add(rec).add(misc);

  try {
    po::variables_map vm;
    po::store(po::command_line_parser(argc, const_cast<char**>(argv)).options(all).run(), vm);
    if (vm.count("help")) {
      std::ostringstream s;
      s << all;
      result.message = s.str();
      return result;
    }
    if (vm.count("version")) {
      result.message = "pglifecycle 0.1.0\n";
      return result;
    }
    std::string config_file = vm["config"].as<std::string>();
    if (!config_file.empty()) {
      std::istringstream file(normalize_config_file(config_file));
      po::options_description file_options;
      file_options.add(net).add(tls).add(relay).add(rec);
      // config/help/version make no sense inside the file; keep only the settings.
      file_options.add_options()("log-level", po::value<std::string>())(
          "log-min-duration", po::value<std::string>())("log-format", po::value<std::string>())(
          "log-file", po::value<std::string>())(
          "metric-labels", po::value<std::string>())("metric-label-limit",
                                                     po::value<std::string>());
      po::store(po::parse_config_file(file, file_options), vm);
    }
    po::notify(vm);

    Options o;
    auto s = [&](const char* name) { return trim(vm[name].as<std::string>()); };
    o.config_file = config_file;
    o.listen = s("listen");
    check_address("listen", o.listen, false);
    o.backend = s("backend");
    check_address("backend", o.backend, true);
    o.storage = s("storage");
    if (o.storage.empty()) o.storage = "none";
    // A libpq keyword string ("host=... dbname=...") is as valid as a URI. The value may
    // hold a password, so the error names the option without echoing it.
    try {
      parse_storage_spec(o.storage);
    } catch (const std::runtime_error&) {
      throw Invalid(
          "invalid value for --storage: expected sqlite:PATH, postgresql://..., a libpq "
          "connection string (host=... dbname=...) or none");
    }
    o.metrics_listen = s("metrics-listen");
    if (!o.metrics_listen.empty()) check_address("metrics-listen", o.metrics_listen, false);

    o.tls_cert = s("tls-cert");
    o.tls_key = s("tls-key");
    if (o.tls_cert.empty() != o.tls_key.empty())
      throw Invalid("--tls-cert and --tls-key must be given together");
    o.require_tls = vm["require-tls"].as<bool>();
    if (o.require_tls && o.tls_cert.empty())
      throw Invalid("--require-tls needs --tls-cert and --tls-key");
    std::string mode = lower(s("backend-sslmode"));
    if (mode == "disable")
      o.backend_sslmode = BackendSslMode::disable;
    else if (mode == "prefer")
      o.backend_sslmode = BackendSslMode::prefer;
    else if (mode == "require")
      o.backend_sslmode = BackendSslMode::require;
    else if (mode == "verify-full" || mode == "verify_full")
      o.backend_sslmode = BackendSslMode::verify_full;
    else
      invalid("backend-sslmode", mode, "disable, prefer, require or verify-full");
    o.backend_sslrootcert = s("backend-sslrootcert");
    o.auth_query_user = s("auth-query-user");
    o.auth_query_password = vm["auth-query-password"].as<std::string>();
    if (o.auth_query_password.empty()) {
      if (const char* env = std::getenv("PGLIFECYCLE_AUTH_QUERY_PASSWORD")) {
        o.auth_query_password = env;
      }
    }
    o.auth_query = s("auth-query");
    o.auth_dbname = s("auth-dbname");
    if (!o.auth_query_user.empty() && o.auth_query.find("$1") == std::string::npos)
      throw Invalid("--auth-query must take the role name as $1");

    o.workers = static_cast<unsigned>(to_unsigned("workers", s("workers"), 1024));
    o.max_message_size = to_size("max-message-size", s("max-message-size"));
    if (o.max_message_size < 4096 || o.max_message_size > (1ull << 30))
      invalid("max-message-size", s("max-message-size"), "a size between 4KiB and 1GiB");
    std::uint64_t buffer = to_size("buffer-size", s("buffer-size"));
    if (buffer < 4096 || buffer > (1ull << 30))
      invalid("buffer-size", s("buffer-size"), "a size between 4KiB and 1GiB");
    o.buffer_size = static_cast<std::size_t>(buffer);
    o.shutdown_grace = std::chrono::duration_cast<std::chrono::milliseconds>(
        to_duration("shutdown-grace", s("shutdown-grace")));
    o.max_client_connections = static_cast<std::size_t>(
        to_unsigned("max-client-connections", s("max-client-connections"), 1000000));
    o.startup_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
        to_duration("startup-timeout", s("startup-timeout")));
    if (o.startup_timeout.count() < 1)
      invalid("startup-timeout", s("startup-timeout"), "at least 1ms");
    {
      const std::uint64_t v = to_size("max-pipeline-bytes", s("max-pipeline-bytes"));
      if (v < 4096 || v > (1ull << 30))
        invalid("max-pipeline-bytes", s("max-pipeline-bytes"), "a size between 4KiB and 1GiB");
      o.max_pipeline_bytes = static_cast<std::size_t>(v);
    }
    std::string timing = lower(s("phase-timing"));
    if (timing == "precise")
      o.phase_timing = PhaseTiming::precise;
    else if (timing == "passive")
      o.phase_timing = PhaseTiming::passive;
    else if (timing == "sampled")
      o.phase_timing = PhaseTiming::sampled;
    else
      invalid("phase-timing", timing, "precise, passive or sampled");
    o.precise_sample_rate = to_fraction("precise-sample-rate", s("precise-sample-rate"));

    o.record_parameters = vm["record-parameters"].as<bool>();
    o.max_sql_length = static_cast<std::size_t>(to_size("max-sql-length", s("max-sql-length")));
    if (o.max_sql_length == 0) invalid("max-sql-length", s("max-sql-length"), "at least 1");
    o.max_error_length =
        static_cast<std::size_t>(to_size("max-error-length", s("max-error-length")));
    if (o.max_error_length < 64)
      invalid("max-error-length", s("max-error-length"), "at least 64 bytes");
    std::string retention = lower(s("retention"));
    if (!(retention.empty() || retention == "0" || retention == "none" || retention == "forever")) {
      auto r = to_duration("retention", retention);
      auto secs = std::chrono::duration_cast<std::chrono::seconds>(r);
      if (secs.count() <= 0) invalid("retention", retention, "at least 1s, or 0 to keep all");
      o.retention = secs;
    }
    {
      std::string keep = lower(s("rollup-retention"));
      if (keep.empty() || keep == "0" || keep == "none" || keep == "forever") {
        o.rollup_retention.reset();
      } else {
        auto secs = std::chrono::duration_cast<std::chrono::seconds>(
            to_duration("rollup-retention", keep));
        if (secs.count() <= 0)
          invalid("rollup-retention", keep, "at least 1s, or 0 to keep all");
        o.rollup_retention = secs;
      }
    }
    o.sample_rate = to_fraction("sample-rate", s("sample-rate"));
    o.min_duration = to_duration("min-duration", s("min-duration"));
    o.recorder_queue =
        static_cast<std::size_t>(to_unsigned("recorder-queue", s("recorder-queue"), 1ull << 32));
    if (o.recorder_queue == 0) invalid("recorder-queue", "0", "at least 1");
    {
      const std::uint64_t v = to_size("recorder-queue-bytes", s("recorder-queue-bytes"));
      if (v < (64u << 10))
        invalid("recorder-queue-bytes", s("recorder-queue-bytes"), "at least 64KiB");
      o.recorder_queue_bytes = static_cast<std::size_t>(v);
    }
    o.instance_name = s("instance-name");
    if (o.instance_name.empty())
      o.instance_name = hostname() + ":" + std::to_string(split_host_port(o.listen)->port);

    std::string level = lower(s("log-level"));
    if (level == "debug")
      o.log_level = LogLevel::debug;
    else if (level == "info")
      o.log_level = LogLevel::info;
    else if (level == "warning" || level == "warn")
      o.log_level = LogLevel::warning;
    else if (level == "error")
      o.log_level = LogLevel::error;
    else
      invalid("log-level", level, "debug, info, warning or error");
    if (const std::string m = s("log-min-duration"); m != "-1") {
      o.log_min_duration = to_duration("log-min-duration", m);
    }
    if (const std::string f = lower(s("log-format")); f == "json") {
      o.log_json = true;
    } else if (f != "text") {
      invalid("log-format", f, "text or json");
    }
    o.log_file = s("log-file");

    std::string labels = s("metric-labels");
    std::stringstream ls(labels);
    std::string label;
    while (std::getline(ls, label, ',')) {
      label = lower(trim(label));
      if (label.empty()) continue;
      if (label != "database" && label != "user" && label != "application")
        invalid("metric-labels", labels, "a comma list of database, user, application");
      if (std::find(o.metric_labels.begin(), o.metric_labels.end(), label) == o.metric_labels.end())
        o.metric_labels.push_back(label);
    }
    o.metric_label_limit = static_cast<std::size_t>(
        to_unsigned("metric-label-limit", s("metric-label-limit"), 1000000));

    result.options = std::move(o);
    return result;
  } catch (const Invalid& e) {
    result.message = std::string("pglifecycle: ") + e.what() + "\n";
  } catch (const po::error& e) {
    result.message = std::string("pglifecycle: ") + e.what() + "\n";
  }
  result.message += "Try 'pglifecycle --help' for the list of options.\n";
  result.exit_code = 2;
  return result;
}

}  // namespace pglc::config
