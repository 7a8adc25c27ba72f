#include "metrics/wake_listener.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

namespace pglc::metrics {

namespace {

struct Target {
  sockaddr_storage addr{};
  socklen_t len = 0;
};

// Where to connect for a civetweb listening address: "IP:port", "[IPv6]:port" or "port".
// Wildcard addresses are reached through loopback.
Target target_for(const std::string& listen, int port) {
  Target t;
  std::string host;
  if (!listen.empty() && listen.front() == '[') {
    host = listen.substr(1, listen.find(']') - 1);
  } else if (auto colon = listen.rfind(':'); colon != std::string::npos) {
    host = listen.substr(0, colon);
  }
  sockaddr_in6 v6{};
  if (!host.empty() && inet_pton(AF_INET6, host.c_str(), &v6.sin6_addr) == 1) {
    if (IN6_IS_ADDR_UNSPECIFIED(&v6.sin6_addr)) v6.sin6_addr = in6addr_loopback;
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(static_cast<std::uint16_t>(port));
    std::memcpy(&t.addr, &v6, sizeof v6);
    t.len = sizeof v6;
    return t;
  }
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  v4.sin_port = htons(static_cast<std::uint16_t>(port));
  if (host.empty() || inet_pton(AF_INET, host.c_str(), &v4.sin_addr) != 1 ||
      v4.sin_addr.s_addr == htonl(INADDR_ANY))
    v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::memcpy(&t.addr, &v4, sizeof v4);
  t.len = sizeof v4;
  return t;
}

void poke(const Target& t) {
  int fd = ::socket(t.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  (void)::connect(fd, reinterpret_cast<const sockaddr*>(&t.addr), t.len);
  ::close(fd);
}

}  // namespace

ListenerWaker::ListenerWaker(const std::string& listen, int port) {
  if (port <= 0) return;
  thread_ = std::thread([this, target = target_for(listen, port)] {
    while (!done_.load(std::memory_order_acquire)) {
      poke(target);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
}

ListenerWaker::~ListenerWaker() {
  done_.store(true, std::memory_order_release);
  if (thread_.joinable()) thread_.join();
}

}  // namespace pglc::metrics
