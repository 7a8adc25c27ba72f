#include "tests/support/pg_server.hpp"

#include <fcntl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "tests/support/cleanup.hpp"
#include "tests/support/process.hpp"

namespace pglc::test {
namespace {

constexpr const char* kBinDir = "/usr/lib/postgresql/15/bin";
constexpr int kReadyTimeoutMs = 60000;
constexpr int kStopTimeoutMs = 30000;

std::string quote(std::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

void chown_to_server_user(const std::string& path) {
  const auto& user = detail::server_user();
  if (!user.switch_user) return;
  if (::chown(path.c_str(), user.uid, user.gid) != 0) {
    throw std::runtime_error("chown " + path + " failed");
  }
}

void check_run(const std::vector<std::string>& argv, const std::vector<std::string>& env = {}) {
  std::string out;
  int status = run(argv, &out, env);
  if (status != 0) {
    std::string cmd;
    for (const auto& a : argv) cmd += a + " ";
    throw std::runtime_error("command failed (" + std::to_string(status) + "): " + cmd + "\n" +
                             out);
  }
}

// A certificate for 127.0.0.1 and localhost signed by the CA. EC keys: generating them
// takes milliseconds, RSA takes noticeably longer on a loaded machine.
void generate_leaf(const std::string& root, const std::string& name) {
  const std::string ca_key = root + "/ca.key", ca_crt = root + "/ca.crt";
  const std::string key = root + "/" + name + ".key", csr = root + "/" + name + ".csr";
  const std::string crt = root + "/" + name + ".crt", ext = root + "/leaf.ext";
  check_run({"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"});
  check_run({"openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
             "-CAcreateserial", "-out", crt, "-days", "7", "-extfile", ext});
  // The server refuses a key readable by others; it must belong to the server's user.
  ::chmod(key.c_str(), 0600);
  for (const auto& f : {crt, key}) chown_to_server_user(f);
}

// The CA, the server's certificate and a second one for proxies.
void generate_certificates(const std::string& root) {
  const std::string ca_key = root + "/ca.key", ca_crt = root + "/ca.crt";
  detail::write_file(root + "/leaf.ext",
                     "basicConstraints=CA:FALSE\n"
                     "keyUsage=critical,digitalSignature,keyEncipherment\n"
                     "extendedKeyUsage=serverAuth\n"
                     "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  check_run({"openssl",
             "req",
             "-x509",
             "-newkey",
             "ec",
             "-pkeyopt",
             "ec_paramgen_curve:prime256v1",
             "-nodes",
             "-keyout",
             ca_key,
             "-out",
             ca_crt,
             "-days",
             "7",
             "-subj",
             "/CN=pglifecycle test CA",
             "-addext",
             "basicConstraints=critical,CA:TRUE",
             "-addext",
             "keyUsage=critical,keyCertSign,cRLSign"});
  chown_to_server_user(ca_crt);
  generate_leaf(root, "server");
  generate_leaf(root, "proxy");
}

std::string server_config(const std::string& root, int port) {
  return "\n# pglifecycle test fixture\n"
         "listen_addresses = '127.0.0.1'\n"
         "port = " +
         std::to_string(port) +
         "\n"
         "unix_socket_directories = " +
         quote(root) +
         "\n"
         "ssl = on\n"
         "ssl_cert_file = " +
         quote(root + "/server.crt") +
         "\n"
         "ssl_key_file = " +
         quote(root + "/server.key") +
         "\n"
         "password_encryption = 'scram-sha-256'\n"
         "max_connections = 200\n"
         "shared_buffers = 32MB\n"
         "fsync = off\n"
         "synchronous_commit = off\n"
         "full_page_writes = off\n"
         "max_wal_size = 1GB\n"
         "log_min_messages = warning\n"
         "log_line_prefix = '%m [%p] %q%u@%d '\n";
}

// Each test user gets the method named after it; everybody else (the superuser included)
// uses SCRAM, which the server offers with SCRAM-SHA-256-PLUS over TLS. The unix socket
// trusts everyone: nothing but the fixture's directory can reach it.
constexpr const char* kHba =
    "local all all trust\n"
    "host all scram_user 127.0.0.1/32 scram-sha-256\n"
    "host all md5_user 127.0.0.1/32 md5\n"
    "host all trust_user 127.0.0.1/32 trust\n"
    "host all password_user 127.0.0.1/32 password\n"
    "host all all 127.0.0.1/32 scram-sha-256\n";

PGconn* connect_or_throw(const std::string& conninfo) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(conn);
    PQfinish(conn);
    throw std::runtime_error("fixture: cannot connect: " + msg);
  }
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  return conn;
}

