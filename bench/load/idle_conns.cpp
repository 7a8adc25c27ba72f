// Opens N client connections and keeps them idle until SIGTERM/SIGINT, so bench/run.sh can
// read the proxy's RSS with N idle sessions. Prints "ready ok=N failed=M" once all attempts
// are done, then "closed" after the signal.
//
//   idle_conns CONNINFO N [THREADS=8]
#include <libpq-fe.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s CONNINFO N [THREADS=8]\n", argv[0]);
    return 2;
  }
  const std::string conninfo = argv[1];
  const int n = std::atoi(argv[2]);
  const int nthreads = argc > 3 ? std::atoi(argv[3]) : 8;

  // Block the stop signals before spawning threads so only sigwait() sees them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  std::vector<PGconn*> conns(static_cast<std::size_t>(n), nullptr);
  std::atomic<int> next{0}, failed{0};
  std::mutex err_mu;
  std::string first_error;
  std::vector<std::thread> threads;
  for (int t = 0; t < nthreads; ++t) {
    threads.emplace_back([&] {
      for (int i; (i = next.fetch_add(1)) < n;) {
        PGconn* c = PQconnectdb(conninfo.c_str());
        if (PQstatus(c) != CONNECTION_OK) {
          ++failed;
          std::lock_guard lock(err_mu);
          if (first_error.empty()) first_error = PQerrorMessage(c);
          PQfinish(c);
          continue;
        }
        conns[static_cast<std::size_t>(i)] = c;
      }
    });
  }
  for (auto& t : threads) t.join();
  if (!first_error.empty()) std::fprintf(stderr, "idle_conns: %s", first_error.c_str());
  std::printf("ready ok=%d failed=%d\n", n - failed.load(), failed.load());
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop, &sig);
  for (PGconn* c : conns) {
    if (c) PQfinish(c);
  }
  std::printf("closed\n");
  return failed.load() == 0 ? 0 : 1;
}
