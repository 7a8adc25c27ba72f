#include "tests/support/cleanup.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <stdexcept>

#include "tests/support/process.hpp"

namespace pglc::test::cleanup {
namespace {

// Waits for EOF on stdin (the death pipe), then stops the postmaster and removes $1.
constexpr const char* kWatchdog = R"sh(
trap '' INT TERM HUP QUIT
cat >/dev/null
f="$1/data/postmaster.pid"
if [ -f "$f" ]; then
  pid=$(head -n 1 "$f")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -INT "$pid" 2>/dev/null
    i=0
    while [ $i -lt 150 ] && kill -0 "$pid" 2>/dev/null; do sleep 0.1; i=$((i+1)); done
    kill -KILL "$pid" 2>/dev/null
  fi
fi
[ -n "$PGLC_KEEP_TEST_SERVER" ] || rm -rf "$1"
)sh";

constexpr int kMaxChildren = 256;
std::atomic<pid_t> g_postmaster{0};
std::atomic<pid_t> g_children[kMaxChildren];
constexpr int kSignals[] = {SIGINT, SIGTERM, SIGABRT, SIGSEGV, SIGBUS, SIGFPE};
struct sigaction g_previous[NSIG];
std::atomic<bool> g_installed{false};

void on_fatal_signal(int sig) {
  // Only async-signal-safe calls: kill, sigaction, raise.
  pid_t pm = g_postmaster.load();
  if (pm > 0) kill(pm, SIGINT);  // fast shutdown; the watchdog removes the directory
  for (auto& child : g_children) {
    pid_t pid = child.load();
    if (pid > 0) kill(pid, SIGKILL);
  }
  sigaction(sig, &g_previous[sig], nullptr);
  raise(sig);
}

}  // namespace

void start_watchdog(const std::string& root) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  detail::SpawnOptions options;
  options.argv = {"/bin/sh", "-c", kWatchdog, "pglc-watchdog", root};
  options.stdin_fd = fds[0];
  options.new_session = true;
  detail::spawn(options);
  close(fds[0]);
  // fds[1] stays open, close-on-exec, for the life of this process; the watchdog is never
  // waited for: it outlives us by design (init reaps it).
}

void install_handlers() {
  if (g_installed.exchange(true)) return;
  for (int sig : kSignals) {
    struct sigaction current {};
    sigaction(sig, nullptr, &current);
    if (current.sa_handler == SIG_IGN) continue;  // the runner wants this one ignored
    struct sigaction action {};
    action.sa_handler = on_fatal_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_ONSTACK;
    sigaction(sig, &action, &g_previous[sig]);
  }
}

void set_postmaster(pid_t pid) {
  g_postmaster.store(pid);
}

void register_child(pid_t pid) {
  for (auto& child : g_children) {
    pid_t expected = 0;
    if (child.compare_exchange_strong(expected, pid)) return;
  }
}

void unregister_child(pid_t pid) {
  for (auto& child : g_children) {
    pid_t expected = pid;
    if (child.compare_exchange_strong(expected, 0)) return;
  }
}

}  // namespace pglc::test::cleanup