std::mutex g_mutex;  // start/stop against each other (tests may share the server across threads)

}  // namespace

PgServer& PgServer::shared() {
  // Deliberately leaked: cleanup runs from atexit (registered by the constructor), which
  // also covers exit() called from a test, where static destructors may run too late.
  static PgServer* server = new PgServer();
  return *server;
}

PgServer::PgServer() {
  root_ = detail::make_temp_dir("pglc-pg-");
  chown_to_server_user(root_);
  // The watchdog starts before anything that could leak, so that a test process that dies
  // in any way (even SIGKILL) still has its server stopped and its directory removed.
  cleanup::start_watchdog(root_);
  cleanup::install_handlers();
  try {
    initialize();
  } catch (...) {
    shutdown();
    throw;
  }
  std::atexit([] { PgServer::shared().shutdown(); });
}

void PgServer::initialize() {
  generate_certificates(root_);
  const std::string pwfile = root_ + "/pwfile";
  detail::write_file(pwfile, std::string(kSuperPassword) + "\n");
  chown_to_server_user(pwfile);
  {
    detail::SpawnOptions init;
    init.argv = {bin_dir() + "/initdb",
                 "-D",
                 data_dir(),
                 "-U",
                 std::string(kSuperUser),
                 "--pwfile=" + pwfile,
                 "-A",
                 "scram-sha-256",
                 "--auth-local=trust",
                 "-E",
                 "UTF8",
                 "--locale=C",
                 "--no-sync",
                 "--no-instructions"};
    init.as_server_user = true;
    init.cwd = root_;
    const std::string log = root_ + "/initdb.log";
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    init.output_fd = fd;
    pid_t pid = detail::spawn(init);
    ::close(fd);
    int status = detail::wait_for(pid, 120000);
    if (status != 0) {
      if (status == -1) detail::stop_child(pid, SIGKILL, 1000);
      throw std::runtime_error("initdb failed (" + std::to_string(status) + "):\n" +
                               detail::read_file(log));
    }
  }
  ::unlink(pwfile.c_str());
  const std::string hba = data_dir() + "/pg_hba.conf";
  detail::write_file(hba, kHba);
  chown_to_server_user(hba);

  // Another process may take the free port before the server binds it: try a few.
  for (int attempt = 0;; ++attempt) {
    port_ = free_port();
    detail::write_file(data_dir() + "/postgresql.auto.conf", server_config(root_, port_));
    chown_to_server_user(data_dir() + "/postgresql.auto.conf");
    try {
      start();
      break;
    } catch (const std::exception& e) {
      std::string log = detail::read_file(root_ + "/postgres.log");
      if (attempt >= 4 || log.find("could not bind") == std::string::npos) throw;
    }
  }

  exec("CREATE ROLE scram_user LOGIN PASSWORD 'scram_pw'", "postgres");
  exec("SET password_encryption = 'md5'; CREATE ROLE md5_user LOGIN PASSWORD 'md5_pw'", "postgres");
  exec("CREATE DATABASE pglc_test", "postgres");
  exec("CREATE ROLE trust_user LOGIN", "postgres");
  exec("CREATE ROLE password_user LOGIN PASSWORD 'password_pw'", "postgres");
  exec("GRANT ALL ON DATABASE pglc_test TO scram_user, md5_user, trust_user, password_user",
       "postgres");
  exec("GRANT ALL ON SCHEMA public TO scram_user, md5_user, trust_user, password_user");
}

PgServer::~PgServer() {
  shutdown();
}

void PgServer::shutdown() {
  std::lock_guard lock(g_mutex);
  if (root_.empty()) return;
  if (pid_ > 0) {
    cleanup::set_postmaster(0);
    detail::stop_child(pid_, SIGINT, kStopTimeoutMs);
    pid_ = 0;
  }
  if (std::getenv("PGLC_KEEP_TEST_SERVER") == nullptr) detail::remove_tree(root_);
  root_.clear();
}

std::string PgServer::address() const {
  return host() + ":" + std::to_string(port_);
}

std::string PgServer::conninfo(std::string_view db, std::string_view user,
                               std::string_view password, std::string_view extra) const {
  std::string s = "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=" + quote(db) +
                  " user=" + quote(user) + " password=" + quote(password) + " connect_timeout=10";
  if (!extra.empty()) s += " " + std::string(extra);
  return s;
}

