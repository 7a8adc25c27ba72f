// civetweb 1.15 polls its listening sockets with a 2 s timeout and only notices mg_stop()
// when that poll returns, so stopping an exposer that has served a request takes 2 s.
// Connecting to the listener wakes the poll; ListenerWaker does so until it is destroyed.
#pragma once

#include <atomic>
#include <string>
#include <thread>

namespace pglc::metrics {

class ListenerWaker {
 public:
  // `listen` is the civetweb address the exposer was bound with; `port` the bound port.
  ListenerWaker(const std::string& listen, int port);
  ~ListenerWaker();
  ListenerWaker(const ListenerWaker&) = delete;
  ListenerWaker& operator=(const ListenerWaker&) = delete;

 private:
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace pglc::metrics
