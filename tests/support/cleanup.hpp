// Guards against leaked servers: a test process may crash, abort, be interrupted or be
// SIGKILLed by a runner's timeout, and must still not leave a postmaster or proxy behind.
//  * atexit (PgServer) stops the server cleanly on a normal exit;
//  * signal handlers (SIGINT, SIGTERM, SIGABRT, SIGSEGV, SIGBUS, SIGFPE) kill the children
//    and chain to the previous handler;
//  * a watchdog shell in its own session blocks on a pipe that only this process holds;
//    when the pipe closes (however we died) it stops the postmaster named in
//    postmaster.pid (SIGINT, then SIGKILL) and removes the fixture directory;
//  * proxies get PR_SET_PDEATHSIG(SIGKILL).
#pragma once

#include <sys/types.h>

#include <string>

namespace pglc::test::cleanup {

void start_watchdog(const std::string& root);
void install_handlers();
void set_postmaster(pid_t pid);  // 0: none running
void register_child(pid_t pid);  // killed by the signal handlers
void unregister_child(pid_t pid);

}  // namespace pglc::test::cleanup