std::string PgServer::ca_cert() const {
  return root_ + "/ca.crt";
}
std::string PgServer::server_cert() const {
  return root_ + "/server.crt";
}
std::string PgServer::proxy_cert() const {
  return root_ + "/proxy.crt";
}
std::string PgServer::proxy_key() const {
  return root_ + "/proxy.key";
}
std::string PgServer::server_key() const {
  return root_ + "/server.key";
}
std::string PgServer::data_dir() const {
  return root_ + "/data";
}
std::string PgServer::bin_dir() const {
  return kBinDir;
}
std::string PgServer::log() const {
  return detail::read_file(root_ + "/postgres.log");
}

void PgServer::exec(std::string_view sql, std::string_view db) const {
  PGconn* conn = connect_or_throw(conninfo(db, kSuperUser, kSuperPassword, "sslmode=disable"));
  PGresult* res = PQexec(conn, std::string(sql).c_str());
  ExecStatusType st = PQresultStatus(res);
  std::string err = PQresultErrorMessage(res);
  PQclear(res);
  PQfinish(conn);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    throw std::runtime_error("fixture SQL failed: " + std::string(sql) + ": " + err);
  }
}

void PgServer::create_database(std::string_view name) const {
  PGconn* conn =
      connect_or_throw(conninfo("postgres", kSuperUser, kSuperPassword, "sslmode=disable"));
  std::string sql = "CREATE DATABASE \"" + std::string(name) + "\"";
  PGresult* res = PQexec(conn, sql.c_str());
  ExecStatusType st = PQresultStatus(res);
  const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  std::string sqlstate = state != nullptr ? state : "";
  std::string err = PQresultErrorMessage(res);
  PQclear(res);
  PQfinish(conn);
  if (st != PGRES_COMMAND_OK && sqlstate != "42P04") {  // 42P04: duplicate_database
    throw std::runtime_error("fixture: " + sql + ": " + err);
  }
}

void PgServer::stop() {
  std::lock_guard lock(g_mutex);
  if (pid_ <= 0) return;
  cleanup::set_postmaster(0);
  detail::stop_child(pid_, SIGINT, kStopTimeoutMs);  // SIGINT = fast shutdown
  pid_ = 0;
}

void PgServer::start() {
  std::lock_guard lock(g_mutex);
  if (pid_ > 0) return;
  const std::string log = root_ + "/postgres.log";
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot open " + log);
  chown_to_server_user(log);
  detail::SpawnOptions options;
  options.argv = {bin_dir() + "/postgres", "-D", data_dir()};
  options.as_server_user = true;
  options.output_fd = fd;
  options.cwd = root_;
  pid_t child = detail::spawn(options);
  ::close(fd);
  pid_ = child;
  cleanup::set_postmaster(child);

  // Ready means "accepts a login", polled with libpq; never a fixed sleep.
  const std::string ping =
      conninfo("postgres", kSuperUser, kSuperPassword, "sslmode=disable connect_timeout=2");
  const long long deadline = detail::now_ms() + kReadyTimeoutMs;
  auto pause = std::chrono::milliseconds(5);
  for (;;) {
    int status = 0;
    if (detail::reap(child, &status)) {
      pid_ = 0;
      cleanup::set_postmaster(0);
      throw std::runtime_error("postgres exited (" + std::to_string(status) +
                               ") during start-up:\n" + detail::read_file(log));
    }
    if (PQping(ping.c_str()) == PQPING_OK) break;
    if (detail::now_ms() > deadline) {
      detail::stop_child(child, SIGQUIT, 5000);
      pid_ = 0;
      cleanup::set_postmaster(0);
      throw std::runtime_error("postgres not ready after " + std::to_string(kReadyTimeoutMs) +
                               " ms:\n" + detail::read_file(log));
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
  // postmaster.pid names the process that owns the cluster; we exec'd it directly, so it
  // must be our child — anything else means a stale or foreign server.
  std::string pidfile = detail::read_file(data_dir() + "/postmaster.pid");
  int recorded = std::atoi(pidfile.c_str());
  if (recorded != child) {
    throw std::runtime_error("postmaster.pid names " + std::to_string(recorded) + ", expected " +
                             std::to_string(child));
  }
}

bool PgServer::running() const {
  std::lock_guard lock(g_mutex);
  return pid_ > 0 && ::kill(pid_, 0) == 0;
}

}  // namespace pglc::test
