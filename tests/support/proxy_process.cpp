#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/cleanup.hpp"
#include "tests/support/kept_logs.hpp"
#include "tests/support/pg_server.hpp"
#include "tests/support/process.hpp"

#ifndef PGLC_PROXY_BINARY
#define PGLC_PROXY_BINARY "pglifecycle"
#endif

namespace pglc::test {
namespace {

// Under ASan on a loaded 2-core machine the proxy can take seconds to start.
constexpr int kStartTimeoutMs = 30000;
constexpr int kMetricsSoftWaitMs = 5000;

// Value of --name in args ("--name value" or "--name=value"); nullptr when absent.
const std::string* find_option(const std::vector<std::string>& args, const std::string& name,
                               std::string* storage) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == name && i + 1 < args.size()) return &args[i + 1];
    if (args[i].rfind(name + "=", 0) == 0) {
      *storage = args[i].substr(name.size() + 1);
      return storage;
    }
  }
  return nullptr;
}

int port_of(const std::string& address) {
  size_t colon = address.rfind(':');
  return colon == std::string::npos ? 0 : std::atoi(address.c_str() + colon + 1);
}

std::string quote(std::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

// Socket inodes of the sockets in LISTEN state on `port` (IPv4 and IPv6).
std::vector<std::string> listening_inodes(int port) {
  std::vector<std::string> inodes;
  char hex_port[8];
  std::snprintf(hex_port, sizeof hex_port, ":%04X", port);
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::istringstream in(detail::read_file(table));
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
      fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
          timeout >> inode;
      if (state == "0A" && local.size() > 5 && local.compare(local.size() - 5, 5, hex_port) == 0) {
        inodes.push_back("socket:[" + inode + "]");
      }
    }
  }
  return inodes;
}

// True when `pid` itself holds a listening socket on `port`: a connect alone could reach
// another process that took the port the proxy failed to bind.
bool process_listens_on(int pid, int port) {
  std::vector<std::string> inodes = listening_inodes(port);
  if (inodes.empty()) return false;
  std::error_code ec;
  for (const auto& entry :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    std::string target = std::filesystem::read_symlink(entry.path(), ec).string();
    if (ec) continue;
    for (const auto& inode : inodes) {
      if (target == inode) return true;
    }
  }
  return false;
}

}  // namespace

std::string proxy_binary() {
  const char* env = std::getenv("PGLC_PROXY_BINARY");
  return env != nullptr && *env != '\0' ? env : PGLC_PROXY_BINARY;
}

