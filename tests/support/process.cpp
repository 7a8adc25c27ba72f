#include "tests/support/process.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/pg_server.hpp"

extern char** environ;

namespace pglc::test::detail {
namespace {

std::string env_key(const std::string& entry) {
  return entry.substr(0, entry.find('='));
}

std::vector<std::string> merged_environment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string entry = *e;
    bool replaced = false;
    for (const auto& x : extra) replaced = replaced || env_key(x) == env_key(entry);
    if (!replaced) env.push_back(std::move(entry));
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

pid_t spawn(const SpawnOptions& options) {
  if (options.argv.empty()) throw std::invalid_argument("spawn: empty argv");
  // Everything the child needs is prepared here: after fork() in a multi-threaded
  // process only async-signal-safe calls are allowed (no malloc, no locks).
  std::vector<std::string> argv_storage = options.argv;
  std::vector<std::string> env_storage = merged_environment(options.env);
  std::vector<char*> argv = c_strings(argv_storage);
  std::vector<char*> envp = c_strings(env_storage);
  const ServerUser& user = server_user();
  const bool switch_user = options.as_server_user && user.switch_user;
  const char* cwd = options.cwd.empty() ? nullptr : options.cwd.c_str();
  const pid_t parent = getpid();

  // Closed by the child's exec (close-on-exec): EOF tells the parent the child now runs
  // the new program. Until then the child holds copies of all our descriptors, listening
  // sockets included, which must not be mistaken for the child's own.
  int exec_pipe[2];
  if (pipe2(exec_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");

  pid_t pid = fork();
  if (pid < 0) {
    close(exec_pipe[0]);
    close(exec_pipe[1]);
    throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  }
  if (pid > 0) {
    close(exec_pipe[1]);
    char byte;
    while (read(exec_pipe[0], &byte, 1) < 0 && errno == EINTR) {
    }
    close(exec_pipe[0]);
    return pid;
  }
  close(exec_pipe[0]);

  int devnull = open("/dev/null", O_RDWR);
  dup2(options.stdin_fd >= 0 ? options.stdin_fd : devnull, 0);
  dup2(options.output_fd >= 0 ? options.output_fd : devnull, 1);
  dup2(options.output_fd >= 0 ? options.output_fd : devnull, 2);
  if (devnull > 2) close(devnull);
  // Signals a test runner blocked or ignored must not leak into servers and clients.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT})
    sigaction(sig, &default_action, nullptr);
  if (options.new_session) setsid();
  if (switch_user) {
    if (setgroups(1, &user.gid) != 0 || setgid(user.gid) != 0 || setuid(user.uid) != 0) _exit(126);
  }
  // After setuid: changing credentials clears the parent-death signal.
  if (options.parent_death_signal != 0) {
    prctl(PR_SET_PDEATHSIG, options.parent_death_signal);
    if (getppid() != parent) _exit(125);  // the parent died before prctl took effect
  }
  if (cwd != nullptr && chdir(cwd) != 0) _exit(124);
  execvpe(argv[0], argv.data(), envp.data());
  char failed = 1;
  (void)!write(exec_pipe[1], &failed, 1);
  _exit(127);
}

int decode_status(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

bool reap(pid_t pid, int* status) {
  int raw = 0;
  pid_t r = waitpid(pid, &raw, WNOHANG);
  if (r == pid) {
    if (status != nullptr) *status = decode_status(raw);
    return true;
  }
  if (r < 0 && errno == ECHILD) {  // already reaped elsewhere
    if (status != nullptr) *status = -1;
    return true;
  }
  return false;
}

int wait_for(pid_t pid, int timeout_ms) {
  const long long deadline = now_ms() + timeout_ms;
  int status = -1;
  auto pause = std::chrono::milliseconds(1);
  while (!reap(pid, &status)) {
    if (now_ms() >= deadline) return -1;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(20));
  }
  return status;
}

int stop_child(pid_t pid, int sig, int timeout_ms) {
  kill(pid, sig);
  int status = wait_for(pid, timeout_ms);
  if (status != -1) return status;
  kill(pid, SIGKILL);
  return wait_for(pid, 60000);
}

const ServerUser& server_user() {
  static const ServerUser user = [] {
    ServerUser u;
    if (geteuid() != 0) return u;
    passwd* pw = getpwnam("postgres");
    if (pw == nullptr) throw std::runtime_error("running as root but there is no `postgres` user");
    u.switch_user = true;
    u.uid = pw->pw_uid;
    u.gid = pw->pw_gid;
    return u;
  }();
  return user;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const std::string& path, const std::string& content, bool append) {
  std::ofstream out(path, std::ios::binary | (append ? std::ios::app : std::ios::trunc));
  out << content;
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::string make_temp_dir(const std::string& prefix) {
  // As root the server runs as `postgres`, which must be able to traverse the parents.
  const char* tmp = std::getenv("TMPDIR");
  std::string base = (geteuid() != 0 && tmp != nullptr && *tmp != '\0') ? tmp : "/tmp";
  std::string templ = base + "/" + prefix + "XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) {
    throw std::runtime_error("mkdtemp " + templ + ": " + std::strerror(errno));
  }
  return templ;
}

void remove_tree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

long long now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace pglc::test::detail

namespace pglc::test {

int run(const std::vector<std::string>& argv, std::string* out,
        const std::vector<std::string>& env) {
  return run(argv, out, env, 120000);
}

int run(const std::vector<std::string>& argv, std::string* out, const std::vector<std::string>& env,
        int timeout_ms) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  detail::SpawnOptions options;
  options.argv = argv;
  options.env = env;
  options.output_fd = fds[1];
  options.parent_death_signal = SIGKILL;
  pid_t pid;
  try {
    pid = detail::spawn(options);
  } catch (...) {
    close(fds[0]);
    close(fds[1]);
    throw;
  }
  close(fds[1]);
  std::string captured;
  const long long deadline = detail::now_ms() + timeout_ms;
  bool timed_out = false;
  char buf[65536];
  for (;;) {
    long long left = deadline - detail::now_ms();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000)));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    captured.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  int status;
  if (timed_out) {
    detail::stop_child(pid, SIGKILL, 10000);
    captured += "\n[pglc test: killed after " + std::to_string(timeout_ms) + " ms]\n";
    status = -1;
  } else {
    status = detail::wait_for(pid, timeout_ms);
    if (status == -1) detail::stop_child(pid, SIGKILL, 10000);
  }
  if (out != nullptr) *out = std::move(captured);
  return status;
}

}  // namespace pglc::test
