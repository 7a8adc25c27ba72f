// Child-process plumbing shared by the fixture pieces: spawn with fork/exec (only
// async-signal-safe calls between the two, since test processes are multi-threaded),
// wait with a deadline, switch to the `postgres` user when running as root.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace pglc::test::detail {

struct SpawnOptions {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // "KEY=VALUE" entries added to (or replacing) environ
  int stdin_fd = -1;             // -1: /dev/null
  int output_fd = -1;            // stdout and stderr; -1: /dev/null
  bool as_server_user = false;   // run as `postgres` when we are root (initdb refuses root)
  int parent_death_signal = 0;   // prctl(PR_SET_PDEATHSIG) in the child when non-zero
  bool new_session = false;      // setsid(): terminal signals do not reach the child
  std::string cwd;               // chdir in the child when non-empty
};

// Forks and execs (PATH lookup); exec failure makes the child exit with 127.
pid_t spawn(const SpawnOptions& options);

// Exit status of a finished child: its exit code, or 128 + signal when killed.
int decode_status(int wait_status);

// Non-blocking: true (and *status decoded) when `pid` has exited and was reaped.
bool reap(pid_t pid, int* status);

// Waits up to `timeout_ms`; returns the decoded status, or -1 if it is still running.
int wait_for(pid_t pid, int timeout_ms);

// `sig`, then wait up to `timeout_ms`, then SIGKILL and wait; returns the decoded status.
int stop_child(pid_t pid, int sig, int timeout_ms);

// True when the process runs as root and children that must not be root switch to the
// `postgres` account; uid/gid of that account.
struct ServerUser {
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
};
const ServerUser& server_user();

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& content, bool append = false);
std::string make_temp_dir(const std::string& prefix);  // mkdtemp under /tmp (or $TMPDIR)
void remove_tree(const std::string& path);
long long now_ms();  // monotonic

}  // namespace pglc::test::detail