ProxyProcess::ProxyProcess(std::vector<std::string> args, std::vector<std::string> env) {
  std::string storage;
  const bool own_listen = find_option(args, "--listen", &storage) == nullptr;
  const bool own_metrics = find_option(args, "--metrics-listen", &storage) == nullptr;
  const bool own_backend = find_option(args, "--backend", &storage) == nullptr;
  const bool own_storage = find_option(args, "--storage", &storage) == nullptr;
  if (own_backend) args.insert(args.begin(), {"--backend", PgServer::shared().address()});
  if (own_storage) args.insert(args.begin(), {"--storage", "none"});

  dir_ = detail::make_temp_dir("pglc-proxy-");
  log_path_ = dir_ + "/proxy.log";
  // Ports we chose can be taken by another process before the proxy binds them: retry.
  for (int attempt = 0;; ++attempt) {
    std::vector<std::string> argv = {proxy_binary()};
    if (own_listen) {
      port_ = free_port();
      argv.insert(argv.end(), {"--listen", "127.0.0.1:" + std::to_string(port_)});
    } else {
      port_ = port_of(*find_option(args, "--listen", &storage));
    }
    if (own_metrics) {
      metrics_port_ = free_port();
      argv.insert(argv.end(), {"--metrics-listen", "127.0.0.1:" + std::to_string(metrics_port_)});
    } else {
      metrics_port_ = port_of(*find_option(args, "--metrics-listen", &storage));
    }
    argv.insert(argv.end(), args.begin(), args.end());

    int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) throw std::runtime_error("cannot open " + log_path_);
    std::string command = "$";
    for (const auto& a : argv) command += " " + a;
    detail::write_file(log_path_, command + "\n", true);
    detail::SpawnOptions options;
    options.argv = argv;
    options.env = env;
    options.output_fd = fd;
    options.parent_death_signal = SIGKILL;
    options.cwd = dir_;  // a relative sqlite: path lands in the temp dir
    pid_ = detail::spawn(options);
    ::close(fd);
    cleanup::register_child(pid_);

    // Ready: the proxy itself listens on its port and, when metrics are on, on the
    // metrics port too (or it had kMetricsSoftWaitMs more to open it: the metrics tests
    // fail clearly on their own if it never does).
    const long long deadline = detail::now_ms() + kStartTimeoutMs;
    long long metrics_deadline = 0;
    auto pause = std::chrono::milliseconds(2);
    bool ready = false;
    bool exited = false;
    int status = 0;
    for (;;) {
      if (detail::reap(pid_, &status)) {
        exited = true;
        break;
      }
      const long long now = detail::now_ms();
      if (metrics_deadline == 0 && process_listens_on(pid_, port_) && can_connect(port_)) {
        metrics_deadline = now + kMetricsSoftWaitMs;
      }
      if (metrics_deadline != 0 && (metrics_port_ == 0 || now > metrics_deadline ||
                                    process_listens_on(pid_, metrics_port_))) {
        ready = true;
        break;
      }
      if (now > deadline) break;
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::milliseconds(50));
    }
    if (ready) break;
    if (!exited) detail::stop_child(pid_, SIGKILL, 5000);
    cleanup::unregister_child(pid_);
    pid_ = 0;
    std::string output = log();
    const bool bind_failed = output.find("in use") != std::string::npos ||
                             output.find("binding to port") != std::string::npos;
    if (exited && attempt < 3 && (own_listen || own_metrics) && bind_failed) {
      continue;
    }
    detail::remove_tree(dir_);
    throw std::runtime_error(
        std::string(exited ? "proxy exited (status " + std::to_string(status) + ")"
                           : "proxy did not accept connections within 30 s") +
        "; log:\n" + output);
  }
}

ProxyProcess::~ProxyProcess() {
  const bool still_running = pid_ > 0;
  if (pid_ > 0) {
    detail::stop_child(pid_, SIGKILL, 10000);
    cleanup::unregister_child(pid_);
  }
  if (!log_path_.empty()) {
    keep_log("log of the proxy on port " + std::to_string(port_) +
                 (still_running ? " (killed at the end of the test)" : ""),
             log());
  }
  if (!dir_.empty() && std::getenv("PGLC_KEEP_TEST_SERVER") == nullptr) detail::remove_tree(dir_);
}

std::string ProxyProcess::conninfo(std::string_view db, std::string_view user,
                                   std::string_view password, std::string_view extra) const {
  std::string s = "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=" + quote(db) +
                  " user=" + quote(user) + " password=" + quote(password) + " connect_timeout=10";
  if (!extra.empty()) s += " " + std::string(extra);
  return s;
}

std::string ProxyProcess::log() const {
  return detail::read_file(log_path_);
}

int ProxyProcess::terminate(int timeout_ms) {
  if (pid_ <= 0) return exit_status_;
  ::kill(pid_, SIGTERM);
  int status = detail::wait_for(pid_, timeout_ms);
  if (status == -1) detail::stop_child(pid_, SIGKILL, 10000);
  cleanup::unregister_child(pid_);
  pid_ = 0;
  exit_status_ = status;
  return status;
}

int ProxyProcess::send_signal(int sig) const {
  return pid_ > 0 ? ::kill(pid_, sig) : -1;
}

bool ProxyProcess::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (detail::reap(pid_, &status)) {
    cleanup::unregister_child(pid_);
    pid_ = 0;
    exit_status_ = status;
    return false;
  }
  return true;
}

}  // namespace pglc::test
