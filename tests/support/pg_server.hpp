// Test fixture: a real PostgreSQL 15 started for the test process (initdb in a temp dir,
// a free loopback port, ssl=on with a generated CA + server certificate, users with
// scram-sha-256 and md5 passwords), stopped by PID at exit — also when a test fails or
// the process is killed by a signal.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace pglc::test {

// Users created by the fixture (passwords as below); "postgres" is the superuser.
inline constexpr std::string_view kSuperUser = "postgres";
inline constexpr std::string_view kSuperPassword = "postgres";
inline constexpr std::string_view kScramUser = "scram_user";
inline constexpr std::string_view kScramPassword = "scram_pw";
inline constexpr std::string_view kMd5User = "md5_user";
inline constexpr std::string_view kMd5Password = "md5_pw";
inline constexpr std::string_view kTestDatabase = "pglc_test";  // owned by postgres
// Added for raw-protocol tests and the auth-method matrix: trust_user logs in over TCP
// without a password; password_user with the cleartext `password` method.
inline constexpr std::string_view kTrustUser = "trust_user";
inline constexpr std::string_view kPasswordUser = "password_user";
inline constexpr std::string_view kPasswordPassword = "password_pw";

class PgServer {
 public:
  // The server shared by every test of this process; started on first use.
  static PgServer& shared();

  std::string host() const { return "127.0.0.1"; }
  int port() const { return port_; }
  std::string address() const;  // "127.0.0.1:PORT", what --backend takes

  // A libpq connection string straight to the server (not through the proxy).
  std::string conninfo(std::string_view db = kTestDatabase, std::string_view user = kSuperUser,
                       std::string_view password = kSuperPassword,
                       std::string_view extra = "") const;

  // TLS material generated for the run: a CA and a server certificate for 127.0.0.1 /
  // localhost signed by it. The proxy may use the same pair for its client side.
  std::string ca_cert() const;
  std::string server_cert() const;
  std::string server_key() const;
  // A second certificate for 127.0.0.1 / localhost from the same CA: a proxy that presents
  // it terminates TLS with a certificate different from the backend's (what matters for
  // SCRAM channel binding).
  std::string proxy_cert() const;
  std::string proxy_key() const;
  std::string data_dir() const;
  std::string bin_dir() const;  // /usr/lib/postgresql/15/bin

  // Runs SQL as the superuser on `db` (straight to the server); throws on error.
  void exec(std::string_view sql, std::string_view db = kTestDatabase) const;
  void create_database(std::string_view name) const;  // no-op if it exists

  // For fault tests: stop (fast) and start again on the same port and data dir.
  void stop();
  void start();
  bool running() const;

  std::string log() const;  // the server's log so far (for failure messages)
  // Stops the server and removes its directory (set PGLC_KEEP_TEST_SERVER=1 to keep it).
  // Runs by itself at exit; afterwards the object is unusable.
  void shutdown();

  ~PgServer();

 private:
  PgServer();
  void initialize();
  int port_ = 0;
  int pid_ = 0;
  std::string root_;  // temp dir holding data/, certs, logs
};

// A free TCP port on 127.0.0.1 (bound and released).
int free_port();

// Children (proxies, run()) get PR_SET_PDEATHSIG(SIGKILL), which fires when the *thread*
// that started them exits: start them from a thread that outlives them (the test's own).
//
// build/pglifecycle started as a child process with the given extra arguments
// (--listen and --metrics-listen on free ports, --backend at the shared server, and
// --storage none are supplied unless `args` sets them). The constructor returns once
// the proxy accepts connections; stderr/stdout go to a log file.
class ProxyProcess {
 public:
  // `env`: "KEY=VALUE" entries added to the proxy's environment (e.g. ASAN_OPTIONS).
  explicit ProxyProcess(std::vector<std::string> args = {}, std::vector<std::string> env = {});
  ~ProxyProcess();  // SIGKILL if still running
  ProxyProcess(const ProxyProcess&) = delete;
  ProxyProcess& operator=(const ProxyProcess&) = delete;

  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }  // 0 when metrics were turned off
  int pid() const { return pid_; }
  // A libpq connection string to the proxy.
  std::string conninfo(std::string_view db = kTestDatabase, std::string_view user = kSuperUser,
                       std::string_view password = kSuperPassword,
                       std::string_view extra = "") const;
  std::string log() const;  // everything the proxy printed so far

  // SIGTERM, wait for exit (up to `timeout_ms`), return the exit status (-1 on timeout,
  // after which the process is killed).
  // The status is the exit code, or 128 + signal when killed by one. Calling it again
  // returns the same status.
  int terminate(int timeout_ms = 60000);
  int send_signal(int sig) const;
  // False once the process has exited (reaps it; its status is then what terminate()
  // returns).
  bool running();

 private:
  int pid_ = 0;
  int port_ = 0;
  int metrics_port_ = 0;
  int exit_status_ = -1;
  std::string dir_;  // temp dir: log file, working directory
  std::string log_path_;
};

// The pglifecycle binary under test (PGLC_PROXY_BINARY overrides the build's).
std::string proxy_binary();

// Runs a command (argv, PATH lookup, no shell), returns its exit status (128 + signal if
// killed); stdout and stderr captured together into `out`. `env` holds "KEY=VALUE" entries
// added to the environment. Killed after 120 s (status -1) so a hang fails the test.
int run(const std::vector<std::string>& argv, std::string* out = nullptr,
        const std::vector<std::string>& env = {});
int run(const std::vector<std::string>& argv, std::string* out, const std::vector<std::string>& env,
        int timeout_ms);

// True when a TCP connection to 127.0.0.1:port succeeds right now.
bool can_connect(int port);

// A new directory /tmp/<prefix>-XXXXXX (mkdtemp); "" if it cannot be made.
std::string make_temp_dir(const std::string& prefix);

// A new database on PgServer::shared() named <prefix>_<pid>_<n>, as the postgresql:// URI
// that --storage documents.
std::string fresh_store_uri(const std::string& prefix);

// Every client has gone and the proxy has closed its sessions (their session_closed
// records are queued), as its /metrics gauge says; false if not within 20 s. SIGTERM
// before that would race the proxy's own handling of the clients' Terminate.
bool sessions_closed(const ProxyProcess& proxy);

// GET http://127.0.0.1:port/path over a plain socket; returns the body ("" on failure)
// and the status code in *status when given.
std::string http_get(int port, std::string_view path, int* status = nullptr);

}  // namespace pglc::test
